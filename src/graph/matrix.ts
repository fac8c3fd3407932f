// "What runs where": module x environment -> versions and node counts, now or at any position.
import { semverOrder } from "./impact.js";
import { byString } from "./model.js";
import { NOW, type GraphReader, type RunsVisitor } from "./reader.js";

export interface MatrixCell {
  environment: string;
  nodes: number;
  versions: { version: string; nodes: number }[];
}

export interface MatrixRow {
  module: string;
  environments: MatrixCell[];
}


/** module -> environment -> version -> nodes, counted as runs are met (no list of triples first) */
type Counts = Map<string, Map<string, Map<string, number>>>;

function count(rows: Counts, module: string, environment: string, version: string): void {
  let row = rows.get(module);
  if (!row) rows.set(module, (row = new Map()));
  let cell = row.get(environment);
  if (!cell) row.set(environment, (cell = new Map()));
  cell.set(version, (cell.get(version) ?? 0) + 1);
}

/** the counts as rows, modules and environments in order */
function tabulate(rows: Counts): MatrixRow[] {
  return [...rows]
    .sort(([a], [b]) => byString(a, b))
    .map(([module, envs]) => ({
      module,
      environments: [...envs]
        .sort(([a], [b]) => byString(a, b))
        .map(([environment, versions]) => ({
          environment,
          nodes: [...versions.values()].reduce((n, c) => n + c, 0),
          versions: [...versions].sort(([a], [b]) => semverOrder(a, b)).map(([version, nodes]) => ({ version, nodes })),
        })),
    }));
}

export async function matrix(reader: GraphReader, at: number, filter: { module?: string; environment?: string } = {}): Promise<MatrixRow[]> {
  const keep = (module: string, environment: string) => (!filter.module || module === filter.module) && (!filter.environment || environment === filter.environment);
  const rows: Counts = new Map();
  if (at === NOW) {
    // now: one document per node says where it is and what it runs
    for (const node of await reader.nodeModuleDocs()) {
      const environment = node.registeredIn;
      if (environment === null) continue;
      const modules = node.modules;
      for (let i = 0; i < modules.length; i += 2) if (keep(modules[i]!, environment)) count(rows, modules[i]!, environment, modules[i + 1]!);
    }
  } else {
    // the past: every (node, module) slot's interval that held then, counted where it is met
    const visit: RunsVisitor = (slot, interval, epoch) => {
      if (keep(slot.module, epoch.environment)) count(rows, slot.module, epoch.environment, interval.version);
    };
    if (filter.module) await reader.eachRunOf(filter.module, { at }, undefined, visit);
    else await reader.eachRun({ at }, visit);
  }
  return tabulate(rows);
}
