import semver from "semver";
import { z } from "zod";
import type { DependencyOverrideSchema, DeploymentEvent, RollbackCause, StageName } from "../events/catalog/deployment.js";
import type { Verdict } from "../strategies/health-analysis.js";
import type { BlueGreenLayout, Color } from "../strategies/plan-types.js";
import {
  EnvironmentSchema,
  StrategyNameSchema,
  StrategySettingsSchema,
  type Environment,
  type StrategyName,
  type StrategySettings,
} from "../strategies/settings.js";
import { own, putOwn } from "../platform/own-keys.js";
import type { Decider } from "./decider.js";
import { conflict, DomainError, invalid, notFound } from "./errors.js";

// ---------------------------------------------------------------------------------------------
// State: everything the process and the read model need, folded from the deployment stream.

export const DeploymentStatusSchema = z.enum([
  "Pending",
  "PendingApproval",
  "Running",
  "Paused",
  "RollingBack",
  "Succeeded",
  "Failed",
  "RolledBack",
  "Rejected",
  "Cancelled",
]);
export type DeploymentStatus = z.infer<typeof DeploymentStatusSchema>;

const terminal: ReadonlySet<DeploymentStatus> = new Set(["Succeeded", "Failed", "RolledBack", "Rejected", "Cancelled"]);
export const isTerminal = (status: DeploymentStatus) => terminal.has(status);

export interface StageState {
  name: StageName;
  status: "Running" | "Succeeded" | "Failed" | "Skipped";
  startedAt: string;
  completedAt: string | null;
  message: string;
}

/**
 * pending: not touched yet; installing/rollingBack: a request is out (assignmentId);
 * updated/failed: the install's outcome; rolledBack/rollbackFailed: the rollback's outcome.
 */
export type NodePhase = "pending" | "installing" | "updated" | "failed" | "rollingBack" | "rolledBack" | "rollbackFailed";

export interface NodeState {
  nodeId: string;
  wave: number;
  color: Color | null;
  previousVersion: string | null;
  phase: NodePhase;
  /** requests sent to this node so far; part of the deterministic assignment id */
  seq: number;
  assignmentId: string | null;
  requestedAt: string | null;
  timeoutAt: string | null;
  /** an install was requested at some point: a rollback must restore this node */
  touched: boolean;
  error: string | null;
}

export interface WaveState {
  index: number;
  label: string;
  nodeIds: string[];
  status: "pending" | "running" | "analyzing" | "completed" | "failed";
  startedAt: string | null;
  /** when the last node of the wave reported the new version: the evidence wait starts here */
  installedAt: string | null;
  completedAt: string | null;
  /** nodes of this wave on the new version: the wave is installed when it reaches nodeIds.length */
  updated: number;
  checks: number;
  consecutiveStable: number;
  lastVerdict: Verdict | null;
  nextCheckAt: string | null;
}

export interface ApprovalState {
  status: "NotRequired" | "Pending" | "Approved" | "Rejected" | "Expired" | "Cancelled";
  requestedAt: string | null;
  expiresAt: string | null;
  decidedBy: string | null;
  decidedAt: string | null;
  reason: string | null;
}

export interface RollbackState {
  trigger: "failure" | "deadline" | "manual" | "abort";
  reason: string;
  cause: RollbackCause;
  nodeIds: string[];
  startedAt: string;
  completedAt: string | null;
}

export interface NodeCounts {
  planned: number;
  updated: number;
  inFlight: number;
  failed: number;
}

export interface DeploymentState {
  /** false until DeploymentRequested */
  exists: boolean;
  executionId: string;
  moduleName: string;
  version: string;
  targetEnvironment: Environment | null;
  strategy: StrategyName | null;
  requesterEmail: string;
  requestedBy: string;
  description: string | null;
  settings: StrategySettings | null;
  /** the registered bytes this deployment installs (absent in snapshots from before signed modules) */
  artifact?: { digest: string; size: number } | null;
  status: DeploymentStatus;
  /** the stage running now, if any */
  stage: StageName | null;
  stages: StageState[];
  approval: ApprovalState;
  queued: boolean;
  waves: WaveState[];
  currentWave: number | null;
  nodes: Record<string, NodeState>;
  /**
   * Kept by the fold so that no step walks the nodes to count them: planned nodes (wave >= 0) and
   * how many of them run the new version (progress), nodes with a request out (installing or
   * rollingBack), nodes whose install failed.
   */
  nodeCounts: NodeCounts;
  skippedNodeIds: string[];
  blueGreen: BlueGreenLayout | null;
  /** blue-green: the color that serves traffic now */
  servingColor: Color | null;
  deadlineAt: string | null;
  pausedAt: string | null;
  verifyStartedAt: string | null;
  rollback: RollbackState | null;
  /** why it ended, when it did not succeed */
  failureReason: string | null;
  failedNodeIds: string[];
  createdAt: string | null;
  updatedAt: string | null;
  endedAt: string | null;
}

