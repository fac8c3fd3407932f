import {
  deploymentProgress,
  evolveDeployment,
  foldDeployment,
  initialDeploymentState,
  isTerminal,
  trackNodeChanges,
  type DeploymentState,
  type NodePhase,
  type NodeState,
} from "../commands/deployment.js";
import { deploymentEventTypes, type DeploymentEvent } from "../events/catalog/deployment.js";
import type { RecordedEvent } from "../events/envelope.js";
import { streamKey, streamPrefixes } from "../events/streams.js";
import { own, putOwn } from "../platform/own-keys.js";
import type { ProjectedDoc, Projection } from "./projection.js";

type NodeView = Readonly<Pick<NodeState, "nodeId" | "wave" | "color" | "previousVersion" | "phase" | "error">>;

/**
 * A node's entry in the view, made once per node state (the fold replaces a node's state when it
 * changes, never edits it) and frozen: views built from pages share every entry that did not change.
 */
const nodeViews = new WeakMap<NodeState, NodeView>();
function nodeView(n: NodeState): NodeView {
  let view = nodeViews.get(n);
  if (!view) {
    view = Object.freeze({ nodeId: n.nodeId, wave: n.wave, color: n.color, previousVersion: n.previousVersion, phase: n.phase, error: n.error });
    nodeViews.set(n, view);
  }
  return view;
}

/** The deployment as the API shows it, `nodes` aside (built from the stored pages when read). */
function headOf(state: Omit<DeploymentState, "nodes">) {
  return {
    executionId: state.executionId,
    moduleName: state.moduleName,
    version: state.version,
    targetEnvironment: state.targetEnvironment,
    strategy: state.strategy,
    status: state.status,
    progress: deploymentProgress(state),
    description: state.description,
    stages: state.stages.map((s) => ({ name: s.name, status: s.status, startedAt: s.startedAt, completedAt: s.completedAt, message: s.message })),
    waves: state.waves.map((w) => ({
      index: w.index,
      label: w.label,
      nodeIds: w.nodeIds,
      status: w.status,
      startedAt: w.startedAt,
      completedAt: w.completedAt,
      checks: w.checks,
      consecutiveStable: w.consecutiveStable,
      verdict: w.lastVerdict,
    })),
    servingColor: state.servingColor,
    /** the registered bytes nodes install (null: the module was not in the registry) */
    artifact: state.artifact ?? null,
    rollback: state.rollback
      ? { trigger: state.rollback.trigger, reason: state.rollback.reason, cause: state.rollback.cause, nodeIds: state.rollback.nodeIds, startedAt: state.rollback.startedAt, completedAt: state.rollback.completedAt }
      : null,
    failureReason: state.failureReason,
    failedNodeIds: state.failedNodeIds,
    approval: {
      status: state.approval.status,
      requestedAt: state.approval.requestedAt,
      expiresAt: state.approval.expiresAt,
      decidedBy: state.approval.decidedBy,
      decidedAt: state.approval.decidedAt,
      reason: state.approval.reason,
    },
    requesterEmail: state.requesterEmail,
    requestedBy: state.requestedBy,
    createdAt: state.createdAt,
    updatedAt: state.updatedAt,
    endedAt: state.endedAt,
  };
}
type DeploymentHead = ReturnType<typeof headOf>;

/**
 * A wave as the detail view shows it: how many nodes it has and how many of them run the new
 * version, not their ids (a 10,000-node canary's waves named every node again; the nodes of one
 * wave are a page away, `?wave=`). Lists of deployments keep their own summary of waves.
 */
function waveView(w: DeploymentHead["waves"][number], updated: number) {
  const { nodeIds, ...rest } = w;
  const { index, label, ...after } = rest;
  return { index, label, nodeCount: nodeIds.length, updated, ...after };
}

/** A rollback as the detail view shows it: how many nodes it returns, not their ids (a page away: `?phase=rollingBack`, `rolledBack`, `rollbackFailed`). */
function rollbackView(r: NonNullable<DeploymentHead["rollback"]>) {
  const { nodeIds, startedAt, completedAt, ...rest } = r;
  return { ...rest, nodeCount: nodeIds.length, startedAt, completedAt };
}

