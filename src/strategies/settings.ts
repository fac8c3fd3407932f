import { z } from "zod";
import { invalid } from "../commands/errors.js";
import { ThresholdsSchema } from "./health-analysis.js";

export const EnvironmentSchema = z.enum(["Development", "QA", "Staging", "Production"]);
export type Environment = z.infer<typeof EnvironmentSchema>;

export const StrategyNameSchema = z.enum(["Direct", "Rolling", "BlueGreen", "Canary"]);
export type StrategyName = z.infer<typeof StrategyNameSchema>;

const ms = z.number().int().min(0);

/** Cumulative canary percentages: strictly increasing, ending at 100. */
const CanaryPercentagesSchema = z
  .array(z.number().gt(0).max(100))
  .min(1)
  .refine((p) => p.every((v, i) => i === 0 || v > p[i - 1]!), "must be strictly increasing")
  .refine((p) => p[p.length - 1] === 100, "must end at 100");

export const StrategySettingsSchema = z
  .object({
    strategy: StrategyNameSchema,
    /** Rolling: nodes per batch; a health verdict is taken between batches */
    batchSize: z.number().int().min(1),
    /** Rolling: nodes being updated (out of service) at the same time, at most */
    maxUnavailable: z.number().int().min(1),
    /**
     * Every strategy: node updates (installs and rollbacks) outstanding at once, at most, so a wave
     * of thousands of nodes does not ask them all to download at the same instant (Nomad's
     * max_parallel). Absent in deployments requested before it existed: those were unbounded.
     */
    maxInFlight: z.number().int().min(1).optional(),
    canaryPercentages: CanaryPercentagesSchema,
    checkIntervalMs: ms.min(1),
    requiredStableChecks: z.number().int().min(1),
    minWaitMs: ms,
    maxWaitMs: ms.min(1),
    /** samples older than this (relative to the check) are ignored */
    analysisWindowMs: ms.min(1),
    /** an install (or rollback) with no outcome after this long counts as failed */
    installTimeoutMs: ms.min(1),
    /** counted from planning; a deployment still running then is rolled back and marked Failed */
    progressDeadlineMs: ms.min(1),
    thresholds: ThresholdsSchema,
    approval: z.object({
      required: z.boolean(),
      timeoutMs: ms.min(1),
      allowSelfApproval: z.boolean(),
    }),
  })
  .refine((s) => s.minWaitMs <= s.maxWaitMs, { message: "minWaitMs must not exceed maxWaitMs", path: ["minWaitMs"] })
  .refine((s) => s.strategy !== "Rolling" || s.maxInFlight === undefined || s.maxInFlight >= s.maxUnavailable, {
    message: "maxInFlight must be at least maxUnavailable, or a rolling update could never take maxUnavailable nodes out at once",
    path: ["maxInFlight"],
  })
  .refine((s) => s.checkIntervalMs * s.requiredStableChecks <= s.maxWaitMs, {
    message: "checkIntervalMs x requiredStableChecks must fit in maxWaitMs, or no wave could ever pass",
    path: ["maxWaitMs"],
  });
export type StrategySettings = z.infer<typeof StrategySettingsSchema>;

const productionThresholds = {
  maxCpu: 85,
  maxMemory: 90,
  maxLatencyP95Ms: 500,
  maxErrorRate: 0.05,
  maxErrorRateIncrease: 0.02,
  maxLatencyIncreaseRatio: 1.5,
  minSamplesPerNode: 3,
};

// Sensible for real clusters; short waits for development come from overrides, not from here.
const common = {
  batchSize: 2,
  maxUnavailable: 1,
  maxInFlight: 100,
  canaryPercentages: [10, 30, 50, 100],
  checkIntervalMs: 30_000,
  requiredStableChecks: 3,
  minWaitMs: 60_000,
  maxWaitMs: 15 * 60_000,
  analysisWindowMs: 2 * 60_000,
  installTimeoutMs: 5 * 60_000,
  progressDeadlineMs: 2 * 3600_000,
  thresholds: productionThresholds,
  approval: { required: false, timeoutMs: 24 * 3600_000, allowSelfApproval: false },
} satisfies Omit<StrategySettings, "strategy">;

