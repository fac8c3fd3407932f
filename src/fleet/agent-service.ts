import { createHash, timingSafeEqual } from "node:crypto";
import { fold } from "../commands/decider.js";
import { DomainError, notFound } from "../commands/errors.js";
import { handleCommand, type CommandContext } from "../commands/handler.js";
import { nodeDecider, type NodeState } from "../commands/node.js";
import type { Capacity, NodeEvent, NodeStatus } from "../events/catalog/node.js";
import type { EventLog } from "../events/event-log.js";
import { streams } from "../events/streams.js";
import { DESIRED_STATE, type DesiredAssignment, type DesiredStateDoc } from "../projections/desired-state.js";
import { NODES, type NodeDoc } from "../projections/nodes.js";
import type { ReadStore } from "../projections/store/port.js";
import type { Environment } from "../strategies/settings.js";
import { matchEnvironment, nodeIdFor } from "./environments.js";
import { LIVENESS, recordHeartbeat, recordSignOfLife, type HeartbeatMetrics } from "./telemetry.js";

/** The slice of AppDeps the agent protocol needs. */
export interface FleetDeps {
  log: EventLog;
  readStore: ReadStore;
}

export function joinTokenMatches(given: string, expected: string): boolean {
  const h = (s: string) => createHash("sha256").update(s).digest();
  return timingSafeEqual(h(given), h(expected));
}

export function environmentOrThrow(raw: string): Environment {
  const env = matchEnvironment(raw);
  if (!env) throw new DomainError("not_found", `no cluster for environment "${raw}" (expected Development, QA, Staging or Production)`);
  return env;
}

export interface RegisterInput {
  environment: Environment;
  hostname: string;
  capacity: Capacity;
  labels: Record<string, string>;
  modules: Record<string, string>;
}

/** Registers a node, or finds the one already registered for this hostname in this cluster. */
export async function registerNode(deps: FleetDeps, input: RegisterInput, ctx: CommandContext) {
  const nodeId = nodeIdFor(input.environment, input.hostname);
  const r = await handleCommand(deps.log, streams.node(nodeId), nodeDecider, { type: "RegisterNode", nodeId, ...input, now: ctx.now }, ctx);
  const created = r.events.some((e) => e.type === "NodeRegistered");
  await recordSignOfLife(deps.readStore, nodeId, input.environment, ctx.now);
  return { nodeId, created, position: r.position, state: r.state };
}

interface KnownNode {
  nodeId: string;
  environment: Environment;
  status: NodeStatus;
}

/**
 * The node as the read model knows it; a node not there yet (just registered, read model behind)
 * or not any more (deregistered) is looked up in its stream, which says which it is.
 */
export async function knownNode(deps: FleetDeps, nodeId: string): Promise<KnownNode> {
  const doc = await deps.readStore.collection<NodeDoc>(NODES).get(nodeId);
  if (doc) return { nodeId, environment: doc.environment, status: doc.status };
  const state = await loadNode(deps.log, nodeId);
  if (!state.exists) throw notFound(`node ${nodeId}`);
  if (state.deregistered) throw new DomainError("conflict", `node ${nodeId} is deregistered; register it again`);
  return { nodeId, environment: state.environment!, status: state.status };
}

export async function loadNode(log: EventLog, nodeId: string): Promise<NodeState> {
  return fold(nodeDecider, (await log.readStream(streams.node(nodeId))) as unknown as NodeEvent[]);
}

function checkCluster(node: KnownNode, claimed: string | undefined): void {
  if (claimed === undefined) return;
  if (matchEnvironment(claimed) !== node.environment) {
    throw new DomainError("conflict", `node ${node.nodeId} belongs to the ${node.environment} cluster, not "${claimed}"`, {
      environment: node.environment,
    });
  }
}

export interface HeartbeatInput {
  environment?: string;
  metrics: HeartbeatMetrics;
  modules?: Record<string, string>;
}

/** Stores the heartbeat as telemetry; an Unhealthy or Offline node recovers (an event). */
export async function acceptHeartbeat(deps: FleetDeps, nodeId: string, input: HeartbeatInput, now: number, context: () => CommandContext) {
  const node = await knownNode(deps, nodeId);
  checkCluster(node, input.environment);
  const heartbeat = { nodeId, environment: node.environment, at: now, metrics: input.metrics, modules: input.modules ?? null };
  await recordHeartbeat(deps.readStore, heartbeat);
  let status = node.status;
  let position: number | undefined;
  if (status !== "Healthy") {
    // the request's full context is built only when there is an event to write: heartbeats are the hot path
    const r = await handleCommand(deps.log, streams.node(nodeId), nodeDecider, { type: "RecordSignOfLife", now }, { ...context(), now });
    status = r.state.status;
    position = r.position;
  }
  return { status, position, heartbeat };
}

export async function desiredStateOf(readStore: ReadStore, nodeId: string) {
  const doc = await readStore.collection<DesiredStateDoc>(DESIRED_STATE).get(nodeId);
  return desiredStateView(nodeId, doc);
}

export function desiredStateView(nodeId: string, doc: DesiredStateDoc | null) {
  const assignments = Object.values(doc?.assignments ?? {}).sort((a, b) => (a.moduleName < b.moduleName ? -1 : 1));
  return { nodeId, version: String(doc?.lastPosition ?? 0), assignments };
}

export interface ReportInput {
  environment?: string;
  assignmentId: string;
  outcome: "succeeded" | "failed";
  durationMs: number;
  error?: string;
}

/** Records the outcome of the node's current assignment of a module; anything else is refused. */
export async function reportOutcome(deps: FleetDeps, nodeId: string, input: ReportInput, ctx: CommandContext) {
  const node = await knownNode(deps, nodeId);
  checkCluster(node, input.environment);
  const doc = await deps.readStore.collection<DesiredStateDoc>(DESIRED_STATE).get(nodeId);
  const assignment: DesiredAssignment | undefined = Object.values(doc?.assignments ?? {}).find((a) => a.assignmentId === input.assignmentId);
  if (!assignment) {
    if (doc?.superseded.includes(input.assignmentId)) {
      throw new DomainError("conflict", `assignment ${input.assignmentId} is stale: a newer assignment replaced it`, { assignmentId: input.assignmentId });
    }
    throw new DomainError("not_found", `assignment ${input.assignmentId} is unknown for node ${nodeId}`, { assignmentId: input.assignmentId });
  }
  const r = await handleCommand(
    deps.log,
    streams.node(nodeId),
    nodeDecider,
    { type: "ReportOutcome", assignment, outcome: input.outcome, durationMs: input.durationMs, error: input.error, now: ctx.now },
    ctx,
  );
  return { assignment, position: r.position, recorded: r.events.length > 0, modules: r.state.modules };
}

export async function deregisterNode(deps: FleetDeps, nodeId: string, reason: string, ctx: CommandContext) {
  const r = await handleCommand(deps.log, streams.node(nodeId), nodeDecider, { type: "DeregisterNode", reason, now: ctx.now }, ctx);
  await deps.readStore.collection(LIVENESS).delete(nodeId);
  return { position: r.position };
}
