import { z } from "zod";
import { defineEvent, type EventsOf } from "./define.js";
import {
  BlueGreenLayoutShape,
  ColorShape,
  EnvironmentShape,
  MetricNameShape,
  StrategyNameShape,
  StrategySettingsShape,
  VerdictShape,
  WaveShape,
} from "./stored-shapes.js";

// Every time inside `data` is an ISO string handed in by the caller (a command's or the process's
// `now`), so folding the same events always yields the same state.
const iso = z.iso.datetime();

export const StageNameSchema = z.enum(["Validate", "Approval", "Plan", "Deploy", "Verify", "Complete", "Rollback"]);
export type StageName = z.infer<typeof StageNameSchema>;

export const UpdateKindSchema = z.enum(["install", "rollback", "remove"]);

/** Why a rollback started, as data; RollbackStarted.reason says it as a sentence. */
export const RollbackCauseSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("install_failed"), nodeId: z.string(), error: z.string() }),
  z.object({
    kind: z.literal("degraded"),
    wave: z.number().int(),
    nodeId: z.string(),
    metric: MetricNameShape,
    value: z.number(),
    threshold: z.number(),
  }),
  z.object({ kind: z.literal("not_stable"), wave: z.number().int(), lastVerdict: z.enum(["stable", "insufficient_data", "none"]), waitedMs: z.number() }),
  z.object({ kind: z.literal("verify_failed"), nodeIds: z.array(z.string()) }),
  z.object({ kind: z.literal("deadline"), deadlineAt: iso }),
  z.object({ kind: z.literal("manual"), by: z.string() }),
  z.object({ kind: z.literal("abort"), by: z.string() }),
  /** a wave was to start and its nodes no longer ran what the deployment needs (src/graph/wave-check.ts) */
  z.object({
    kind: z.literal("dependencies"),
    wave: z.number().int(),
    unsatisfied: z.array(z.object({ nodeId: z.string(), module: z.string(), range: z.string(), running: z.string().nullable() })),
    broken: z.array(z.object({ nodeId: z.string(), module: z.string(), version: z.string(), range: z.string() })),
  }),
]);
export type RollbackCause = z.infer<typeof RollbackCauseSchema>;

export const RollbackTriggerSchema = z.enum(["failure", "deadline", "manual", "abort"]);

/** An Admin's `force: true` past modules a deployment or rollback left without what they depend on. */
export const DependencyOverrideSchema = z.object({
  by: z.string(),
  dependents: z.array(
    z.object({ nodeId: z.string(), module: z.string(), version: z.string(), dependsOn: z.string(), range: z.string(), after: z.string().nullable() }),
  ),
});

