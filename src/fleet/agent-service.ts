import { loadAggregate } from "../commands/aggregate-cache.js";
import { DomainError, notFound } from "../commands/errors.js";
import { handleCommand, type CommandContext } from "../commands/handler.js";
import { nodeDecider, type NodeState } from "../commands/node.js";
import type { Capacity, NodeStatus } from "../events/catalog/node.js";
import type { EventLog } from "../events/event-log.js";
import type { Coordination } from "../platform/coordination/port.js";
import { streamPrefixes, streams } from "../events/streams.js";
import { DESIRED_STATE, type DesiredAssignment, type DesiredStateDoc } from "../projections/desired-state.js";
import { NODES, type NodeDoc } from "../projections/nodes.js";
import type { ReadStore } from "../projections/store/port.js";
import type { Environment } from "../strategies/settings.js";
import { matchEnvironment, nodeIdFor } from "./environments.js";
import { hashNodeSecret, newNodeSecret } from "./node-credentials.js";
import type { LiveFeed } from "../events/live-feed.js";
import type { ReadModelProgress } from "../projections/progress.js";
import type { Config } from "../platform/config.js";
import { recordSignOfLife, telemetryOf, type Heartbeat, type HeartbeatMetrics } from "./telemetry.js";

/** The slice of AppDeps the agent protocol needs. */
export interface FleetDeps {
  log: EventLog;
  readStore: ReadStore;
  /** the agent routes' cache of what heartbeats need of each node (absent: the read model every time) */
  nodes?: NodeCache;
}