/** The head with `nodes` (one page of them, its cursor and the counts) in place, after waves, as the API has always ordered the fields. */
// (frozen arrays typed as mutable, as the deeply frozen stored documents always were)
function withNodes(head: Partial<DeploymentHead>, stateWaves: readonly { updated: number }[], page: NodePage) {
  const { waves, servingColor, artifact, rollback, failureReason, failedNodeIds, approval, requesterEmail, requestedBy, createdAt, updatedAt, endedAt, ...before } = head as DeploymentHead;
  return {
    ...before,
    waves: waves.map((w, i) => waveView(w, stateWaves[i]?.updated ?? 0)),
    nodes: page.nodes as NodeView[],
    nodesNextCursor: page.next,
    nodeCounts: page.counts,
    servingColor,
    artifact,
    rollback: rollback && rollbackView(rollback),
    failureReason,
    failedNodeIds,
    approval,
    requesterEmail,
    requestedBy,
    createdAt,
    updatedAt,
    endedAt,
  };
}

/**
 * The deployment as the API shows it (GET /api/v1/deployments/{id}), from a folded state (time
 * travel); one page of its nodes as the stored document's would be (every node without a limit).
 */
export function toDeploymentView(state: DeploymentState, options: NodePageOptions = {}): DeploymentView {
  const view = findDeploymentViewOfState(state, options);
  if (!view) throw new RangeError("the cursor names no node of this deployment");
  return view;
}
export type DeploymentView = ReturnType<typeof withNodes>;

/** state.nodes in map order, NODES_PER_PAGE to a page (the last one shorter), each page frozen. */
export type NodePages = readonly (readonly NodeState[])[];

// ---------------------------------------------------------------------------------------------
// Pages of the view's nodes. The view's `nodes` are the planned nodes (wave >= 0) in the map's
// order, which is fixed once the deployment is planned (DeploymentPlanned makes the map; later
// events replace a node's state, never add or remove one). A page is served from the stored pages
// without viewing the nodes before it: each stored page's tally (its planned nodes, per phase, per
// wave) is made once per page version and shared by the documents that keep that page.

export const NODE_PHASES: readonly NodePhase[] = Object.freeze(["pending", "installing", "updated", "failed", "rollingBack", "rolledBack", "rollbackFailed"]);
/** planned nodes in all and per phase */
export type NodeCounts = { total: number } & Record<NodePhase, number>;

/**
 * Where a page starts: after the view's first `after` nodes, the last of which is `nodeId`; on
 * the wire base64url JSON [after, nodeId]. The id makes a cursor of another deployment (or a
 * forged one) a refusal rather than a page of something else.
 */
interface NodeCursor {
  after: number;
  nodeId: string;
}
function encodeNodeCursor(c: NodeCursor): string {
  return Buffer.from(JSON.stringify([c.after, c.nodeId])).toString("base64url");
}
function decodeNodeCursor(cursor: string): NodeCursor | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString());
    if (Array.isArray(v) && v.length === 2 && Number.isSafeInteger(v[0]) && typeof v[1] === "string") return { after: v[0] as number, nodeId: v[1] };
  } catch {
    // not a cursor
  }
  return undefined;
}
export interface NodePageOptions {
  /** nodes per page; absent: every node (that matches) */
  limit?: number;
  /** the previous page's `next`; one that names no node of this view is refused (an undefined answer) */
  cursor?: string;
  /** only nodes in this phase */
  phase?: NodePhase;
  /** only nodes of this wave (its index) */
  wave?: number;
}
export interface NodePage {
  nodes: readonly NodeView[];
  /** the cursor of the next page; null on the last */
  next: string | null;
  counts: NodeCounts;
}

interface Tally {
  planned: number;
  phases: Record<NodePhase, number>;
  waves: Map<number, number>;
}
const zeroPhases = (): Record<NodePhase, number> => ({ pending: 0, installing: 0, updated: 0, failed: 0, rollingBack: 0, rolledBack: 0, rollbackFailed: 0 });
const tallies = new WeakMap<readonly NodeState[], Tally>();
function tallyOf(page: readonly NodeState[]): Tally {
  let tally = tallies.get(page);
  if (!tally) {
    tally = { planned: 0, phases: zeroPhases(), waves: new Map() };
    for (const n of page) {
      if (n.wave < 0) continue;
      tally.planned++;
      tally.phases[n.phase]++;
      tally.waves.set(n.wave, (tally.waves.get(n.wave) ?? 0) + 1);
    }
    if (Object.isFrozen(page)) tallies.set(page, tally);
  }
  return tally;
}

