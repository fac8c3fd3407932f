import type { StrategySettings } from "./settings.js";
import { byNodeId, type DeploymentPlan, type PlanNode } from "./plan-types.js";

/** How many nodes run the new version once each wave is done (cumulative, skipping empty waves). */
export function canaryTargets(nodeCount: number, percentages: readonly number[]): { percentage: number; total: number }[] {
  const out: { percentage: number; total: number }[] = [];
  let previous = 0;
  for (const percentage of percentages) {
    // At least one node in the first wave, so even a tiny cluster gets a real canary.
    const total = Math.min(nodeCount, Math.max(1, Math.ceil((nodeCount * percentage) / 100)));
    if (total > previous) out.push({ percentage, total });
    previous = Math.max(previous, total);
  }
  return out;
}

/** Cumulative waves by percentage; each wave lists only the nodes it adds. */
export function planCanary(nodes: readonly PlanNode[], settings: Pick<StrategySettings, "canaryPercentages">): DeploymentPlan {
  const ids = [...nodes].sort(byNodeId).map((n) => n.nodeId);
  if (ids.length === 0) return { waves: [] };
  let done = 0;
  const waves = canaryTargets(ids.length, settings.canaryPercentages).map(({ percentage, total }, index) => {
    const nodeIds = ids.slice(done, total);
    done = total;
    return { index, nodeIds, label: `${percentage}% (${total}/${ids.length} nodes)` };
  });
  return { waves };
}
