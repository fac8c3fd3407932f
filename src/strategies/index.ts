import { planBlueGreen } from "./blue-green.js";
import { planCanary } from "./canary.js";
import { planDirect } from "./direct.js";
import type { Color, DeploymentPlan, PlanNode } from "./plan-types.js";
import { planRolling } from "./rolling.js";
import type { StrategyName, StrategySettings } from "./settings.js";

export type { BlueGreenLayout, Color, DeploymentPlan, PlanNode, Wave } from "./plan-types.js";
export { canaryTargets } from "./canary.js";

/** Pure and deterministic: the same nodes (in any order) and settings give the same plan. */
export function plan(
  strategy: StrategyName,
  nodes: readonly PlanNode[],
  settings: StrategySettings,
  options: { activeColor?: Color } = {},
): DeploymentPlan {
  switch (strategy) {
    case "Direct":
      return planDirect(nodes);
    case "Rolling":
      return planRolling(nodes, settings);
    case "BlueGreen":
      return planBlueGreen(nodes, options.activeColor);
    case "Canary":
      return planCanary(nodes, settings);
  }
}

/** How many node updates may be in flight at once (rollbacks included). */
export function maxConcurrentUpdates(strategy: StrategyName, settings: StrategySettings): number {
  return strategy === "Rolling" ? settings.maxUnavailable : Number.POSITIVE_INFINITY;
}