interface Index {
  /** planned nodes before each page */
  starts: number[];
  counts: NodeCounts;
}
const indexes = new WeakMap<NodePages, Index>();
function indexOf(pages: NodePages): Index {
  let index = indexes.get(pages);
  if (!index) {
    const starts: number[] = [];
    const counts: NodeCounts = { total: 0, ...zeroPhases() };
    for (const page of pages) {
      starts.push(counts.total);
      const t = tallyOf(page);
      counts.total += t.planned;
      for (const p of NODE_PHASES) counts[p] += t.phases[p];
    }
    index = { starts, counts: Object.freeze(counts) };
    if (Object.isFrozen(pages)) indexes.set(pages, index);
  }
  return index;
}

/** how many of a page's planned nodes the filter keeps (an upper bound of 0 lets the walk skip it) */
function matchesIn(t: Tally, o: NodePageOptions): number {
  if (o.phase !== undefined && o.wave !== undefined) return Math.min(t.phases[o.phase], t.waves.get(o.wave) ?? 0);
  if (o.phase !== undefined) return t.phases[o.phase];
  if (o.wave !== undefined) return t.waves.get(o.wave) ?? 0;
  return t.planned;
}
const matches = (n: NodeState, o: NodePageOptions) => n.wave >= 0 && (o.phase === undefined || n.phase === o.phase) && (o.wave === undefined || n.wave === o.wave);

/** The stored page and the place in it of the view's node number `i` (0-based). */
function locate(pages: NodePages, starts: readonly number[], i: number): { p: number; k: number } {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (starts[mid]! <= i) lo = mid;
    else hi = mid - 1;
  }
  const page = pages[lo]!;
  let skip = i - starts[lo]!;
  for (let k = 0; k < page.length; k++) {
    if (page[k]!.wave < 0) continue;
    if (skip-- === 0) return { p: lo, k };
  }
  throw new Error("node index out of range");
}

/**
 * One page of the view's nodes of stored pages, in the view's order: after the cursor, up to
 * `limit` of those the filter keeps; `next` names the last one served when more are left. The
 * counts are of every planned node. Undefined when the cursor names no node of these pages (a
 * request's 400).
 */
function findNodePage(pages: NodePages, options: NodePageOptions = {}): NodePage | undefined {
  const { starts, counts } = indexOf(pages);
  let p = 0;
  let k = 0;
  let at = 0;
  if (options.cursor !== undefined) {
    const cursor = decodeNodeCursor(options.cursor);
    if (!cursor) return undefined;
    const { after, nodeId } = cursor;
    if (after < 1 || after > counts.total) return undefined;
    const last = locate(pages, starts, after - 1);
    if (pages[last.p]![last.k]!.nodeId !== nodeId) return undefined;
    ({ p, k } = last);
    k++;
    at = after;
  }
  // at least one node a page: a page of none would name no node to go on from
  const limit = Math.max(1, options.limit ?? Infinity);
  const out: NodeView[] = [];
  let lastAt = at;
  for (; p < pages.length; p++, k = 0) {
    const stored = pages[p]!;
    if (matchesIn(tallyOf(stored), options) === 0) {
      // none here: count the page's planned nodes from where the walk stands and go on
      at = starts[p + 1] ?? counts.total;
      continue;
    }
    for (; k < stored.length; k++) {
      const n = stored[k]!;
      if (n.wave < 0) continue;
      at++;
      if (!matches(n, options)) continue;
      if (out.length === limit) {
        const last = out.at(-1)!;
        return { nodes: Object.freeze(out), next: encodeNodeCursor({ after: lastAt, nodeId: last.nodeId }), counts };
      }
      out.push(nodeView(n));
      lastAt = at;
    }
  }
  return { nodes: Object.freeze(out), next: null, counts };
}

/** Pages of a node list as the projection stores them (time travel pages its fold's nodes the same way). */
function pagesOfList(all: readonly NodeState[]): NodePages {
  const pages: (readonly NodeState[])[] = [];
  for (let i = 0; i < all.length; i += NODES_PER_PAGE) pages.push(Object.freeze(all.slice(i, i + NODES_PER_PAGE)));
  return Object.freeze(pages);
}

