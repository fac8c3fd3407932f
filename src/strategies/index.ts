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

/**
 * How many node updates may be in flight at once (rollbacks included): maxInFlight for every
 * strategy (none when the deployment predates it), and a rolling update's maxUnavailable below it.
 */
export function maxConcurrentUpdates(strategy: StrategyName, settings: Pick<StrategySettings, "maxUnavailable" | "maxInFlight">): number {
  const bound = settings.maxInFlight ?? Number.POSITIVE_INFINITY;
  return strategy === "Rolling" ? Math.min(settings.maxUnavailable, bound) : bound;
}
