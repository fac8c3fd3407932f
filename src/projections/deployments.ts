import { deploymentProgress, evolveDeployment, foldDeployment, initialDeploymentState, type DeploymentState, type NodeState } from "../commands/deployment.js";
import { deploymentEventTypes, type DeploymentEvent } from "../events/catalog/deployment.js";
import type { RecordedEvent } from "../events/envelope.js";
import { streamKey, streamPrefixes } from "../events/streams.js";
import type { ProjectedDoc, Projection } from "./projection.js";

type NodeView = Readonly<Pick<NodeState, "nodeId" | "wave" | "color" | "previousVersion" | "phase" | "error">>;

/**
 * A node's entry in the view, made once per node state (the fold replaces a node's state when it
 * changes, never edits it) and frozen: a view rebuilt after a batch of events shares every entry
 * that did not change, and the memory store shares frozen parts instead of copying them.
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

/** The deployment as the API shows it (GET /api/v1/deployments/{id}). */
export function toDeploymentView(state: DeploymentState) {
  const planned = Object.values(state.nodes).filter((n) => n.wave >= 0);
  const progress = deploymentProgress(state);
  return {
    executionId: state.executionId,
    moduleName: state.moduleName,
    version: state.version,
    targetEnvironment: state.targetEnvironment,
    strategy: state.strategy,
    status: state.status,
    progress,
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
    nodes: planned.map(nodeView),
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
export type DeploymentView = ReturnType<typeof toDeploymentView>;

/** The stored document: the API view at the top (queryable), the folded state beside it. */
export interface DeploymentDoc extends ProjectedDoc, DeploymentView {
  tenantId: string;
  state: DeploymentState;
}

const types: ReadonlySet<string> = new Set(deploymentEventTypes);

export const isDeploymentEvent = (event: { type: string; streamId: string }) =>
  event.streamId.startsWith(streamPrefixes.deployment) && types.has(event.type);

export const deploymentsProjection: Projection<DeploymentDoc> = {
  name: "deployments",
  // 2: the stored state carries nodeCounts; 3: nodeCounts.inFlight and failed, WaveState.updated
  version: 3,
  collection: "deployments",
  filter: { streamPrefixes: [streamPrefixes.deployment], eventTypes: [...deploymentEventTypes] },
  keys: (event: RecordedEvent) => (isDeploymentEvent(event) ? [streamKey(event.streamId)] : []),
  apply(doc, event) {
    if (!isDeploymentEvent(event)) return doc;
    // The event log validated and upcast `data` against this type's schema before we see it.
    const domainEvent = { type: event.type, data: event.data } as DeploymentEvent;
    // The state is this projection's own: what the store gave is frozen (the fold copies its nodes
    // once), what an earlier apply of the same batch made is not (the fold goes on in place).
    if (doc) return { ...doc, state: foldDeployment(doc.state, [domainEvent], { ownsNodes: true }) };
    const state = evolveDeployment(initialDeploymentState, domainEvent);
    return { _id: streamKey(event.streamId), tenantId: event.metadata.tenantId, ...toDeploymentView(state), state };
  },
  // the view walks every node: once per stored document, not once per event
  finish: (doc) => ({ ...doc, ...toDeploymentView(doc.state) }),
};
