import type { AssignmentOutcome, FleetNode } from "../processes/deployment-process.js";
import { NODE_OUTCOMES, NODES, type NodeDoc, type OutcomeDoc } from "../projections/nodes.js";
import type { ReadStore } from "../projections/store/port.js";
import { own } from "../platform/own-keys.js";
import type { MetricSample } from "../strategies/health-analysis.js";
import type { Environment } from "../strategies/settings.js";
import { telemetryOf } from "./telemetry.js";

export type { AssignmentOutcome, FleetNode, MetricSample };

/** A node as the deployment process sees it: its version of this module only. */
export function fleetNodeOf(d: Pick<NodeDoc, "nodeId" | "status" | "modules" | "color">, moduleName: string): FleetNode {
  return {
    nodeId: d.nodeId,
    status: d.status,
    // a module named "constructor" must find the node's entry, not Object's
    version: own(d.modules, moduleName) ?? null,
    ...(d.color ? { color: d.color } : {}),
  };
}

/**
 * What the deployment runner needs to know about one environment's fleet for one module: every
 * registered node (deregistered ones are gone from the read model) with its version of the module,
 * the recorded outcomes of assignments for that module, and metric samples since `samplesSince`.
 */
export async function fleetView(
  readStore: ReadStore,
  environment: string,
  moduleName: string,
  samplesSince: number,
): Promise<{ nodes: FleetNode[]; outcomes: AssignmentOutcome[]; samples: MetricSample[] }> {
  const docs = await readStore.collection<NodeDoc>(NODES).find({ environment }, { sort: { nodeId: 1 } });
  const nodes = docs.map((d) => fleetNodeOf(d, moduleName));
  const ids = docs.map((d) => d.nodeId);
  const known = new Set(ids);
  // filtered here rather than with $in: mingo intersects the whole id list for every document
  const outcomeDocs = ids.length
    ? (await readStore.collection<OutcomeDoc>(NODE_OUTCOMES).find({ moduleName }, { sort: { at: 1 } })).filter((o) => known.has(o.nodeId))
    : [];
  const outcomes: AssignmentOutcome[] = outcomeDocs.map((o) => ({
    assignmentId: o.assignmentId,
    nodeId: o.nodeId,
    outcome: o.outcome,
    durationMs: o.durationMs,
    ...(o.error !== undefined ? { error: o.error } : {}),
  }));
  // grouped by node, in time order per node: all the analysis needs (it judges each node's own samples)
  const samples = (await telemetryOf(readStore).samplesSince(environment as Environment, samplesSince)).filter((s) => known.has(s.nodeId));
  return { nodes, outcomes, samples };
}
