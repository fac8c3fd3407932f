import { byNodeId, type Color, type DeploymentPlan, type PlanNode } from "./plan-types.js";

const other = (c: Color): Color => (c === "blue" ? "green" : "blue");

/**
 * Keeps known colors; splits uncolored nodes so both colors end up as even as possible.
 * A Map: node ids are names from the fleet, and none of them may reach Object.prototype.
 */
function assignColors(nodes: readonly PlanNode[]): Map<string, Color> {
  const sorted = [...nodes].sort(byNodeId);
  const colors = new Map<string, Color>();
  if (sorted.every((n) => !n.color)) {
    const half = Math.ceil(sorted.length / 2);
    sorted.forEach((n, i) => colors.set(n.nodeId, i < half ? "blue" : "green"));
    return colors;
  }
  const count = { blue: 0, green: 0 };
  for (const n of sorted) if (n.color) colors.set(n.nodeId, n.color), count[n.color]++;
  for (const n of sorted) {
    if (n.color) continue;
    const c: Color = count.blue <= count.green ? "blue" : "green";
    colors.set(n.nodeId, c);
    count[c]++;
  }
  return colors;
}

/**
 * One wave: the idle color. The active color keeps serving the old version until the process
 * switches traffic, and stays on it afterwards for an instant rollback.
 * The active color is the hint when given (the cluster knows it from the last TrafficSwitched),
 * else the color with more nodes running the module (blue on a tie). A color without nodes can
 * never be idle: a one-color cluster updates in place, with the empty color nominally active.
 */
export function planBlueGreen(nodes: readonly PlanNode[], activeHint?: Color): DeploymentPlan {
  if (nodes.length === 0) return { waves: [] };
  const colors = assignColors(nodes);
  const members = (c: Color) => [...colors].filter(([, color]) => color === c).map(([id]) => id).sort();
  const running = (c: Color) => nodes.filter((n) => colors.get(n.nodeId) === c && n.version !== null).length;
  let active: Color = activeHint ?? (running("green") > running("blue") ? "green" : "blue");
  if (members(other(active)).length === 0) active = other(active);
  const idle = other(active);
  const nodeIds = members(idle);
  return {
    waves: [{ index: 0, nodeIds, label: `${idle} (idle) color, ${nodeIds.length} node(s)` }],
    blueGreen: { activeColor: active, idleColor: idle, colors: Object.fromEntries(colors) },
  };
}