export const initialDeploymentState: DeploymentState = {
  exists: false,
  executionId: "",
  moduleName: "",
  version: "",
  targetEnvironment: null,
  strategy: null,
  requesterEmail: "",
  requestedBy: "",
  description: null,
  settings: null,
  artifact: null,
  status: "Pending",
  stage: null,
  stages: [],
  approval: { status: "NotRequired", requestedAt: null, expiresAt: null, decidedBy: null, decidedAt: null, reason: null },
  queued: false,
  waves: [],
  currentWave: null,
  nodes: {},
  nodeCounts: { planned: 0, updated: 0, inFlight: 0, failed: 0 },
  skippedNodeIds: [],
  blueGreen: null,
  servingColor: null,
  deadlineAt: null,
  pausedAt: null,
  verifyStartedAt: null,
  rollback: null,
  failureReason: null,
  failedNodeIds: [],
  createdAt: null,
  updatedAt: null,
  endedAt: null,
};

const plusMs = (iso: string, ms: number) => new Date(Date.parse(iso) + ms).toISOString();

// ---------------------------------------------------------------------------------------------
// The fold. evolveDeployment is the plain definition: a pure function that copies what it changes,
// the nodes map included. That made every fold of a big deployment quadratic (10,000 nodes: every
// node event copied a 10,000-entry map), so every reader folds through foldDeployment instead: the
// command handler (deploymentDecider.foldAll), time travel and snapshots (deploymentFold.foldAll),
// the runner's cached state, the process step (borrowNodes), each SSE connection and the
// deployments projection. It gives the same states as reducing with evolveDeployment (property
// tested) while changing the nodes map in place.
//
// Ownership rule: a fold changes a nodes map in place only when its caller says it owns the state
// (`ownsNodes`) and the map is not frozen. A frozen map is shared: the memory read store froze it
// (and whatever else holds the stored document may be reading it), so a fold copies it once and
// owns the copy. Node objects themselves are never changed, only replaced (and frozen as they are
// made, so a store can share them between writes); waves, stages and the state object are copied
// when they change, as evolveDeployment does.

/** The nodes map the running fold owns and changes in place; null outside folds. Folds are synchronous. */
let ownedNodes: Record<string, NodeState> | null = null;
/** While a fold works on borrowed nodes (borrowNodes): the map lent and each changed node's value before its first change. */
let lent: { nodes: Record<string, NodeState>; before: Map<string, NodeState>; cursors: Map<number, number> | undefined } | null = null;

const isInFlight = (phase: NodePhase) => phase === "installing" || phase === "rollingBack";

/**
 * `state` is the copy evolveDeployment just made of the state it was given (nobody else holds it
 * yet): the node's counters, waves and map are set on it, rather than copying all of it once more
 * for each (a node event made up to three copies of the whole state object, in every fold).
 */
function setNode(state: DeploymentState, nodeId: string, patch: Partial<NodeState>): DeploymentState {
  const node = own(state.nodes, nodeId);
  if (!node) return state;
  const next = Object.freeze({ ...node, ...patch });
  if (next.phase !== node.phase) recount(state, node, next);
  if (state.nodes === ownedNodes) {
    if (lent?.nodes === ownedNodes && !lent.before.has(nodeId)) lent.before.set(nodeId, node);
    putOwn(ownedNodes, nodeId, next);
    changeLogs.get(ownedNodes)?.add(nodeId);
    if (next.phase === "pending" && node.phase !== "pending") pendingFrom.delete(ownedNodes);
    if (next.phase !== node.phase) noteInFlight(ownedNodes, next);
    return state;
  }
  state.nodes = { ...state.nodes, [nodeId]: next };
  return state;
}

// Which nodes have a request out, per nodes map: built by a walk the first time a step asks, then
// kept by the fold as it changes that same map in place (a map the fold replaces or copies starts
// without one). A step then looks at the requests in flight, a hundred, not at ten thousand nodes.
const inFlightIndex = new WeakMap<Record<string, NodeState>, Set<string>>();
/** Each node's place in its map's order (the order a walk over the map sees), for the same maps. */
const mapOrder = new WeakMap<Record<string, NodeState>, { place: Map<string, number>; ids: string[] }>();

// The ids of the nodes a fold changed in place, per nodes map, for a reader that asked
// (trackNodeChanges): the deployments read model stores the nodes in pages and brings its stored
// pages up to date at the cost of the nodes that changed, not of a walk over ten thousand.
const changeLogs = new WeakMap<Record<string, NodeState>, Set<string>>();

// Per nodes map and wave index: how far along the wave's nodeIds no node is pending. Nodes leave
// pending in wave order as they are requested, so the next step's requests start there instead of
// walking the wave from its first node every step (a 5,000-node wave walked ~12 million entries).
// A node put back to pending drops the map's entry; a borrowed fold's are put back with its nodes.
const pendingFrom = new WeakMap<Record<string, NodeState>, Map<number, number>>();