/** What agents are told to keep to: a third of the silence that makes a node Unhealthy. */
export function heartbeatIntervalMs(config: Pick<Config, "heartbeat">): number {
  return Math.max(250, Math.floor(config.heartbeat.unhealthyAfterMs / 3));
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

/** What a registering agent presented to show it is the node: its secret, or a valid token of the node. */
export interface RegistrationProof {
  nodeSecret?: string;
  /** the node's id and credential generation from a verified Node token, if one came with the request */
  token?: { nodeId: string; generation: number };
}

/**
 * Registers a node, or finds the one already registered for this hostname in this cluster; a node
 * that holds a credential only for a caller that proves it is that node (409 otherwise). The
 * answer carries `nodeSecret` only when this registration issued the node its credential.
 */
export async function registerNode(deps: FleetDeps, input: RegisterInput, proof: RegistrationProof, ctx: CommandContext) {
  const nodeId = nodeIdFor(input.environment, input.hostname);
  const fresh = newNodeSecret();
  const presented = {
    ...(proof.nodeSecret !== undefined && { secretHash: hashNodeSecret(proof.nodeSecret) }),
    ...(proof.token?.nodeId === nodeId && { tokenGeneration: proof.token.generation }),
  };
  const r = await handleCommand(
    deps.log,
    streams.node(nodeId),
    nodeDecider,
    { type: "RegisterNode", nodeId, ...input, proof: presented, newSecretHash: fresh.hash, now: ctx.now },
    ctx,
  );
  const created = r.events.some((e) => e.type === "NodeRegistered");
  // a replayed (Idempotency-Key) registration found another attempt's secret: that one cannot be shown again
  const issued = r.events.some((e) => e.type === "NodeCredentialIssued" && (e.data as { secretHash: string }).secretHash === fresh.hash);
  await recordSignOfLife(deps.readStore, nodeId, input.environment, ctx.now);
  return { nodeId, created, position: r.position, state: r.state, ...(issued && { nodeSecret: fresh.secret }) };
}

/** An Admin revokes the node's secret and tokens; the next registration with the join token claims it. */
export async function resetNodeCredential(deps: FleetDeps, nodeId: string, ctx: CommandContext) {
  const r = await handleCommand(deps.log, streams.node(nodeId), nodeDecider, { type: "ResetCredential", now: ctx.now }, ctx);
  return { position: r.position, generation: r.state.credential.generation };
}

/**
 * Whether a Node token is of its node's current credential generation. Tokens from before tokens
 * carried a generation count as generation 0, which only a node registered before credentials
 * existed still has. The read model answers the common case; when it disagrees (a claim it has not
 * applied yet, or a revoked token) the node's stream decides. An unknown or deregistered node is
 * left to the route, which answers 404 or 409.
 */
export async function nodeTokenIsCurrent(deps: FleetDeps, nodeId: string, tokenGeneration: number | undefined): Promise<boolean> {
  const ver = tokenGeneration ?? 0;
  if (deps.nodes?.get(nodeId)?.credentialGeneration === ver) return true;
  const doc = await deps.nodes?.read(nodeId) ?? (await deps.readStore.collection<NodeDoc>(NODES).get(nodeId));
  if (doc && doc.credentialGeneration === ver) return true;
  const state = await loadNode(deps.log, nodeId);
  if (!state.exists || state.deregistered) return true;
  return state.credential.generation === ver;
}

interface KnownNode {
  nodeId: string;
  environment: Environment;
  status: NodeStatus;
}

const NODE_STREAM = streamPrefixes.node;
/**
 * Node events after which the nodes read model still says what it said of the node's cluster,
 * status, credential generation and existence (src/projections/nodes.ts): what a module install
 * or a relabelling changes is not what NodeCache keeps, so the entry stays. Any other type, one
 * this code does not know included, drops it.
 */
const KEEPS_CACHED_NODE: ReadonlySet<string> = new Set(["ModuleInstalled", "ModuleInstallFailed", "ModuleRemoved", "NodeDetailsChanged"]);

/** What the agent routes need of a node on every request, as the nodes read model says. */
interface CachedNode extends KnownNode {
  credentialGeneration: number;
}

/**
 * The nodes read model's answer for each node the agent routes asked about, kept while it stays
 * right, so a heartbeat reads no document. It follows the log through the live feed: an event of
 * a node's stream that may change what is kept (all but KEEPS_CACHED_NODE) drops that node's
 * entry, and a document older than the newest such event is not kept. An entry is used only while the feed has delivered everything the read models have
 * applied (else an event they applied, say a credential reset, might not have dropped it yet);
 * otherwise, and for nodes it does not hold, the read model answers, as without the cache.
 */
export class NodeCache {
  private readonly entries = new Map<string, CachedNode>();
  /** node id -> position of the newest event of its stream the feed delivered, until a document that recent is kept */
  private readonly moved = new Map<string, number>();
  private feedPosition: number;
  private readonly detach: () => void;

  constructor(
    private readonly deps: { readStore: ReadStore; feed: LiveFeed; projections: Pick<ReadModelProgress, "position"> },
    private readonly maxEntries = 1_000_000,
  ) {
    const attachment = deps.feed.attach((event) => {
      this.feedPosition = event.position;
      if (!event.streamId.startsWith(NODE_STREAM) || KEEPS_CACHED_NODE.has(event.type)) return;
      const nodeId = event.streamId.slice(NODE_STREAM.length);
      this.entries.delete(nodeId);
      this.moved.set(nodeId, event.position);
    });
    this.feedPosition = attachment.position;
    this.detach = attachment.detach;
  }

  /** the cached answer, if it may be used now */
  get(nodeId: string): CachedNode | undefined {
    if (this.feedPosition < this.deps.projections.position()) return undefined;
    return this.entries.get(nodeId);
  }

  /** the read model's document, kept for next time when nothing newer is known of the node */
  async read(nodeId: string): Promise<NodeDoc | null> {
    const doc = await this.deps.readStore.collection<NodeDoc>(NODES).get(nodeId);
    if (!doc) return null;
    const moved = this.moved.get(nodeId);
    if (moved === undefined || doc.lastPosition >= moved) {
      this.moved.delete(nodeId);
      if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
      this.entries.set(nodeId, { nodeId, environment: doc.environment, status: doc.status, credentialGeneration: doc.credentialGeneration });
    }
    return doc;
  }

  close(): void {
    this.detach();
  }
}


/**
 * The node as the read model knows it; a node not there yet (just registered, read model behind)
 * or not any more (deregistered) is looked up in its stream, which says which it is.
 */
export async function knownNode(deps: FleetDeps, nodeId: string): Promise<KnownNode> {
  const cached = deps.nodes?.get(nodeId);
  if (cached) return cached;
  const doc = await deps.nodes?.read(nodeId) ?? (await deps.readStore.collection<NodeDoc>(NODES).get(nodeId));
  if (doc) return { nodeId, environment: doc.environment, status: doc.status };
  const state = await loadNode(deps.log, nodeId);
  if (!state.exists) throw notFound(`node ${nodeId}`);
  if (state.deregistered) throw new DomainError("conflict", `node ${nodeId} is deregistered; register it again`);
  return { nodeId, environment: state.environment!, status: state.status };
}

export async function loadNode(log: EventLog, nodeId: string): Promise<NodeState> {
  return (await loadAggregate(log, streams.node(nodeId), nodeDecider)).state;
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

/**
 * Refuses a heartbeat that comes sooner than `spacingMs` after the node's last accepted one (429
 * with Retry-After), so one node cannot fill the telemetry store. The window lives in
 * Coordination: shared by every instance when that is Redis, per instance otherwise.
 */
export async function paceHeartbeat(coordination: Coordination, nodeId: string, spacingMs: number): Promise<void> {
  const d = await coordination.hit(`agent-heartbeat:${nodeId}`, 1, spacingMs);
  if (!d.allowed) throw tooSoon(nodeId, spacingMs, d.retryAfterMs);
}

function tooSoon(nodeId: string, spacingMs: number, retryAfterMs: number): DomainError {
  return new DomainError("rate_limited", `node ${nodeId} sends heartbeats more often than one per ${spacingMs} ms; this one was not stored`, {
    retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)),
  });
}

