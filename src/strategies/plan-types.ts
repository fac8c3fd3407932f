import { z } from "zod";

export const ColorSchema = z.enum(["blue", "green"]);
export type Color = z.infer<typeof ColorSchema>;

/** A node as the planner sees it: its current version of the module (null: not installed). */
export interface PlanNode {
  nodeId: string;
  version: string | null;
  color?: Color;
}

export const WaveSchema = z.object({
  index: z.number().int().min(0),
  nodeIds: z.array(z.string()),
  label: z.string(),
});
export type Wave = z.infer<typeof WaveSchema>;

export const BlueGreenLayoutSchema = z.object({
  activeColor: ColorSchema,
  idleColor: ColorSchema,
  /** every planned node's color, including ones the planner just assigned */
  colors: z.record(z.string(), ColorSchema),
});
export type BlueGreenLayout = z.infer<typeof BlueGreenLayoutSchema>;

export interface DeploymentPlan {
  waves: Wave[];
  /** blue-green only: which color serves now, which one receives the new version */
  blueGreen?: BlueGreenLayout;
}

export const byNodeId = (a: { nodeId: string }, b: { nodeId: string }) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0);