/** The index in wave.nodeIds of its first node that is pending in `state` (nodeIds.length: none). */
export function firstPendingIndex(state: DeploymentState, wave: WaveState): number {
  let cursors = pendingFrom.get(state.nodes);
  if (!cursors) pendingFrom.set(state.nodes, (cursors = new Map()));
  let i = cursors.get(wave.index) ?? 0;
  while (i < wave.nodeIds.length && own(state.nodes, wave.nodeIds[i]!)?.phase !== "pending") i++;
  cursors.set(wave.index, i);
  // found on a lent map before the borrowed fold changed any node: as right once they are put back
  if (lent?.nodes === state.nodes && lent.before.size === 0) (lent.cursors ??= new Map()).set(wave.index, i);
  return i;
}

/**
 * From now on, every node a fold changes in this map in place (or a borrowed fold puts back) is
 * added to the returned set; the caller clears it when it has caught up. A fold that replaces the
 * map (DeploymentPlanned) makes a new map, which has no log: the caller sees the map changed.
 */
export function trackNodeChanges(nodes: Record<string, NodeState>): Set<string> {
  let log = changeLogs.get(nodes);
  if (!log) changeLogs.set(nodes, (log = new Set()));
  return log;
}

function noteInFlight(nodes: Record<string, NodeState>, node: NodeState): void {
  const index = inFlightIndex.get(nodes);
  if (!index) return;
  if (isInFlight(node.phase)) index.add(node.nodeId);
  else index.delete(node.nodeId);
}

/**
 * The nodes with a request out (installing or rollingBack), in the order a walk over state.nodes
 * gives: what filtering Object.values(state.nodes) by phase gives, at the cost of the requests in
 * flight once the map has been walked once.
 */
export function inFlightNodes(state: DeploymentState): NodeState[] {
  const nodes = state.nodes;
  if (state.nodeCounts.inFlight === 0) return [];
  let index = inFlightIndex.get(nodes);
  if (!index) {
    index = new Set();
    for (const n of Object.values(nodes)) if (isInFlight(n.phase)) index.add(n.nodeId);
    // a frozen map never changes: its index stays right; an unfrozen one is kept by setNode
    inFlightIndex.set(nodes, index);
  }
  let order = mapOrder.get(nodes);
  if (!order) {
    const ids = Object.keys(nodes);
    order = { place: new Map(ids.map((id, i) => [id, i])), ids };
    mapOrder.set(nodes, order);
  }
  // sorted as numbers (each node's place, unique) rather than by a comparator looking both up
  const places = new Float64Array(index.size);
  let i = 0;
  for (const id of index) places[i++] = order.place.get(id)!;
  places.sort();
  const out: NodeState[] = [];
  for (const p of places) {
    const n = own(nodes, order.ids[p]!);
    if (n !== undefined) out.push(n);
  }
  return out;
}

/** Sets the counters after one node's phase changed (see NodeCounts and WaveState.updated) on `state`, setNode's own copy. */
function recount(state: DeploymentState, before: NodeState, after: NodeState): void {
  const c = state.nodeCounts;
  // no helper closures here: this runs for every node event of every fold, and under tsx (how the
  // server runs) each named closure made costs a defineProperty of its name (esbuild's keepNames)
  const updated = Number(after.phase === "updated") - Number(before.phase === "updated");
  const nodeCounts: NodeCounts = {
    planned: c.planned,
    updated: c.updated + (before.wave >= 0 ? updated : 0),
    inFlight: c.inFlight + Number(isInFlight(after.phase)) - Number(isInFlight(before.phase)),
    failed: c.failed + Number(after.phase === "failed") - Number(before.phase === "failed"),
  };
  const wave = before.wave >= 0 && updated !== 0 ? state.waves[before.wave] : undefined;
  if (wave) state.waves = patchedWaves(state.waves, wave.index, { updated: wave.updated + updated });
  state.nodeCounts = nodeCounts;
}

/**
 * Applies events to a state, like reducing with evolveDeployment, in time linear in the events.
 * The given state is never changed unless `ownsNodes` says the caller owns it (nobody else holds
 * it: a read model's batch, the runner's cache, a connection's own fold) and its map is not frozen;
 * otherwise the nodes map is copied once. With `readOnly` (the caller only reads the result: a
 * command's answer), it is copied only when an event first changes a node, so a pause of a
 * 10,000-node deployment copies none; the result may then share its map with `state`, and must
 * never be folded on in place.
 */
