// The agent protocol's wire format: the server validates with these schemas and documents them in
// the OpenAPI document; the agent client (src/fleet/agent-client.ts) takes its types from them.
import { z } from "@hono/zod-openapi";
import { CapacitySchema, LabelsSchema, ModulesSchema, NodeStatusSchema } from "../events/catalog/node.js";
import { HeartbeatMetricsSchema } from "./telemetry.js";

export const NodeId = z.string().regex(/^[a-z]+-[0-9a-f]{16}$/, "a node id as returned by registration").openapi({ example: "qa-3f9c0a1b2c3d4e5f" });
export const Hostname = z
  .string()
  .regex(/^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/, "a DNS hostname: letters, digits, '.' and '-'")
  .openapi({ example: "qa-node-01" });

export const RegisterRequest = z
  .strictObject({
    joinToken: z.string().min(1).max(512),
    environment: z.string().min(1).max(32).openapi({ description: "cluster to join (Development, QA, Staging, Production; any case)" }),
    hostname: Hostname,
    capacity: CapacitySchema,
    labels: LabelsSchema.default({}),
    modules: ModulesSchema.default({}).openapi({ description: "modules the node already runs: name -> version" }),
    nodeSecret: z
      .string()
      .min(1)
      .max(256)
      .optional()
      .openapi({ description: "the secret this node was given at its first registration; required to register an existing node (or send its current token as Authorization)" }),
  })
  .openapi("AgentRegisterRequest");
export const RegisterResponse = z
  .object({
    nodeId: z.string(),
    environment: z.string(),
    hostname: z.string(),
    created: z.boolean(),
    token: z.string().openapi({ description: "bearer token with the Node role, valid for this node only" }),
    expiresAt: z.string(),
    nodeSecret: z.string().optional().openapi({
      description: "only when this registration issued the node its credential (first registration, or a claim after an Admin reset): shown once, keep it (e.g. a 0600 file) and send it when registering again",
    }),
    heartbeatIntervalMs: z.number(),
    position: z.number(),
  })
  .openapi("AgentRegistration");

export const HeartbeatRequest = z
  .strictObject({
    environment: z.string().max(32).optional().openapi({ description: "if given, must be the node's cluster" }),
    metrics: HeartbeatMetricsSchema,
    modules: ModulesSchema.optional().openapi({ description: "modules running now: name -> version" }),
  })
  .openapi("HeartbeatRequest");
export const HeartbeatResponse = z
  .object({ accepted: z.literal(true), nodeId: z.string(), status: NodeStatusSchema, position: z.number().optional() })
  .openapi("HeartbeatResponse");

export const Assignment = z
  .object({
    assignmentId: z.string(),
    executionId: z.string(),
    moduleName: z.string(),
    fromVersion: z.string().nullable(),
    toVersion: z.string().nullable(),
    kind: z.enum(["install", "rollback", "remove"]),
    requestedAt: z.string(),
    timeoutAt: z.string().nullable(),
    artifact: z
      .object({ digest: z.string(), size: z.number(), url: z.string() })
      .nullable()
      .optional()
      .openapi({ description: "an install of a registered module: fetch url with the node token, check its SHA-256 against digest before installing, report that digest" }),
  })
  .openapi("Assignment");
export const DesiredState = z
  .object({
    nodeId: z.string(),
    version: z.string().openapi({ description: "opaque token: pass it back as ?after= to wait for the next change" }),
    changed: z.boolean(),
    assignments: z.array(Assignment),
  })
  .openapi("DesiredState");
export const DesiredStateQuery = z.object({
  after: z
    .string()
    .regex(/^\d{1,15}$/, "a version token from an earlier answer")
    .optional()
    .openapi({ description: "version the agent holds; with waitSeconds, answer once the state moves past it" }),
  waitSeconds: z.coerce.number().int().min(0).max(60).optional().openapi({ description: "long-poll up to this many seconds (0-60)" }),
});

export const ReportRequest = z
  .strictObject({
    environment: z.string().max(32).optional(),
    assignmentId: z.string().min(1).max(200),
    outcome: z.enum(["succeeded", "failed"]),
    durationMs: z.number().min(0).max(86_400_000),
    error: z.string().min(1).max(2000).optional(),
    digest: z
      .string()
      .regex(/^sha256:[0-9a-f]{64}$/, "sha256:<64 lower-case hex digits>")
      .optional()
      .openapi({ description: "the SHA-256 of the bytes the node installed; required for a succeeded install of an assignment with an artifact" }),
  })
  .refine((r) => r.outcome === "succeeded" || r.error !== undefined, { message: "a failed outcome needs an error", path: ["error"] })
  .openapi("AgentReport");
export const ReportResponse = z
  .object({
    accepted: z.literal(true),
    recorded: z.boolean().openapi({ description: "false when this exact report had already been recorded" }),
    assignmentId: z.string(),
    moduleName: z.string(),
    modules: z.record(z.string(), z.string()),
    position: z.number(),
  })
  .openapi("AgentReportResult");

export const CredentialReset = z
  .object({ nodeId: z.string(), environment: z.string(), credentialGeneration: z.number().int(), position: z.number() })
  .openapi("NodeCredentialReset");

export type RegisterBody = z.input<typeof RegisterRequest>;
export type Registration = z.infer<typeof RegisterResponse>;
export type DesiredAssignment = z.infer<typeof Assignment>;
export type DesiredState = z.infer<typeof DesiredState>;