export const defaultSettings: Record<Environment, StrategySettings> = {
  Development: { ...common, strategy: "Direct", minWaitMs: 0, requiredStableChecks: 1, checkIntervalMs: 10_000 },
  QA: { ...common, strategy: "Rolling", batchSize: 2, maxUnavailable: 1, requiredStableChecks: 2, minWaitMs: 30_000 },
  Staging: { ...common, strategy: "BlueGreen", approval: { ...common.approval, required: true } },
  Production: { ...common, strategy: "Canary", approval: { ...common.approval, required: true } },
};

/** What may be overridden: any field, thresholds and approval field by field. */
const SettingsOverrideSchema = z.strictObject({
  strategy: StrategyNameSchema.optional(),
  batchSize: z.number().int().min(1).optional(),
  maxUnavailable: z.number().int().min(1).optional(),
  maxInFlight: z.number().int().min(1).optional(),
  canaryPercentages: CanaryPercentagesSchema.optional(),
  checkIntervalMs: ms.min(1).optional(),
  requiredStableChecks: z.number().int().min(1).optional(),
  minWaitMs: ms.optional(),
  maxWaitMs: ms.min(1).optional(),
  analysisWindowMs: ms.min(1).optional(),
  installTimeoutMs: ms.min(1).optional(),
  progressDeadlineMs: ms.min(1).optional(),
  thresholds: ThresholdsSchema.partial().strict().optional(),
  approval: z.strictObject({ required: z.boolean(), timeoutMs: ms.min(1), allowSelfApproval: z.boolean() }).partial().optional(),
});
export type SettingsOverride = z.infer<typeof SettingsOverrideSchema>;

/** `"*"` applies to every environment, then the environment's own entry on top. */
export const StrategyOverridesSchema = z.strictObject({
  "*": SettingsOverrideSchema.optional(),
  Development: SettingsOverrideSchema.optional(),
  QA: SettingsOverrideSchema.optional(),
  Staging: SettingsOverrideSchema.optional(),
  Production: SettingsOverrideSchema.optional(),
});

function merge(base: StrategySettings, o: SettingsOverride | undefined): StrategySettings {
  if (!o) return base;
  const { thresholds, approval, ...flat } = o;
  const defined = Object.fromEntries(Object.entries(flat).filter(([, v]) => v !== undefined));
  return {
    ...base,
    ...defined,
    thresholds: { ...base.thresholds, ...thresholds },
    approval: { ...base.approval, ...approval },
  };
}

/**
 * The settings of one environment: defaults, then `base` (e.g. approval timeout and self-approval
 * from config), then the validated overrides (config's STRATEGY_SETTINGS JSON, parsed).
 * Throws a validation DomainError naming the offending paths.
 */
export function resolveSettings(
  environment: Environment,
  overrides: unknown,
  base: SettingsOverride = {},
): StrategySettings {
  const parsed = StrategyOverridesSchema.safeParse(overrides ?? {});
  if (!parsed.success) {
    throw invalid("invalid strategy settings", {
      issues: parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })),
    });
  }
  // typed, but callers may pass what a request said: an unknown name must not reach Object.prototype
  if (!Object.hasOwn(defaultSettings, environment)) throw invalid(`unknown environment ${String(environment)}`);
  const merged = merge(merge(merge(defaultSettings[environment], base), parsed.data["*"]), parsed.data[environment]);
  const checked = StrategySettingsSchema.safeParse(merged);
  if (!checked.success) {
    throw invalid(`invalid strategy settings for ${environment}`, {
      issues: checked.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })),
    });
  }
  return checked.data;
}