export function foldDeployment(
  state: DeploymentState,
  events: readonly DeploymentEvent[],
  options: { ownsNodes?: boolean; readOnly?: boolean } = {},
): DeploymentState {
  const outer = ownedNodes;
  const owns = options.ownsNodes === true && !Object.isFrozen(state.nodes);
  // the caller's map, while no event has changed a node (setNode copies it then, and the fold owns the copy)
  const theirs = !owns && options.readOnly ? state.nodes : null;
  let s = owns || theirs ? state : { ...state, nodes: { ...state.nodes } };
  ownedNodes = theirs ? null : s.nodes;
  try {
    for (const e of events) {
      s = evolveDeployment(s, e);
      if (s.nodes !== theirs) ownedNodes = s.nodes;
    }
    return s;
  } finally {
    ownedNodes = outer;
  }
}

/**
 * Lends `state` to `work`, whose fold may then change it in place: every node it changes is put
 * back before this returns (or throws), so the caller's state is as it was, at a cost of the
 * changes rather than a copy of every node. For a step that folds its own decisions to look
 * further (the process step) on a state its caller keeps. A frozen map is copied once instead.
 */
export function borrowNodes<T>(
  state: DeploymentState,
  work: (fold: (s: DeploymentState, events: readonly DeploymentEvent[]) => DeploymentState, borrowed: Borrowed) => T,
): T {
  const outer = lent;
  const cursors = pendingFrom.get(state.nodes);
  const mine = { nodes: state.nodes, before: new Map<string, NodeState>(), cursors: cursors && new Map(cursors) };
  const borrowed: Borrowed = { nodes: state.nodes, before: mine.before, after: new Map() };
  lent = mine;
  try {
    return work((s, events) => foldDeployment(s, events, { ownsNodes: true }), borrowed);
  } finally {
    lent = outer;
    if (mine.cursors) pendingFrom.set(mine.nodes, mine.cursors);
    else pendingFrom.delete(mine.nodes);
    for (const [id, node] of mine.before) {
      borrowed.after.set(id, own(mine.nodes, id)!);
      putOwn(mine.nodes, id, node);
      noteInFlight(mine.nodes, node);
      changeLogs.get(mine.nodes)?.add(id);
    }
  }
}

/** What a borrowed fold did to the lent nodes map: each node it changed, as the fold left it (filled in as the loan ends). */
export interface Borrowed {
  readonly nodes: Record<string, NodeState>;
  /** each node it changed, as it was lent (as it is again once the loan ends) */
  readonly before: ReadonlyMap<string, NodeState>;
  readonly after: Map<string, NodeState>;
}

/**
 * The state a borrowed fold reached (`folded`, from `state`), made real on `state`'s own nodes map:
 * the nodes it changed are put back as the fold left them, in place. For the caller that owns
 * `state` and keeps what the borrowed fold decided (the runner, once its append went through): it
 * gets foldDeployment(state, those events, { ownsNodes: true }) without folding them a second time.
 * `state`'s map must be as it was when lent; `state` itself is left behind (its map now `folded`'s).
 */
export function keepBorrowed(state: DeploymentState, folded: DeploymentState, borrowed: Borrowed): DeploymentState {
  if (borrowed.nodes !== state.nodes) throw new Error("keepBorrowed: not the nodes map that was lent");
  // a fold that replaced the map (a plan) or copied it (frozen) holds its own: the lent one was put back
  if (folded.nodes !== state.nodes) return folded;
  const nodes = state.nodes;
  for (const [id, node] of borrowed.after) {
    // not looked up in the map (own() on a map of ten thousand entries costs more than the rest)
    const was = borrowed.before.get(id);
    putOwn(nodes, id, node);
    changeLogs.get(nodes)?.add(id);
    // as setNode does for each change (the last one per node is what counts)
    if (node.phase === "pending" && was?.phase !== "pending") pendingFrom.delete(nodes);
    noteInFlight(nodes, node);
  }
  return folded;
}

/**
 * 0-100. Terminal deployments are done whatever the outcome (the status says which); a running
 * one moves with the nodes updated, kept below 100 until it has been verified.
 */
export function deploymentProgress(state: Pick<DeploymentState, "nodeCounts" | "status">): number {
  const { planned, updated } = state.nodeCounts;
  if (isTerminal(state.status)) return 100;
  return planned === 0 ? 0 : Math.min(99, Math.round((100 * updated) / planned));
}

function setWave(state: DeploymentState, index: number, patch: Partial<WaveState>): DeploymentState {
  if (!state.waves[index]) return state;
  return { ...state, waves: patchedWaves(state.waves, index, patch) };
}

const patchedWaves = (waves: WaveState[], index: number, patch: Partial<WaveState>): WaveState[] => waves.map((w) => (w.index === index ? { ...w, ...patch } : w));

/** When the last node of the running wave reports success, the evidence wait begins. */
function maybeStartAnalysis(state: DeploymentState, wave: number, at: string): DeploymentState {
  const w = state.waves[wave];
  if (!w || w.status !== "running" || state.rollback || !state.settings) return state;
  // a counter the fold keeps: scanning the wave on every node event made big waves quadratic
  if (w.updated < w.nodeIds.length) return state;
  return setWave(state, wave, { status: "analyzing", installedAt: at, nextCheckAt: plusMs(at, state.settings.checkIntervalMs) });
}

