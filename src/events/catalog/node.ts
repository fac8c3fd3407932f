import { z } from "zod";
import { defineEvent, type EventsOf } from "./define.js";
import { CapacityShape, EnvironmentShape } from "./stored-shapes.js";

// Times inside `data` come from the command's `now`, so folding the same events gives the same state.
const iso = z.iso.datetime();

export const NodeStatusSchema = z.enum(["Healthy", "Unhealthy", "Offline"]);
export type NodeStatus = z.infer<typeof NodeStatusSchema>;

// CapacitySchema, LabelsSchema and ModulesSchema are the agent protocol's input rules (src/fleet/protocol.ts):
// events store the structural shapes from stored-shapes.ts, so tightening these never re-judges history.
export const CapacitySchema = z.object({
  cpuCores: z.number().int().min(1).max(4096),
  memoryMb: z.number().int().min(1).max(1 << 30),
});
export type Capacity = z.infer<typeof CapacitySchema>;

/** Kubernetes-like label keys and values: short, printable, no surprises in queries. */
export const LabelsSchema = z
  .record(z.string().regex(/^[A-Za-z0-9][\w./-]{0,62}$/, "label keys: 1-63 of [A-Za-z0-9_./-]"), z.string().max(63))
  .refine((l) => Object.keys(l).length <= 32, "at most 32 labels");

export const ModuleNameSchema = z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,127}$/i, "module names: 1-128 of [A-Za-z0-9_.-]");
export const ModuleVersionSchema = z.string().min(1).max(128);
/** what a node runs: module name -> version */
export const ModulesSchema = z
  .record(ModuleNameSchema, ModuleVersionSchema)
  .refine((m) => Object.keys(m).length <= 256, "at most 256 modules");

export const nodeEvents = [
  defineEvent(
    "NodeRegistered",
    z.object({
      nodeId: z.string().min(1),
      environment: EnvironmentShape,
      hostname: z.string(),
      capacity: CapacityShape,
      labels: z.record(z.string(), z.string()),
      /** what the node said it already runs when it registered */
      modules: z.record(z.string(), z.string()),
      at: iso,
    }),
  ),
  /** a re-registration that changed what the node says about itself */
  defineEvent(
    "NodeDetailsChanged",
    z.object({ nodeId: z.string(), capacity: CapacityShape, labels: z.record(z.string(), z.string()), at: iso }),
  ),
  defineEvent("NodeDeregistered", z.object({ nodeId: z.string(), reason: z.string(), at: iso })),
  /**
   * The node holds a new credential: at its first registration, or when a registration claimed it
   * after an Admin reset (or a node registered before credentials existed). Only the SHA-256 of the
   * secret is kept; `generation` grows with every credential change, and node tokens carry it.
   */
  defineEvent(
    "NodeCredentialIssued",
    z.object({ nodeId: z.string(), secretHash: z.string().regex(/^[0-9a-f]{64}$/), generation: z.number().int().min(1), at: iso }),
  ),
  /** An Admin revoked the node's credential: its secret and tokens stop working; the next registration claims the node. */
  defineEvent("NodeCredentialReset", z.object({ nodeId: z.string(), generation: z.number().int().min(1), at: iso })),
  defineEvent(
    "NodeBecameUnhealthy",
    z.object({ nodeId: z.string(), lastSeenAt: iso, reason: z.string(), at: iso }),
  ),
  defineEvent("NodeWentOffline", z.object({ nodeId: z.string(), lastSeenAt: iso, at: iso })),
  defineEvent("NodeRecovered", z.object({ nodeId: z.string(), previousStatus: NodeStatusSchema.exclude(["Healthy"]), at: iso })),
  defineEvent(
    "ModuleInstalled",
    z.object({
      nodeId: z.string(),
      moduleName: z.string(),
      version: z.string(),
      assignmentId: z.string(),
      durationMs: z.number().min(0),
      at: iso,
      /** "sha256:<hex>" of the bytes the node installed, as it reported them (a registered module's artifact) */
      digest: z.string().optional(),
    }),
  ),
  defineEvent(
    "ModuleInstallFailed",
    z.object({
      nodeId: z.string(),
      moduleName: z.string(),
      /** the version that was asked for; null when a removal failed */
      version: z.string().nullable(),
      assignmentId: z.string(),
      error: z.string(),
      durationMs: z.number().min(0),
      at: iso,
    }),
  ),
  defineEvent(
    "ModuleRemoved",
    z.object({ nodeId: z.string(), moduleName: z.string(), assignmentId: z.string(), durationMs: z.number().min(0), at: iso }),
  ),
] as const;

export type NodeEvent = EventsOf<typeof nodeEvents>;
export type NodeEventType = NodeEvent["type"];
export const nodeEventTypes: readonly NodeEventType[] = nodeEvents.map((d) => d.type);
