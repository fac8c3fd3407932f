// Module dependencies judged again when a wave starts (issue 14: "by the time its wave starts").
// A request is judged against what the nodes ran when it was made; a canary waiting between waves,
// a queued or paused deployment may start a wave long after, when another deployment or rollback
// has changed what the wave's nodes run. Pure: the runner reads the facts (src/graph/dependencies.ts,
// waveDependencyFacts) and the deployment process (advance) decides.
import semver from "semver";
import { own } from "../platform/own-keys.js";

/** `version` lets the range in (pre-releases admitted: `>=1.0.0` lets `2.0.0-faulty.1` in). */
export const satisfies = (version: string | null | undefined, range: string): boolean =>
  typeof version === "string" && semver.valid(version) !== null && semver.validRange(range) !== null && semver.satisfies(version, range, { includePrerelease: true });

/** What the runner read for one wave about to start. */
export interface WaveDependencies {
  wave: number;
  /** what the version being installed needs: its registration's declaration, or its request's */
  needs: { name: string; range: string }[];
  /** module versions declaring a dependency on the module being installed, with their range */
  dependents: { module: string; version: string; range: string }[];
  /**
   * The dependents an Admin forced past when the deployment was requested (its recorded
   * dependencyOverride): still accepted at wave start. One that appeared since was never seen by
   * the Admin, so it is judged like any other.
   */
  forced: { nodeId: string; module: string; version: string }[];
  /** what each of the wave's nodes runs now (the nodes read model); a node it no longer knows is left out */
  nodes: { nodeId: string; modules: Record<string, string> }[];
}

/** A dependency of the version being installed that a node of the wave does not satisfy. */
export interface UnsatisfiedOnNode {
  nodeId: string;
  module: string;
  range: string;
  /** what the node runs of it (null: nothing) */
  running: string | null;
}

/** A module running on a node of the wave that the new version would leave without what it needs. */
export interface BrokenOnNode {
  nodeId: string;
  module: string;
  version: string;
  range: string;
}

export interface WaveVerdict {
  unsatisfied: UnsatisfiedOnNode[];
  broken: BrokenOnNode[];
}

/**
 * The same two rules as a request's (judgeDeployment), on the wave's nodes now: every dependency of
 * `moduleName@version` satisfied on each node, and no module running there that depends on
 * `moduleName` left unsatisfied by `version` (unless it is one an Admin forced past).
 */
export function judgeWave(moduleName: string, version: string, facts: WaveDependencies): WaveVerdict {
  const unsatisfied: UnsatisfiedOnNode[] = [];
  const broken: BrokenOnNode[] = [];
  const needs = facts.needs.filter((d) => d.name !== moduleName);
  const forced = new Set(facts.forced.map((f) => `${f.nodeId}\n${f.module}\n${f.version}`));
  for (const n of facts.nodes) {
    for (const d of needs) {
      const running = own(n.modules, d.name) ?? null;
      if (!satisfies(running, d.range)) unsatisfied.push({ nodeId: n.nodeId, module: d.name, range: d.range, running });
    }
    const current = own(n.modules, moduleName);
    for (const d of facts.dependents) {
      if (d.module === moduleName || own(n.modules, d.module) !== d.version) continue;
      // only what this install breaks: a module already unsatisfied is not this deployment's doing
      if (!satisfies(current, d.range) || satisfies(version, d.range)) continue;
      if (!forced.has(`${n.nodeId}\n${d.module}\n${d.version}`)) broken.push({ nodeId: n.nodeId, module: d.module, version: d.version, range: d.range });
    }
  }
  return { unsatisfied, broken };
}

/** One sentence naming each node, module and range, as a request's 422 and 409 do. */
export function describeWaveVerdict(moduleName: string, version: string, wave: number, v: WaveVerdict): string {
  const say = [
    ...v.unsatisfied.map((u) => `node ${u.nodeId} runs ${u.running === null ? `no ${u.module}` : `${u.module} ${u.running}`}, ${moduleName}@${version} needs ${u.module} ${u.range}`),
    ...v.broken.map((b) => `${b.module}@${b.version} on node ${b.nodeId} needs ${moduleName} ${b.range}`),
  ];
  const list = say.slice(0, 20).join("; ") + (say.length > 20 ? `; and ${say.length - 20} more` : "");
  return `dependencies not satisfied when wave ${wave + 1} was to start: ${list}`;
}