export function evolveDeployment(state: DeploymentState, event: DeploymentEvent): DeploymentState {
  const s: DeploymentState = { ...state, updatedAt: event.data.at };
  switch (event.type) {
    case "DeploymentRequested": {
      const d = event.data;
      return {
        ...s,
        exists: true,
        executionId: d.executionId,
        moduleName: d.moduleName,
        version: d.version,
        targetEnvironment: d.targetEnvironment,
        strategy: d.strategy,
        requesterEmail: d.requesterEmail,
        requestedBy: d.requestedBy,
        description: d.description,
        settings: d.settings,
        artifact: d.artifact ? { digest: d.artifact.digest, size: d.artifact.size } : null,
        status: d.requiresApproval ? "PendingApproval" : "Pending",
        approval: { ...s.approval, status: d.requiresApproval ? "Pending" : "NotRequired", expiresAt: d.approvalExpiresAt },
        createdAt: d.at,
      };
    }
    case "StageStarted":
      return {
        ...s,
        stage: event.data.stage,
        stages: [...s.stages, { name: event.data.stage, status: "Running", startedAt: event.data.at, completedAt: null, message: event.data.message }],
        verifyStartedAt: event.data.stage === "Verify" ? event.data.at : s.verifyStartedAt,
      };
    case "StageCompleted": {
      const { stage, outcome, at, message } = event.data;
      const status: StageState["status"] = outcome === "succeeded" ? "Succeeded" : outcome === "failed" ? "Failed" : "Skipped";
      const last = s.stages.map((st) => st.name).lastIndexOf(stage);
      const stages: StageState[] =
        last < 0
          ? [...s.stages, { name: stage, status, startedAt: at, completedAt: at, message } satisfies StageState]
          : s.stages.map((st, i) => (i === last ? { ...st, status, completedAt: at, message } : st));
      return { ...s, stages, stage: s.stage === stage ? null : s.stage };
    }
    case "ApprovalRequested":
      return { ...s, approval: { ...s.approval, status: "Pending", requestedAt: event.data.at, expiresAt: event.data.expiresAt } };
    case "ApprovalGranted":
      return {
        ...s,
        status: "Pending",
        approval: { ...s.approval, status: "Approved", decidedBy: event.data.by, decidedAt: event.data.at, reason: event.data.reason },
      };
    case "ApprovalRejected":
      return { ...s, approval: { ...s.approval, status: "Rejected", decidedBy: event.data.by, decidedAt: event.data.at, reason: event.data.reason } };
    case "ApprovalExpired":
      return { ...s, approval: { ...s.approval, status: "Expired", decidedAt: event.data.at, reason: `expired at ${event.data.expiresAt}` } };
    case "DeploymentQueued":
      return { ...s, queued: true };
    case "DeploymentPlanned": {
      const d = event.data;
      const nodes: Record<string, NodeState> = {};
      for (const n of d.nodes) {
        putOwn(nodes, n.nodeId, Object.freeze({
          nodeId: n.nodeId,
          wave: n.wave,
          color: n.color ?? null,
          previousVersion: n.previousVersion,
          phase: "pending",
          seq: 0,
          assignmentId: null,
          requestedAt: null,
          timeoutAt: null,
          touched: false,
          error: null,
        }));
      }
      const waves: WaveState[] = d.waves.map((w) => ({
        ...w,
        status: "pending",
        startedAt: null,
        installedAt: null,
        completedAt: null,
        updated: 0,
        checks: 0,
        consecutiveStable: 0,
        lastVerdict: null,
        nextCheckAt: null,
      }));
      return {
        ...s,
        status: "Running",
        queued: false,
        waves,
        nodes,
        nodeCounts: { planned: d.nodes.filter((n) => n.wave >= 0).length, updated: 0, inFlight: 0, failed: 0 },
        currentWave: waves.length ? 0 : null,
        skippedNodeIds: d.skippedNodeIds,
        blueGreen: d.blueGreen ?? null,
        servingColor: d.blueGreen?.activeColor ?? null,
        deadlineAt: d.deadlineAt,
      };
    }
    case "WaveStarted":
      return setWave(s, event.data.wave, { status: "running", startedAt: event.data.at });
    case "NodeUpdateRequested": {
      const d = event.data;
      const node = own(s.nodes, d.nodeId);
      if (!node) return s;
      const install = d.kind === "install";
      return setNode(s, d.nodeId, {
        phase: install ? "installing" : "rollingBack",
        seq: node.seq + 1,
        assignmentId: d.assignmentId,
        requestedAt: d.at,
        timeoutAt: d.timeoutAt,
        touched: node.touched || install,
        error: null,
      });
    }
    case "NodeUpdated": {
      const node = own(s.nodes, event.data.nodeId);
      if (!node) return s;
      return maybeStartAnalysis(setNode(s, node.nodeId, { phase: "updated" }), node.wave, event.data.at);
    }
    case "NodeUpdateFailed":
      return setNode(s, event.data.nodeId, { phase: "failed", error: event.data.error });
    case "HealthCheckRecorded":
      return setWave(s, event.data.wave, {
        checks: (s.waves[event.data.wave]?.checks ?? 0) + 1,
        consecutiveStable: event.data.consecutiveStable,
        lastVerdict: event.data.verdict,
        nextCheckAt: event.data.nextCheckAt,
      });
    case "WaveCompleted": {
      const next = event.data.wave + 1 < s.waves.length ? event.data.wave + 1 : s.currentWave;
      return { ...setWave(s, event.data.wave, { status: "completed", completedAt: event.data.at, nextCheckAt: null }), currentWave: next };
    }
    case "TrafficSwitched":
      return { ...s, servingColor: event.data.to };
    case "DeploymentPaused":
      return { ...s, status: "Paused", pausedAt: event.data.at };
    case "DeploymentResumed":
      return { ...s, status: "Running", pausedAt: null, deadlineAt: event.data.deadlineAt };
    case "RollbackStarted": {
      const d = event.data;
      const waves = s.waves.map((w) => (w.status === "running" || w.status === "analyzing" ? { ...w, status: "failed" as const, nextCheckAt: null } : w));
      return {
        ...s,
        status: "RollingBack",
        pausedAt: null,
        waves,
        rollback: { trigger: d.trigger, reason: d.reason, cause: d.cause, nodeIds: d.nodeIds, startedAt: d.at, completedAt: null },
      };
    }
    case "NodeRolledBack":
      return setNode(s, event.data.nodeId, { phase: "rolledBack" });
    case "NodeRollbackFailed":
      return setNode(s, event.data.nodeId, { phase: "rollbackFailed", error: event.data.error });
    case "DeploymentSucceeded":
      return { ...s, status: "Succeeded", endedAt: event.data.at };
    case "DeploymentFailed":
      return { ...finishRollback(s, event.data.at), status: "Failed", endedAt: event.data.at, failureReason: event.data.reason, failedNodeIds: event.data.failedNodeIds };
    case "DeploymentRolledBack":
      return { ...finishRollback(s, event.data.at), status: "RolledBack", endedAt: event.data.at, failureReason: event.data.reason };
    case "DeploymentCancelled":
      return {
        ...finishRollback(s, event.data.at),
        status: "Cancelled",
        endedAt: event.data.at,
        failureReason: event.data.reason,
        approval: s.approval.status === "Pending" ? { ...s.approval, status: "Cancelled", decidedBy: event.data.by, decidedAt: event.data.at } : s.approval,
      };
    case "DeploymentRejected":
      return { ...s, status: "Rejected", endedAt: event.data.at, failureReason: event.data.reason };
  }
}

