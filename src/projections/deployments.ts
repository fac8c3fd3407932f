import { deploymentProgress, evolveDeployment, foldDeployment, initialDeploymentState, isTerminal, trackNodeChanges, type DeploymentState, type NodeState } from "../commands/deployment.js";
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

/** The head with `nodes` in its place (after waves), as the API has always ordered the fields. */
// (frozen arrays typed as mutable, as the deeply frozen stored documents always were)
function withNodes(head: Partial<DeploymentHead>, nodes: NodeView[]) {
  const { servingColor, artifact, rollback, failureReason, failedNodeIds, approval, requesterEmail, requestedBy, createdAt, updatedAt, endedAt, ...before } = head as DeploymentHead;
  return { ...before, nodes, servingColor, artifact, rollback, failureReason, failedNodeIds, approval, requesterEmail, requestedBy, createdAt, updatedAt, endedAt };
}

/** The deployment as the API shows it (GET /api/v1/deployments/{id}), from a folded state (time travel). */
export function toDeploymentView(state: DeploymentState) {
  return withNodes(headOf(state), Object.values(state.nodes).filter((n) => n.wave >= 0).map(nodeView));
}
export type DeploymentView = ReturnType<typeof toDeploymentView>;

/** state.nodes in map order, NODES_PER_PAGE to a page (the last one shorter), each page frozen. */
export type NodePages = readonly (readonly NodeState[])[];

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

const nodeLists = new WeakMap<NodePages, NodeView[]>();
/** The API's `nodes` (planned nodes, in map order) of stored pages; made once per pages. */
function nodeViewsOf(pages: NodePages): NodeView[] {
  let views = nodeLists.get(pages);
  if (!views) {
    const out: NodeView[] = [];
    for (const page of pages) for (const n of page) if (n.wave >= 0) out.push(nodeView(n));
    views = Object.freeze(out) as NodeView[];
    nodeLists.set(pages, views);
  }
  return views;
}

/** The API view of a stored document (any projection of it that kept nodePages and the view fields). */
export function deploymentViewOf(doc: DeploymentDoc): DeploymentView {
  const { _id, lastPosition, state, tenantId, nodePages, ...head } = doc;
  return withNodes(head, nodeViewsOf(nodePages ?? NO_PAGES)) as DeploymentView;
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
