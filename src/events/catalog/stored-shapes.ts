// The shapes events store, owned by the catalog. Events are a storage format: their schemas are
// frozen per schemaVersion, so they must not borrow the live domain and input schemas
// (src/strategies, src/fleet), whose rules (ranges, "minWaitMs <= maxWaitMs", "percentages
// increase") may be tightened by any release and would then make history unreadable. These are
// structural copies with every such rule removed: what was accepted once stays readable.
// Input is judged at the edge (HTTP schemas, deciders), never on read.
//
// Changing a shape here changes the storage format: widen only (a new optional field, a new enum
// value), or define a new schemaVersion with an upcaster. test/events/stored-schemas.test.ts
// checks at compile time that each shape still describes the live type.
import { z } from "zod";

export const EnvironmentShape = z.enum(["Development", "QA", "Staging", "Production"]);
export const StrategyNameShape = z.enum(["Direct", "Rolling", "BlueGreen", "Canary"]);
export const ColorShape = z.enum(["blue", "green"]);

export const WaveShape = z.object({ index: z.number(), nodeIds: z.array(z.string()), label: z.string() });

export const BlueGreenLayoutShape = z.object({
  activeColor: ColorShape,
  idleColor: ColorShape,
  colors: z.record(z.string(), ColorShape),
});

export const MetricNameShape = z.enum(["cpu", "memory", "latencyP95Ms", "errorRate", "errorRateIncrease", "latencyIncreaseRatio"]);

export const VerdictShape = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("stable"), reason: z.string() }),
  z.object({
    kind: z.literal("degraded"),
    nodeId: z.string(),
    metric: MetricNameShape,
    value: z.number(),
    threshold: z.number(),
    reason: z.string(),
  }),
  z.object({ kind: z.literal("insufficient_data"), reason: z.string() }),
]);

export const ThresholdsShape = z.object({
  maxCpu: z.number(),
  maxMemory: z.number(),
  maxLatencyP95Ms: z.number(),
  maxErrorRate: z.number(),
  maxErrorRateIncrease: z.number(),
  maxLatencyIncreaseRatio: z.number(),
  minSamplesPerNode: z.number(),
});

/** The settings a deployment was requested with, as resolved then. */
export const StrategySettingsShape = z.object({
  strategy: StrategyNameShape,
  batchSize: z.number(),
  maxUnavailable: z.number(),
  /** absent in deployments requested before it existed (they ran unbounded) */
  maxInFlight: z.number().optional(),
  canaryPercentages: z.array(z.number()),
  checkIntervalMs: z.number(),
  requiredStableChecks: z.number(),
  minWaitMs: z.number(),
  maxWaitMs: z.number(),
  analysisWindowMs: z.number(),
  installTimeoutMs: z.number(),
  progressDeadlineMs: z.number(),
  thresholds: ThresholdsShape,
  approval: z.object({ required: z.boolean(), timeoutMs: z.number(), allowSelfApproval: z.boolean() }),
});

/** A node's capacity as it registered (the agent protocol's limits are an input rule). */
export const CapacityShape = z.object({ cpuCores: z.number(), memoryMb: z.number() });