function finishRollback(s: DeploymentState, at: string): DeploymentState {
  return s.rollback ? { ...s, rollback: { ...s.rollback, completedAt: at } } : s;
}

// ---------------------------------------------------------------------------------------------
// Helpers shared by the decider and the process (src/processes/deployment-process.ts).

export const isoAt = (epochMs: number) => new Date(epochMs).toISOString();

/** Closes the running stage, if any. */
export function closeStage(state: DeploymentState, outcome: "succeeded" | "failed" | "skipped", message: string, at: string): DeploymentEvent[] {
  return state.stage ? [{ type: "StageCompleted", data: { stage: state.stage, outcome, at, message } }] : [];
}

export const touchedNodeIds = (state: DeploymentState) =>
  Object.values(state.nodes)
    .filter((n) => n.touched)
    .map((n) => n.nodeId)
    .sort();

/**
 * Starts returning every touched node to its previous version. With nothing touched there is
 * nothing to undo, so the deployment ends at once (Cancelled for an abort, Failed otherwise).
 */
export function startRollback(
  state: DeploymentState,
  trigger: RollbackState["trigger"],
  cause: RollbackCause,
  reason: string,
  at: string,
  by = "system",
): DeploymentEvent[] {
  const nodeIds = touchedNodeIds(state);
  const close = closeStage(state, "failed", reason, at);
  if (nodeIds.length === 0) {
    if (trigger === "abort") return [...close, { type: "DeploymentCancelled", data: { at, by, reason } }];
    return [...close, { type: "DeploymentFailed", data: { at, reason, failedNodeIds: [] } }];
  }
  return [
    ...close,
    { type: "RollbackStarted", data: { trigger, reason, cause, nodeIds, at } },
    { type: "StageStarted", data: { stage: "Rollback", at, message: `returning ${nodeIds.length} node(s) to their previous version` } },
  ];
}

// ---------------------------------------------------------------------------------------------
// Commands

const semverString = z.string().refine((v) => semver.valid(v) !== null, "must be a semantic version, e.g. 1.2.3");

