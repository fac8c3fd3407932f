// "What runs where": module x environment -> versions and node counts, now or at any position.
import semver from "semver";
import { NOW, type GraphReader } from "./reader.js";

export interface MatrixCell {
  environment: string;
  nodes: number;
  versions: { version: string; nodes: number }[];
}

export interface MatrixRow {
  module: string;
  environments: MatrixCell[];
}

const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const byVersion = (a: string, b: string) => {
  const va = semver.valid(a);
  const vb = semver.valid(b);
  return va && vb ? semver.compare(va, vb) : byString(a, b);
};

/** (module, environment, version) triples counted into rows, modules and environments in order */
function tabulate(triples: Iterable<[string, string, string]>): MatrixRow[] {
  const rows = new Map<string, Map<string, Map<string, number>>>();
  for (const [module, environment, version] of triples) {
    let row = rows.get(module);
    if (!row) rows.set(module, (row = new Map()));
    let cell = row.get(environment);
    if (!cell) row.set(environment, (cell = new Map()));
    cell.set(version, (cell.get(version) ?? 0) + 1);
  }
  return [...rows]
    .sort(([a], [b]) => byString(a, b))
    .map(([module, envs]) => ({
      module,
      environments: [...envs]
        .sort(([a], [b]) => byString(a, b))
        .map(([environment, versions]) => ({
          environment,
          nodes: [...versions.values()].reduce((n, c) => n + c, 0),
          versions: [...versions].sort(([a], [b]) => byVersion(a, b)).map(([version, nodes]) => ({ version, nodes })),
        })),
    }));
}

export async function matrix(reader: GraphReader, at: number, filter: { module?: string; environment?: string } = {}): Promise<MatrixRow[]> {
  const keep = (module: string, environment: string) => (!filter.module || module === filter.module) && (!filter.environment || environment === filter.environment);
  const triples: [string, string, string][] = [];
  if (at === NOW) {
    // now: one document per node says where it is and what it runs
    for (const node of await reader.nodeModules()) {
      const environment = node.registeredIn;
      if (environment === null) continue;
      for (const [module, version] of Object.entries(node.modules)) if (keep(module, environment)) triples.push([module, environment, version]);
    }
  } else {
    const runs = filter.module ? await reader.runsOf(filter.module, { at }) : await reader.allRuns({ at });
    for (const e of runs) {
      const module = String(e.props.module);
      const environment = String(e.props.environment);
      if (keep(module, environment)) triples.push([module, environment, String(e.props.version)]);
    }
  }
  return tabulate(triples);
}