/** The folded state as stored: its nodes are in the document's nodePages. */
export type StoredDeploymentState = Omit<DeploymentState, "nodes">;

/**
 * The stored document (v4): the API view at the top (queryable) without its `nodes`, the folded
 * state beside it without its nodes, and the nodes in pages. A write of a ten-thousand-node
 * deployment used to copy, freeze and view every node (5-10 ms, many times a second in a canary);
 * now it replaces the pages its changed nodes are in and the memory store shares the rest.
 * Read it through deploymentViewOf.
 */
export interface DeploymentDoc extends ProjectedDoc, DeploymentHead {
  tenantId: string;
  /** between an apply and the write that finishes it, the working state with its nodes */
  state: StoredDeploymentState;
  nodePages: NodePages;
}

/**
 * Nodes per page: a write rebuilds each page one of its changed nodes is in and passes over the
 * others one look each, so a page of ~sqrt(10,000) keeps both small at the scale this is for.
 */
const NODES_PER_PAGE = 128;
const NO_PAGES: NodePages = Object.freeze([]);

/**
 * The API view of a stored document (any projection of it that kept nodePages, state.waves and the
 * view fields) with one page of its nodes (every node without a limit); undefined when the
 * cursor names no node of it.
 */
export function findDeploymentView(doc: DeploymentDoc, options: NodePageOptions = {}): DeploymentView | undefined {
  const { _id, lastPosition, state, tenantId, nodePages, ...head } = doc;
  const page = findNodePage(nodePages ?? NO_PAGES, options);
  return page && (withNodes(head, state?.waves ?? [], page) as DeploymentView);
}

/** findDeploymentView of a request without a cursor (or one known to be good). */
export function deploymentViewOf(doc: DeploymentDoc, options: NodePageOptions = {}): DeploymentView {
  const view = findDeploymentView(doc, options);
  if (!view) throw new RangeError("the cursor names no node of this deployment");
  return view;
}

/** toDeploymentView, or undefined when the cursor names no node of the folded state. */
export function findDeploymentViewOfState(state: DeploymentState, options: NodePageOptions = {}): DeploymentView | undefined {
  const page = findNodePage(pagesOfList(Object.values(state.nodes)), options);
  return page && withNodes(headOf(state), state.waves, page);
}

/** The folded state of a stored document, its nodes back in one map (a copy: the document is untouched). */
export function deploymentStateOf(doc: DeploymentDoc): DeploymentState {
  return { ...doc.state, nodes: nodesFromPages(doc.nodePages).nodes };
}

// ---------------------------------------------------------------------------------------------
// From one write to the next without a walk over the nodes. `finish` leaves the nodes map the
// batch folded into (ownership passes with it) under the pages it wrote; the next apply to the
// document holding those pages takes the map back, once, and folds on in place. The fold logs
// which nodes it changed (trackNodeChanges), so the next finish replaces only their pages. A
// document whose map is not here (another process wrote it, a restart, MongoDB's copies, the same
// pages taken already) gets a map rebuilt from its pages: one walk, as every write used to cost.

interface Layout {
  /** each node's place in the map's order */
  order: Map<string, number>;
  /** the pages the map's changes are counted from */
  base: NodePages;
  /** nodes changed in place since `base` */
  changed: Set<string>;
}
const layouts = new WeakMap<Record<string, NodeState>, Layout>();
/** the map last finished into these pages, waiting for the next apply */
const parked = new WeakMap<NodePages, Record<string, NodeState>>();
/** the pages a map was last finished into: a map parked under older pages is not handed out for them */
const latest = new WeakMap<Record<string, NodeState>, NodePages>();

function nodesFromPages(pages: NodePages): { nodes: Record<string, NodeState>; order: Map<string, number> } {
  const nodes: Record<string, NodeState> = {};
  const order = new Map<string, number>();
  for (const page of pages) for (const n of page) {
    order.set(n.nodeId, order.size);
    putOwn(nodes, n.nodeId, n);
  }
  return { nodes, order };
}

/** The nodes map of stored pages for a fold to own: the parked one, or one rebuilt. */
function takeNodes(pages: NodePages): Record<string, NodeState> {
  const nodes = parked.get(pages);
  const layout = nodes && layouts.get(nodes);
  parked.delete(pages);
  if (nodes && layout && latest.get(nodes) === pages) {
    latest.delete(nodes);
    layout.base = pages;
    layout.changed.clear();
    return nodes;
  }
  const rebuilt = nodesFromPages(pages);
  layouts.set(rebuilt.nodes, { order: rebuilt.order, base: pages, changed: trackNodeChanges(rebuilt.nodes) });
  return rebuilt.nodes;
}

