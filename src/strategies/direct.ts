import { byNodeId, type DeploymentPlan, type PlanNode } from "./plan-types.js";

/** Every node at once, in one wave. */
export function planDirect(nodes: readonly PlanNode[]): DeploymentPlan {
  const nodeIds = [...nodes].sort(byNodeId).map((n) => n.nodeId);
  return { waves: nodeIds.length ? [{ index: 0, nodeIds, label: `all ${nodeIds.length} node(s)` }] : [] };
}