export const deploymentEvents = [
  defineEvent(
    "DeploymentRequested",
    z.object({
      executionId: z.string().min(1),
      moduleName: z.string(),
      version: z.string(),
      targetEnvironment: EnvironmentShape,
      strategy: StrategyNameShape,
      requesterEmail: z.string(),
      /** username of the caller */
      requestedBy: z.string(),
      description: z.string().nullable(),
      /** what the version needs, declared with the request (a module not in the registry; absent in older events) */
      dependencies: z.array(z.object({ name: z.string(), range: z.string() })).optional(),
      dependencyOverride: DependencyOverrideSchema.optional(),
      /** resolved settings at request time: later config changes do not alter a running deployment */
      settings: StrategySettingsShape,
      requiresApproval: z.boolean(),
      approvalExpiresAt: iso.nullable(),
      at: iso,
      /**
       * The registered artifact the deployment is bound to and the verdict it relied on (nodes
       * install exactly these bytes). Absent for a module not in the registry (allowed only where
       * the policy does not enforce integrity) and in events from before signed modules.
       */
      artifact: z
        .object({ digest: z.string(), size: z.number(), status: z.string(), checks: z.record(z.string(), z.string()), level: z.string().nullable() })
        .optional(),
      /** the trust policy level applied and the failures it only logged */
      trust: z.object({ level: z.string().nullable(), logged: z.array(z.object({ check: z.string(), reason: z.string() })) }).optional(),
    }),
  ),
  defineEvent("StageStarted", z.object({ stage: StageNameSchema, at: iso, message: z.string() })),
  defineEvent(
    "StageCompleted",
    z.object({ stage: StageNameSchema, outcome: z.enum(["succeeded", "failed", "skipped"]), at: iso, message: z.string() }),
  ),
  /** a durable timer: the process expires the approval at expiresAt even after a restart */
  defineEvent("ApprovalRequested", z.object({ expiresAt: iso, at: iso })),
  defineEvent("ApprovalGranted", z.object({ by: z.string(), reason: z.string().nullable(), at: iso })),
  defineEvent("ApprovalRejected", z.object({ by: z.string(), reason: z.string(), at: iso })),
  defineEvent("ApprovalExpired", z.object({ expiresAt: iso, at: iso })),
  /** another deployment holds the cluster; this one waits */
  defineEvent("DeploymentQueued", z.object({ at: iso, message: z.string() })),
  defineEvent(
    "DeploymentPlanned",
    z.object({
      strategy: StrategyNameShape,
      waves: z.array(WaveShape),
      /** every planned node with the version it ran before (null: module not installed) */
      nodes: z.array(z.object({ nodeId: z.string(), previousVersion: z.string().nullable(), wave: z.number().int(), color: ColorShape.optional() })),
      /** offline nodes left alone */
      skippedNodeIds: z.array(z.string()),
      blueGreen: BlueGreenLayoutShape.optional(),
      /** a durable timer: progress deadline */
      deadlineAt: iso,
      at: iso,
    }),
  ),
  defineEvent("WaveStarted", z.object({ wave: z.number().int(), nodeIds: z.array(z.string()), at: iso })),
  defineEvent(
    "NodeUpdateRequested",
    z.object({
      nodeId: z.string(),
      assignmentId: z.string(),
      moduleName: z.string(),
      fromVersion: z.string().nullable(),
      /** null with kind "remove" */
      toVersion: z.string().nullable(),
      kind: UpdateKindSchema,
      /** an install of a registered module: the bytes the node must fetch and check */
      artifact: z.object({ digest: z.string(), size: z.number() }).optional(),
      /** the outcome must arrive before this, or the update counts as failed */
      timeoutAt: iso,
      at: iso,
    }),
  ),
  defineEvent(
    "NodeUpdated",
    z.object({ nodeId: z.string(), assignmentId: z.string(), version: z.string(), durationMs: z.number().optional(), at: iso }),
  ),
  defineEvent("NodeUpdateFailed", z.object({ nodeId: z.string(), assignmentId: z.string(), error: z.string(), at: iso })),
  defineEvent(
    "HealthCheckRecorded",
    z.object({
      wave: z.number().int(),
      verdict: VerdictShape,
      consecutiveStable: z.number().int().min(0),
      at: iso,
      /** a durable timer; null when this check ends the wait */
      nextCheckAt: iso.nullable(),
    }),
  ),
  defineEvent("WaveCompleted", z.object({ wave: z.number().int(), at: iso, message: z.string() })),
  defineEvent("TrafficSwitched", z.object({ from: ColorShape, to: ColorShape, at: iso, reason: z.string() })),
  defineEvent("DeploymentPaused", z.object({ by: z.string(), at: iso })),
  /** the progress deadline moves by the time spent paused */
  defineEvent("DeploymentResumed", z.object({ by: z.string(), at: iso, deadlineAt: iso.nullable() })),
  defineEvent(
    "RollbackStarted",
    z.object({
      trigger: RollbackTriggerSchema,
      reason: z.string(),
      cause: RollbackCauseSchema,
      /** every node this deployment touched: each returns to its previous version */
      nodeIds: z.array(z.string()),
      dependencyOverride: DependencyOverrideSchema.optional(),
      at: iso,
    }),
  ),
  defineEvent("NodeRolledBack", z.object({ nodeId: z.string(), assignmentId: z.string(), version: z.string().nullable(), at: iso })),
  defineEvent("NodeRollbackFailed", z.object({ nodeId: z.string(), assignmentId: z.string(), error: z.string(), at: iso })),
  defineEvent("DeploymentSucceeded", z.object({ at: iso, message: z.string() })),
  defineEvent("DeploymentFailed", z.object({ at: iso, reason: z.string(), failedNodeIds: z.array(z.string()) })),
  defineEvent("DeploymentRolledBack", z.object({ at: iso, reason: z.string() })),
  defineEvent("DeploymentCancelled", z.object({ at: iso, by: z.string(), reason: z.string() })),
  defineEvent("DeploymentRejected", z.object({ at: iso, by: z.string().nullable(), reason: z.string() })),
] as const;

export type DeploymentEvent = EventsOf<typeof deploymentEvents>;
export type DeploymentEventType = DeploymentEvent["type"];
export type DeploymentEventOf<T extends DeploymentEventType> = Extract<DeploymentEvent, { type: T }>;
export const deploymentEventTypes: readonly DeploymentEventType[] = deploymentEvents.map((d) => d.type);