/** Pages of `nodes`: `base` with the pages of the changed nodes replaced, or all made afresh. */
function pagesOf(nodes: Record<string, NodeState>, base: NodePages): NodePages {
  const layout = layouts.get(nodes);
  if (layout && layout.base === base) {
    if (layout.changed.size === 0) return base;
    const replaced = new Map<number, NodeState[]>();
    for (const id of layout.changed) {
      const at = layout.order.get(id);
      if (at === undefined) return allPages(nodes);
      const p = Math.floor(at / NODES_PER_PAGE);
      let page = replaced.get(p);
      if (!page) replaced.set(p, (page = base[p]!.slice()));
      page[at % NODES_PER_PAGE] = own(nodes, id)!;
    }
    const out = base.slice();
    for (const [p, page] of replaced) out[p] = Object.freeze(page);
    return Object.freeze(out);
  }
  return allPages(nodes);
}

function allPages(nodes: Record<string, NodeState>): NodePages {
  const all = Object.values(nodes);
  const pages: (readonly NodeState[])[] = [];
  for (let i = 0; i < all.length; i += NODES_PER_PAGE) pages.push(Object.freeze(all.slice(i, i + NODES_PER_PAGE)));
  const out = Object.freeze(pages);
  // the map's layout, for the writes after this one (base is set when an apply takes the map)
  if (!layouts.has(nodes)) layouts.set(nodes, { order: new Map(Object.keys(nodes).map((id, i) => [id, i])), base: out, changed: trackNodeChanges(nodes) });
  else layouts.get(nodes)!.base = out;
  layouts.get(nodes)!.changed.clear();
  return out;
}

/** A document between apply and finish carries its working state, nodes included. */
const isWorking = (state: StoredDeploymentState): state is DeploymentState => Object.hasOwn(state, "nodes");

const types: ReadonlySet<string> = new Set(deploymentEventTypes);

export const isDeploymentEvent = (event: { type: string; streamId: string }) =>
  event.streamId.startsWith(streamPrefixes.deployment) && types.has(event.type);

export const deploymentsProjection: Projection<DeploymentDoc> = {
  name: "deployments",
  // 2: the stored state carries nodeCounts; 3: nodeCounts.inFlight and failed, WaveState.updated;
  // 4: nodes out of state and view, in nodePages
  version: 4,
  collection: "deployments",
  filter: { streamPrefixes: [streamPrefixes.deployment], eventTypes: [...deploymentEventTypes] },
  keys: (event: RecordedEvent) => (isDeploymentEvent(event) ? [streamKey(event.streamId)] : []),
  apply(doc, event) {
    if (!isDeploymentEvent(event)) return doc;
    // The event log validated and upcast `data` against this type's schema before we see it.
    const domainEvent = { type: event.type, data: event.data } as DeploymentEvent;
    if (!doc) {
      const state = evolveDeployment(initialDeploymentState, domainEvent);
      return { _id: streamKey(event.streamId), tenantId: event.metadata.tenantId, ...headOf(state), state, nodePages: NO_PAGES };
    }
    // The working state is this projection's own: the nodes map an earlier apply of the batch
    // folded into, or the one taken back for the stored pages (the fold goes on in place).
    const working: DeploymentState = isWorking(doc.state) ? doc.state : { ...doc.state, nodes: takeNodes(doc.nodePages) };
    return { ...doc, state: foldDeployment(working, [domainEvent], { ownsNodes: true }) };
  },
  // the view and the pages: once per stored document, not once per event
  finish(doc) {
    if (!isWorking(doc.state)) return doc;
    const { nodes, ...state } = doc.state;
    // the working doc still names the pages its batch started from; the changes are counted from them
    const nodePages = pagesOf(nodes, doc.nodePages);
    // a finished deployment rarely hears of again (a rollback): its pages are all it keeps
    if (!isTerminal(state.status)) {
      parked.set(nodePages, nodes);
      latest.set(nodes, nodePages);
    }
    return { ...doc, ...headOf(state), state, nodePages };
  },
};
