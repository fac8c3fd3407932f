import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { notFound } from "../../commands/errors.js";
import { EnvironmentSchema } from "../../strategies/settings.js";
import { auditView, queryAuditLog, type AuditQuery } from "../../audit/query.js";
import { verifyAuditChain } from "../../audit/verify.js";
import { AUDIT_COLLECTION, AUDIT_STREAMS_COLLECTION, auditEntryId, auditProjection, type AuditEntryDoc, type AuditStreamDoc } from "../../projections/audit.js";
import { requireRoles } from "../auth.js";
import { ConsistencyQuery } from "../consistency.js";
import type { AppDeps, AppEnv } from "../env.js";
import { problemResponses } from "../problem.js";

const admin = [requireRoles("Admin")];
const security = [{ bearerAuth: [] }];
const Instant = z.iso.datetime({ offset: true });

const AuditEntry = z
  .object({
    position: z.number(),
    streamId: z.string(),
    revision: z.number(),
    type: z.string(),
    summary: z.string(),
    actor: z.object({ kind: z.string(), id: z.string() }),
    occurredAt: z.string(),
    environment: z.string().nullable(),
    eventId: z.string(),
    correlationId: z.string(),
    causationId: z.string(),
    traceId: z.string().nullable(),
    sourceIp: z.string().nullable(),
    userAgent: z.string().nullable(),
    tenantId: z.string(),
    hash: z.string().openapi({ description: "sha-256 of the event's canonical JSON; the chain over the log is anchored in AuditAnchored events" }),
  })
  .openapi("AuditEntry");

const listRoute = createRoute({
  method: "get",
  path: "/api/v1/audit-logs",
  tags: ["Audit"],
  summary: "The audit log (Admin): one entry per event, newest first by default",
  security,
  middleware: admin,
  request: {
    query: ConsistencyQuery.extend({
      type: z.string().max(500).optional().openapi({ description: "event type; several comma-separated" }),
      actor: z.string().max(200).optional().openapi({ description: "actor id (username, node id, system component)" }),
      stream: z.string().max(300).optional().openapi({ description: 'stream id, or a prefix ending in "*" (deployment-*)' }),
      environment: EnvironmentSchema.optional(),
      from: Instant.optional().openapi({ description: "occurredAt >= this ISO time" }),
      to: Instant.optional().openapi({ description: "occurredAt <= this ISO time" }),
      order: z.enum(["desc", "asc"]).default("desc"),
      limit: z.coerce.number().int().min(1).max(500).default(50),
      cursor: z.string().max(200).optional(),
    }),
  },
  responses: {
    200: {
      description: "A page",
      content: { "application/json": { schema: z.object({ items: z.array(AuditEntry), nextCursor: z.string().nullable() }).openapi("AuditPage") } },
    },
    ...problemResponses(400, 401, 403),
  },
});

const VerifyResult = z
  .object({
    ok: z.boolean(),
    from: z.number(),
    to: z.number(),
    checked: z.number(),
    skipped: z.number(),
    firstMismatch: z
      .object({ position: z.number(), expected: z.string(), actual: z.string().nullable() })
      .nullable()
      .openapi({ description: "the first entry whose digest differs from its event in the log" }),
    anchors: z.object({
      checked: z.number().openapi({ description: "anchors whose whole range lies in [from, to]" }),
      anchoredTo: z.number().nullable().openapi({ description: "end of the last anchor checked; later events are vouched for by the read model only" }),
      firstBad: z
        .object({
          anchorPosition: z.number(),
          fromPosition: z.number().nullable(),
          position: z.number().nullable(),
          expected: z.string().nullable(),
          actual: z.string().nullable(),
          reason: z.enum(["hash", "link", "malformed"]),
        })
        .nullable()
        .openapi({ description: "the first anchor the log no longer agrees with: hash (an event in its range changed, appeared or vanished), link (an anchor or events between anchors removed), malformed" }),
    }),
  })
  .openapi("AuditVerifyResult");

const verifyRoute = createRoute({
  method: "get",
  path: "/api/v1/audit-logs/verify",
  tags: ["Audit"],
  summary: "Check the event log over a position range against the audit entries and against the chain anchors stored in the log (Admin)",
  security,
  middleware: admin,
  request: {
    query: ConsistencyQuery.extend({
      from: z.coerce.number().int().min(1).optional().openapi({ description: "first position (default: the first event)" }),
      to: z.coerce.number().int().min(1).optional().openapi({ description: "last position (default: what the audit log has applied)" }),
    }),
  },
  responses: { 200: { description: "The outcome", content: { "application/json": { schema: VerifyResult } } }, ...problemResponses(400, 401, 403) },
});

const oneRoute = createRoute({
  method: "get",
  path: "/api/v1/audit-logs/{position}",
  tags: ["Audit"],
  summary: "One audit entry with the full event (Admin)",
  security,
  middleware: admin,
  request: {
    params: z.object({ position: z.coerce.number().int().min(1).openapi({ param: { name: "position", in: "path" } }) }),
    query: ConsistencyQuery,
  },
  responses: {
    200: {
      description: "The entry",
      content: {
        "application/json": {
          schema: AuditEntry.extend({
            event: z.object({ type: z.string(), streamId: z.string(), revision: z.number(), position: z.number(), data: z.unknown(), metadata: z.record(z.string(), z.unknown()) }),
          }),
        },
      },
    },
    ...problemResponses(400, 401, 403, 404),
  },
});

/** Password hashes stay out of answers even for Admins: they are only useful to an attacker. */
function redact(data: unknown): unknown {
  if (!data || typeof data !== "object" || Array.isArray(data)) return data;
  const out: Record<string, unknown> = { ...(data as Record<string, unknown>) };
  if ("passwordHash" in out) out.passwordHash = "[redacted]";
  return out;
}

export function registerAuditRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps) {
  const entries = () => deps.readStore.collection<AuditEntryDoc>(AUDIT_COLLECTION);
  const streams = () => deps.readStore.collection<AuditStreamDoc>(AUDIT_STREAMS_COLLECTION);

  app.openapi(listRoute, async (c) => {
    const q = c.req.valid("query");
    const query: AuditQuery = {
      types: q.type?.split(",").map((t) => t.trim()).filter(Boolean),
      actor: q.actor,
      stream: q.stream,
      environment: q.environment,
      from: q.from ? new Date(q.from) : undefined,
      to: q.to ? new Date(q.to) : undefined,
      order: q.order,
      limit: q.limit,
      cursor: q.cursor,
    };
    const page = await queryAuditLog(entries(), query, streams());
    return c.json(page, 200);
  });

  // before /{position}, which would otherwise claim "verify"
  app.openapi(verifyRoute, async (c) => {
    const q = c.req.valid("query");
    // entries past what the projection has applied do not exist yet: they are not tampering
    const applied = deps.projections.positionOf(auditProjection.name) ?? deps.projections.position();
    const to = Math.min(q.to ?? applied, applied);
    return c.json(await verifyAuditChain(deps.log, entries(), { from: q.from, to }), 200);
  });

  app.openapi(oneRoute, async (c) => {
    const { position } = c.req.valid("param");
    const doc = await entries().get(auditEntryId(position));
    if (!doc || doc.kind !== "entry") throw notFound(`audit entry ${position}`);
    const [event] = await deps.log.readAll({ after: position - 1, maxCount: 1 });
    if (!event || event.position !== position) throw notFound(`event ${position}`);
    const full = { type: event.type, streamId: event.streamId, revision: event.revision, position: event.position, data: redact(event.data), metadata: event.metadata };
    return c.json({ ...(await auditView(doc, streams())), event: full }, 200);
  });
}
