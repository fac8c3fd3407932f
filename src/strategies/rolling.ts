import type { StrategySettings } from "./settings.js";
import { byNodeId, type DeploymentPlan, type PlanNode } from "./plan-types.js";

/**
 * Batches of batchSize nodes with a health verdict between them. Within a batch the process
 * updates at most maxUnavailable nodes at a time (see maxConcurrentUpdates), so batchSize sets how
 * often we look at the evidence and maxUnavailable how much capacity may be missing.
 */
export function planRolling(nodes: readonly PlanNode[], settings: Pick<StrategySettings, "batchSize">): DeploymentPlan {
  const ids = [...nodes].sort(byNodeId).map((n) => n.nodeId);
  const batches = Math.ceil(ids.length / settings.batchSize);
  const waves = Array.from({ length: batches }, (_, index) => {
    const nodeIds = ids.slice(index * settings.batchSize, (index + 1) * settings.batchSize);
    return { index, nodeIds, label: `batch ${index + 1}/${batches} (${nodeIds.length} node(s))` };
  });
  return { waves };
}