/**
 * paceHeartbeat for the agent routes. With in-process coordination there is one instance, so the
 * window of one hit per node is just the instant of the node's last accepted heartbeat, kept here:
 * the same decisions as the coordination's sliding log (allowed once spacingMs have passed since
 * it; Retry-After from it), without a key string, a log array and a promise per heartbeat.
 * Shared coordination (Redis) keeps the window there, for every instance.
 */
export class HeartbeatPacer {
  private readonly last = new Map<string, number>();
  private sweptAt: number;

  constructor(
    private readonly coordination: Coordination,
    private readonly clock: { now(): number },
    readonly spacingMs: number,
  ) {
    this.sweptAt = clock.now();
  }

  async pace(nodeId: string): Promise<void> {
    if (this.coordination.kind !== "memory") return paceHeartbeat(this.coordination, nodeId, this.spacingMs);
    const now = this.clock.now();
    const last = this.last.get(nodeId);
    if (last !== undefined && now - last < this.spacingMs) throw tooSoon(nodeId, this.spacingMs, last + this.spacingMs - now);
    this.last.set(nodeId, now);
    // nodes that left stop costing memory: an instant older than the spacing decides nothing
    if (now - this.sweptAt >= 60_000) {
      this.sweptAt = now;
      for (const [id, at] of this.last) if (now - at >= this.spacingMs) this.last.delete(id);
    }
  }
}

/**
 * Stores the heartbeat as telemetry; an Unhealthy or Offline node recovers (an event). `pace` runs
 * after the checks, so only a heartbeat that would be stored counts against the node's allowance.
 */
export async function acceptHeartbeat(
  deps: FleetDeps,
  nodeId: string,
  input: HeartbeatInput,
  now: number,
  context: () => CommandContext,
  pace: () => Promise<void> = async () => undefined,
) {
  const node = await knownNode(deps, nodeId);
  checkCluster(node, input.environment);
  await pace();
  const heartbeat: Heartbeat = { nodeId, environment: node.environment, at: now, metrics: input.metrics, modules: input.modules ?? null };
  await telemetryOf(deps.readStore).record(heartbeat);
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
  return desiredStateView(nodeId, await desiredStateDoc(readStore, nodeId));
}

export function desiredStateDoc(readStore: ReadStore, nodeId: string): Promise<DesiredStateDoc | null> {
  return readStore.collection<DesiredStateDoc>(DESIRED_STATE).get(nodeId);
}

/** the version token of a node's desired state (desiredStateView's version, as a number) */
export const desiredStateVersion = (doc: DesiredStateDoc | null): number => doc?.lastPosition ?? 0;

/**
 * The JSON of `{ ...desiredStateView(nodeId, doc), changed }`, made once per stored document: the
 * memory store hands out the stored document itself, frozen, until a write replaces it, and a node
 * asks for its desired state many times between two of its assignments (every poll of every
 * agent, and the rollout's own fetch), so viewing, sorting and serializing it each time was a tenth
 * of the route. A document that is not frozen (MongoDB's, or a copy) may change under us and is
 * serialized every time.
 */
const desiredJsons = new WeakMap<DesiredStateDoc, { nodeId: string; changed?: string; unchanged?: string }>();
export function desiredStateJson(nodeId: string, doc: DesiredStateDoc | null, changed: boolean): string {
  if (!doc || !Object.isFrozen(doc)) return JSON.stringify({ ...desiredStateView(nodeId, doc), changed });
  let kept = desiredJsons.get(doc);
  // (the store keys these documents by node id, so another node never finds this one's answer)
  if (kept?.nodeId !== nodeId) desiredJsons.set(doc, (kept = { nodeId }));
  if (changed) return (kept.changed ??= JSON.stringify({ ...desiredStateView(nodeId, doc), changed }));
  return (kept.unchanged ??= JSON.stringify({ ...desiredStateView(nodeId, doc), changed }));
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
  /** sha256:<hex> of the installed bytes */
  digest?: string;
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
    { type: "ReportOutcome", assignment, outcome: input.outcome, durationMs: input.durationMs, error: input.error, digest: input.digest, now: ctx.now },
    ctx,
  );
  return { assignment, position: r.position, recorded: r.events.length > 0, modules: r.state.modules };
}

export async function deregisterNode(deps: FleetDeps, nodeId: string, reason: string, ctx: CommandContext) {
  const r = await handleCommand(deps.log, streams.node(nodeId), nodeDecider, { type: "DeregisterNode", reason, now: ctx.now }, ctx);
  await telemetryOf(deps.readStore).forget(nodeId);
  return { position: r.position };
}