/** The user-supplied part of a request; the HTTP layer can reuse it for its body schema. */
export const DeploymentRequestSchema = z.object({
  moduleName: z.string().regex(/^[a-z][a-z0-9_-]{1,63}$/, "lowercase letters, digits, '-' or '_', 2-64 characters, starting with a letter"),
  version: semverString,
  targetEnvironment: EnvironmentSchema,
  requesterEmail: z.email(),
  strategy: StrategyNameSchema.optional(),
  description: z.string().max(2000).optional(),
});
export type DeploymentRequest = z.infer<typeof DeploymentRequestSchema>;

type RequestedData = Extract<DeploymentEvent, { type: "DeploymentRequested" }>["data"];
export type DeploymentArtifact = NonNullable<RequestedData["artifact"]>;
export type DeploymentTrust = NonNullable<RequestedData["trust"]>;

/** `now` is epoch ms from the caller's Clock; `by` the acting user's name. */
export type DeploymentCommand =
  | ({
      type: "RequestDeployment";
      executionId: string;
      /** username of the caller */
      requestedBy: string;
      /** declared with the request for a module not in the registry (src/graph/dependencies.ts) */
      dependencies?: { name: string; range: string }[];
      dependencyOverride?: DependencyOverride;
      /** resolveSettings(targetEnvironment, overrides); the request's strategy wins over settings.strategy */
      settings: StrategySettings;
      /** what the trust policy judged (src/modules/service.ts gate), recorded as it was */
      artifact?: DeploymentArtifact;
      trust?: DeploymentTrust;
      now: number;
    } & DeploymentRequest)
  | { type: "Approve"; by: string; byEmail?: string; reason?: string; now: number }
  | { type: "Reject"; by: string; byEmail?: string; reason: string; now: number }
  | { type: "ExpireApproval"; now: number }
  | { type: "Pause"; by: string; now: number }
  | { type: "Resume"; by: string; now: number }
  | { type: "Abort"; by: string; reason?: string; now: number }
  | { type: "Rollback"; by: string; reason?: string; now: number; dependencyOverride?: DependencyOverride };

export type DependencyOverride = z.infer<typeof DependencyOverrideSchema>;

function requireExisting(state: DeploymentState) {
  if (!state.exists) throw notFound("deployment");
}

function requirePendingApproval(state: DeploymentState, now: number) {
  requireExisting(state);
  if (state.status !== "PendingApproval" || state.approval.status !== "Pending") {
    throw conflict(`approval already decided: ${state.approval.status}`, { approval: state.approval.status, status: state.status });
  }
  if (state.approval.expiresAt && now >= Date.parse(state.approval.expiresAt)) {
    throw conflict(`approval expired at ${state.approval.expiresAt}`, { approval: "Expired", expiresAt: state.approval.expiresAt });
  }
}

function isSelf(state: DeploymentState, by: string, byEmail?: string) {
  return by === state.requestedBy || (byEmail !== undefined && byEmail.toLowerCase() === state.requesterEmail.toLowerCase());
}

function request(command: Extract<DeploymentCommand, { type: "RequestDeployment" }>, state: DeploymentState): DeploymentEvent[] {
  if (state.exists) throw conflict(`deployment ${command.executionId} already exists`);
  const parsed = DeploymentRequestSchema.safeParse(command);
  if (!parsed.success) {
    throw invalid("invalid deployment request", { fields: parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })) });
  }
  const req = parsed.data;
  const strategy = req.strategy ?? command.settings.strategy;
  const settings = StrategySettingsSchema.parse({ ...command.settings, strategy });
  const at = isoAt(command.now);
  const requiresApproval = settings.approval.required;
  const expiresAt = requiresApproval ? isoAt(command.now + settings.approval.timeoutMs) : null;
  const events: DeploymentEvent[] = [
    {
      type: "DeploymentRequested",
      data: {
        executionId: command.executionId,
        moduleName: req.moduleName,
        version: req.version,
        targetEnvironment: req.targetEnvironment,
        strategy,
        requesterEmail: req.requesterEmail,
        requestedBy: command.requestedBy,
        description: req.description ?? null,
        ...(command.dependencies?.length && { dependencies: command.dependencies }),
        ...(command.dependencyOverride && { dependencyOverride: command.dependencyOverride }),
        settings,
        requiresApproval,
        approvalExpiresAt: expiresAt,
        at,
        ...(command.artifact && { artifact: command.artifact }),
        ...(command.trust && { trust: command.trust }),
      },
    },
    { type: "StageStarted", data: { stage: "Validate", at, message: "checking the request" } },
    {
      type: "StageCompleted",
      data: { stage: "Validate", outcome: "succeeded", at, message: `${req.moduleName} ${req.version} to ${req.targetEnvironment} with ${strategy}` },
    },
  ];
  if (expiresAt) {
    events.push(
      { type: "StageStarted", data: { stage: "Approval", at, message: `waiting for an Admin's approval until ${expiresAt}` } },
      { type: "ApprovalRequested", data: { expiresAt, at } },
    );
  }
  return events;
}

function decide(command: DeploymentCommand, state: DeploymentState): DeploymentEvent[] {
  if (command.type === "RequestDeployment") return request(command, state);
  const at = isoAt(command.now);
  switch (command.type) {
    case "Approve": {
      requirePendingApproval(state, command.now);
      if (isSelf(state, command.by, command.byEmail) && !state.settings?.approval.allowSelfApproval) {
        throw new DomainError("forbidden", "the requester cannot approve their own deployment");
      }
      const reason = command.reason?.trim() || null;
      return [
        { type: "ApprovalGranted", data: { by: command.by, reason, at } },
        { type: "StageCompleted", data: { stage: "Approval", outcome: "succeeded", at, message: `approved by ${command.by}${reason ? `: ${reason}` : ""}` } },
      ];
    }
    case "Reject": {
      requirePendingApproval(state, command.now);
      const reason = command.reason.trim();
      if (!reason) throw invalid("a rejection needs a reason", { fields: [{ path: "reason", message: "required" }] });
      return [
        { type: "ApprovalRejected", data: { by: command.by, reason, at } },
        { type: "StageCompleted", data: { stage: "Approval", outcome: "failed", at, message: `rejected by ${command.by}: ${reason}` } },
        { type: "DeploymentRejected", data: { at, by: command.by, reason } },
      ];
    }
    case "ExpireApproval": {
      requireExisting(state);
      const expiresAt = state.approval.expiresAt;
      if (state.status !== "PendingApproval" || state.approval.status !== "Pending" || !expiresAt) {
        throw conflict(`approval already decided: ${state.approval.status}`);
      }
      if (command.now < Date.parse(expiresAt)) throw conflict(`approval does not expire before ${expiresAt}`);
      const reason = `approval not given before ${expiresAt}`;
      return [
        { type: "ApprovalExpired", data: { expiresAt, at } },
        { type: "StageCompleted", data: { stage: "Approval", outcome: "failed", at, message: reason } },
        { type: "DeploymentRejected", data: { at, by: null, reason } },
      ];
    }
    case "Pause":
      requireExisting(state);
      if (state.status !== "Running") throw conflict(`cannot pause a deployment that is ${state.status}`, { status: state.status });
      return [{ type: "DeploymentPaused", data: { by: command.by, at } }];
    case "Resume": {
      requireExisting(state);
      if (state.status !== "Paused") throw conflict(`cannot resume a deployment that is ${state.status}`, { status: state.status });
      // Time spent paused does not count against the progress deadline.
      const pausedFor = state.pausedAt ? Math.max(0, command.now - Date.parse(state.pausedAt)) : 0;
      const deadlineAt = state.deadlineAt ? isoAt(Date.parse(state.deadlineAt) + pausedFor) : null;
      return [{ type: "DeploymentResumed", data: { by: command.by, at, deadlineAt } }];
    }
    case "Abort": {
      requireExisting(state);
      const reason = command.reason?.trim() || `aborted by ${command.by}`;
      if (state.status === "Pending" || state.status === "PendingApproval") {
        return [...closeStage(state, "failed", reason, at), { type: "DeploymentCancelled", data: { at, by: command.by, reason } }];
      }
      if (state.status === "Running" || state.status === "Paused") {
        return startRollback(state, "abort", { kind: "abort", by: command.by }, reason, at, command.by);
      }
      throw conflict(`cannot abort a deployment that is ${state.status}`, { status: state.status });
    }
    case "Rollback": {
      // Manual rollback: of a Succeeded deployment, or of a Running/Paused one that has touched
      // nodes (like abort, but it ends RolledBack rather than Cancelled). Everything else is a conflict.
      requireExisting(state);
      const reason = command.reason?.trim() || `manual rollback by ${command.by}`;
      const rollbackable = state.status === "Succeeded" || state.status === "Running" || state.status === "Paused";
      if (!rollbackable || touchedNodeIds(state).length === 0) {
        throw conflict(`cannot roll back a deployment that is ${state.status}${rollbackable ? " and has not touched any node (abort it instead)" : ""}`, {
          status: state.status,
        });
      }
      const events = startRollback(state, "manual", { kind: "manual", by: command.by }, reason, at, command.by);
      const override = command.dependencyOverride;
      return override ? events.map((e) => (e.type === "RollbackStarted" ? { ...e, data: { ...e.data, dependencyOverride: override } } : e)) : events;
    }
  }
}

export const deploymentDecider: Decider<DeploymentState, DeploymentCommand, DeploymentEvent> = {
  initialState: initialDeploymentState,
  evolve: evolveDeployment,
  // the handler folds for its answer and loads of uncached streams: read only
  foldAll: (state, events) => foldDeployment(state, events, { readOnly: true }),
  decide,
};
