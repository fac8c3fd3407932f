import { randomUUID } from "node:crypto";
import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import {
  deploymentProgress,
  DeploymentRequestSchema,
  DeploymentStatusSchema,
  type DeploymentState,
  type NodePhase,
} from "../../commands/deployment.js";
import type { DeploymentEventOf } from "../../events/catalog/deployment.js";
import type { RecordedEvent } from "../../events/envelope.js";
import { deploymentCommand, loadDeployment } from "../../commands/deployments.js";
import { badCursor, conflict, DomainError, notFound } from "../../commands/errors.js";
import { streamPrefixes, streams } from "../../events/streams.js";
import { deterministicUuid } from "../../platform/ids.js";
import { findDeploymentView, findDeploymentViewOfState, NODE_PHASES, type DeploymentDoc, type NodePageOptions } from "../../projections/deployments.js";
import { NodePageQuery } from "../node-page.js";
import { EnvironmentSchema, resolveSettings } from "../../strategies/settings.js";
import { ANY_USER, requireRoles } from "../auth.js";
import { ConsistencyQuery } from "../consistency.js";
import type { AppDeps, AppEnv } from "../env.js";
import { problem, problemResponses } from "../problem.js";
import type { PolicyDecision } from "../../modules/policy.js";
import type { Context } from "hono";
import { IdempotencyHeader, idempotentCommand } from "../idempotency.js";
import { DeploymentWatch } from "../deployment-watch.js";
import { decoratedMessage, parseLastEventId, streamFeed } from "../sse.js";
import { resolveInstant } from "./time-travel.js";
import { DependencyRequestFields, judgeDeployment, judgeRollbackOf } from "../../graph/dependencies.js";
import { dependencyRefusal } from "./graph.js";
import { openapiSync } from "./sync-validation.js";

const ExecutionId = z.string().uuid().openapi({ param: { name: "id", in: "path" } });
const IdParams = z.object({ id: ExecutionId });
const Accepted = z.object({ executionId: z.string(), status: DeploymentStatusSchema, position: z.number() }).openapi("CommandAccepted");
/** DESIGN.md's fields of a deployment, shared by the detail and the list item */
const DeploymentFields = z
  .object({
    executionId: z.string(),
    moduleName: z.string(),
    version: z.string(),
    targetEnvironment: EnvironmentSchema.nullable(),
    strategy: z.string().nullable(),
    status: DeploymentStatusSchema,
    progress: z.number(),
    stages: z.array(z.object({ name: z.string(), status: z.string() }).passthrough()),
    waves: z.array(z.object({ index: z.number() }).passthrough()),
    requesterEmail: z.string(),
    createdAt: z.string().nullable(),
    updatedAt: z.string().nullable(),
  })
  .passthrough();
const NodePhaseSchema = z.enum(NODE_PHASES as [NodePhase, ...NodePhase[]]);
/**
 * The detail: one page of the nodes (a 10,000-node deployment was 1.5 MB an answer), the counts
 * of all of them, and each wave's counts rather than its node ids (?wave= pages a wave's nodes).
 */
const DeploymentView = DeploymentFields.extend({
  waves: z.array(
    z
      .object({
        index: z.number(),
        label: z.string(),
        nodeCount: z.number().openapi({ description: "the wave's nodes" }),
        updated: z.number().openapi({ description: "of them, on the new version" }),
        status: z.string(),
      })
      .passthrough(),
  ),
  nodes: z.array(
    z.object({ nodeId: z.string(), wave: z.number(), color: z.string().nullable(), previousVersion: z.string().nullable(), phase: NodePhaseSchema, error: z.string().nullable() }),
  ),
  nodesNextCursor: z.string().nullable().openapi({ description: "pass as ?cursor= for the next page of nodes; null on the last page" }),
  nodeCounts: z
    .object({ total: z.number(), ...Object.fromEntries(NODE_PHASES.map((p) => [p, z.number()])) })
    .openapi({ description: "every planned node, in all and per phase (whatever the page or filter)" }),
}).openapi("Deployment");
const TimeTravelView = DeploymentView.extend({ asOf: z.string(), position: z.number() });
/**
 * A list item: the deployment without its nodes (GET /deployments/{id} has them). A list of
 * deployments over thousands of nodes each would otherwise carry every node and every wave's
 * node ids, and the read store would copy them all to be serialized (issue 15: lists return
 * summaries).
 */
const DeploymentSummary = DeploymentFields.extend({
  waves: z.array(z.object({ index: z.number(), status: z.string() }).passthrough()),
}).openapi("DeploymentSummary");
/** the fields of a summary, as a read-store projection (so MongoDB sends no more than these) */
const SUMMARY_FIELDS = [
  "executionId",
  "moduleName",
  "version",
  "targetEnvironment",
  "strategy",
  "status",
  "progress",
  "description",
  "stages",
  "waves.index",
  "waves.label",
  "waves.status",
  "waves.startedAt",
  "waves.completedAt",
  "servingColor",
  "failureReason",
  "approval",
  "requesterEmail",
  "requestedBy",
  "createdAt",
  "updatedAt",
  "endedAt",
] as const;
// frozen: the memory store then picks each stored document version once and hands that out again
const SUMMARY_PROJECTION: Record<string, 1> = Object.freeze(Object.fromEntries(SUMMARY_FIELDS.map((f) => [f, 1 as const])));
export type DeploymentSummaryView = z.infer<typeof DeploymentSummary>;
const Page = z.object({ items: z.array(DeploymentSummary), nextCursor: z.string().nullable() }).openapi("DeploymentPage");
const ReasonBody = z.strictObject({ reason: z.string().max(1000).optional() });
const RollbackBody = z.strictObject({ reason: z.string().max(1000).optional(), force: DependencyRequestFields.force });

/** A deployment feed's message: the event, with the status and progress right after it. */
const progressMessage = (event: RecordedEvent, state: DeploymentState) => decoratedMessage(event, { status: state.status, progress: deploymentProgress(state) });

const TERMINAL_TYPES = ["DeploymentSucceeded", "DeploymentFailed", "DeploymentRolledBack", "DeploymentCancelled", "DeploymentRejected"];

const writers = [requireRoles("Deployer", "Admin")];
const readers = [requireRoles(...ANY_USER)];
const security = [{ bearerAuth: [] }];

const createDeployment = createRoute({
  method: "post",
  path: "/api/v1/deployments",
  tags: ["Deployments"],
  summary: "Request a deployment (Deployer, Admin). Idempotency-Key makes retries safe.",
  security,
  middleware: writers,
  request: {
    headers: IdempotencyHeader,
    body: { required: true, content: { "application/json": { schema: DeploymentRequestSchema.extend(DependencyRequestFields).strict().openapi("DeploymentRequest") } } },
  },
  responses: {
    202: { description: "Accepted; the runner takes it from here", content: { "application/json": { schema: Accepted } } },
    ...problemResponses(400, 401, 403, 409, 422, 429),
  },
});

const listDeployments = createRoute({
  method: "get",
  path: "/api/v1/deployments",
  tags: ["Deployments"],
  summary: "Deployments, newest first",
  security,
  middleware: readers,
  request: {
    query: ConsistencyQuery.extend({
      environment: EnvironmentSchema.optional(),
      status: DeploymentStatusSchema.optional(),
      moduleName: z.string().max(64).optional(),
      limit: z.coerce.number().int().min(1).max(200).default(50),
      cursor: z.string().max(200).optional(),
    }),
  },
  responses: { 200: { description: "A page", content: { "application/json": { schema: Page } } }, ...problemResponses(400, 401) },
});

const getDeployment = createRoute({
  method: "get",
  path: "/api/v1/deployments/{id}",
  tags: ["Deployments"],
  summary:
    "One deployment with one page of its nodes in plan order (?limit, default 100, max 1000; ?cursor=nodesNextCursor for the next; ?phase=, ?wave= to filter) and the counts of all of them; ?at=<ISO time> answers as of that instant",
  security,
  middleware: readers,
  request: {
    params: IdParams,
    query: ConsistencyQuery.merge(NodePageQuery).extend({
      at: z.iso.datetime({ offset: true }).optional(),
      phase: NodePhaseSchema.optional().openapi({ description: "only nodes in this phase (failed: the ones to look at)" }),
      wave: z.coerce.number().int().min(0).max(100_000).optional().openapi({ description: "only the nodes of this wave (its index)" }),
    }),
  },
  responses: {
    200: { description: "The deployment", content: { "application/json": { schema: DeploymentView.or(TimeTravelView) } } },
    ...problemResponses(400, 401, 404),
  },
});

// A 10,000-node deployment's stream holds some 30,000 events: 9 MB and ~200 ms of the event loop
// as one answer, which any reader could ask for again and again. Pages keep each answer bounded.
const DEFAULT_HISTORY_PAGE = 1000;
const MAX_HISTORY_PAGE = 5000;

const history = createRoute({
  method: "get",
  path: "/api/v1/deployments/{id}/history",
  tags: ["Deployments"],
  summary: "The deployment's events with positions and times, for replay: a page of them from ?fromRevision= (default 0), ?limit= (default 1000, max 5000); nextRevision is the next page's fromRevision",
  security,
  middleware: readers,
  request: {
    params: IdParams,
    query: z.object({
      fromRevision: z.coerce.number().int().min(0).max(1e12).default(0).openapi({ description: "the first revision of the page (nextRevision of the previous one)" }),
      limit: z.coerce.number().int().min(1).max(MAX_HISTORY_PAGE).default(DEFAULT_HISTORY_PAGE).openapi({ description: "events per page" }),
    }),
  },
  responses: {
    200: {
      description: "Events in order",
      content: {
        "application/json": {
          schema: z.object({
            executionId: z.string(),
            events: z.array(z.object({ type: z.string(), revision: z.number(), position: z.number(), occurredAt: z.string(), actor: z.object({ kind: z.string(), id: z.string() }), data: z.unknown() })),
            nextRevision: z.number().nullable().openapi({ description: "pass as ?fromRevision= for the next page; null on the last" }),
          }),
        },
      },
    },
    ...problemResponses(400, 401, 404),
  },
});

function action(name: "rollback" | "pause" | "resume" | "abort", summary: string) {
  return createRoute({
    method: "post",
    path: `/api/v1/deployments/{id}/${name}`,
    tags: ["Deployments"],
    summary,
    security,
    middleware: writers,
    request: { params: IdParams, headers: IdempotencyHeader, body: { required: false, content: { "application/json": { schema: name === "rollback" ? RollbackBody : ReasonBody } } } },
    responses: {
      202: { description: "Accepted", content: { "application/json": { schema: Accepted } } },
      ...problemResponses(400, 401, 403, 404, 409, 422),
    },
  });
}

const sseResponses = {
  200: { description: "text/event-stream: id = global position, event = type, data = JSON", content: { "text/event-stream": { schema: z.string() } } },
  ...problemResponses(400, 401, 404, 429),
};
const sseHeaders = z.object({ "last-event-id": z.string().optional() });
const allEvents = createRoute({
  method: "get",
  path: "/api/v1/deployments/events",
  tags: ["Live progress"],
  summary: "SSE: every deployment's events (optionally one environment); resumable with Last-Event-ID",
  security,
  middleware: readers,
  request: { query: z.object({ environment: EnvironmentSchema.optional() }), headers: sseHeaders },
  responses: sseResponses,
});
const oneEvents = createRoute({
  method: "get",
  path: "/api/v1/deployments/{id}/events",
  tags: ["Live progress"],
  summary: "SSE: this deployment's events from the start (or Last-Event-ID); ends after its terminal event",
  security,
  middleware: readers,
  request: { params: IdParams, headers: sseHeaders },
  responses: sseResponses,
});

function encodeCursor(doc: { createdAt: unknown; _id: string }) {
  return Buffer.from(JSON.stringify([doc.createdAt, doc._id])).toString("base64url");
}
function decodeCursor(cursor: string): [string, string] {
  try {
    const v = JSON.parse(Buffer.from(cursor, "base64url").toString());
    if (Array.isArray(v) && typeof v[0] === "string" && typeof v[1] === "string") return [v[0], v[1]];
  } catch {
    // fall through
  }
  throw new DomainError("validation", "cursor is not one this server issued");
}

const requestedFor = (e: RecordedEvent) => (e.data as DeploymentEventOf<"DeploymentRequested">["data"]).targetEnvironment;

/** 422 naming each check the environment's trust policy enforces and the module version fails. */
function refusedByTrustPolicy(c: Context<AppEnv>, body: { moduleName: string; version: string; targetEnvironment: string }, decision: PolicyDecision) {
  const at = decision.level ? `its ${decision.level} trust policy` : "its trust policy";
  const detail = `${body.moduleName}@${body.version} may not be deployed to ${body.targetEnvironment} under ${at}: ${decision.enforced.map((f) => `${f.check}: ${f.reason}`).join("; ")}`;
  return problem(c, 422, detail, {
    level: decision.level,
    errors: decision.enforced.map((f) => ({ path: f.check, check: f.check, message: f.reason })),
  }) as never;
}


/**
 * A request refused inside the keyed command (trust policy, dependencies), with its problem
 * answer. Thrown, so the Idempotency-Key is released rather than spent on the refusal (the same
 * request may be tried again once the fleet is fixed); the code is what the key's release
 * records (its 422s as "validation").
 */
class Refused extends DomainError {
  constructor(
    readonly response: Response,
    code: "validation" | "conflict",
    detail: string,
  ) {
    super(code, detail);
  }
}

/**
 * The JSON of a page of a stored document's view, made once per document and page asked: the
 * memory store hands out the stored document itself, frozen, until a write replaces it, so a
 * deployment read many times between two of its events (dashboards, CLIs polling) is viewed and
 * serialized once per page. A document that is not frozen (MongoDB's, or a copy) may change under
 * us and is serialized every time. Undefined: the cursor names no node of it.
 */
const viewJsons = new WeakMap<DeploymentDoc, Map<string, string>>();
/** pages kept per document: the first page and a few more cover the readers that poll */
const KEPT_PAGES = 4;
function viewJson(doc: DeploymentDoc, page: NodePageOptions): string | undefined {
  const key = `${page.limit}|${page.phase ?? ""}|${page.wave ?? ""}|${page.cursor ?? ""}`;
  let kept = viewJsons.get(doc);
  const json = kept?.get(key);
  if (json !== undefined) return json;
  const view = findDeploymentView(doc, page);
  if (!view) return undefined;
  const made = JSON.stringify(view);
  if (Object.isFrozen(doc)) {
    if (!kept) viewJsons.set(doc, (kept = new Map()));
    if (kept.size >= KEPT_PAGES) kept.delete(kept.keys().next().value!);
    kept.set(key, made);
  }
  return made;
}

/**
 * A list item's JSON (the summary without its _id) and its length in UTF-8 bytes, made once per
 * summary the memory store hands out frozen (one per stored document version, see
 * SUMMARY_PROJECTION); MongoDB's are new objects each time and are serialized each time.
 */
interface ItemJson {
  json: string;
  bytes: number;
}
const summaryJsons = new WeakMap<object, ItemJson>();
function summaryJson(doc: Record<string, unknown>): ItemJson {
  let item = summaryJsons.get(doc);
  if (item === undefined) {
    const { _id, ...summary } = doc;
    const json = JSON.stringify(summary);
    item = { json, bytes: Buffer.byteLength(json) };
    if (Object.isFrozen(doc)) summaryJsons.set(doc, item);
  }
  return item;
}
/** newest first; frozen, so the memory store makes its key once (a JSON.stringify per find was ~0.35 us) */
const NEWEST_FIRST: Record<string, 1 | -1> = Object.freeze({ createdAt: -1, _id: -1 });
const PAGE_HEAD = '{"items":[';
const PAGE_CURSOR = '],"nextCursor":';

export function registerDeploymentRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps) {
  const deployments = () => deps.readStore.collection<DeploymentDoc>("deployments");

  // before /{id}, which would otherwise claim "events" as an id
  app.openapi(allEvents, (c) => {
    const environment = c.req.valid("query").environment;
    // environment filtering needs each deployment's environment: remembered per stream, taken from
    // its DeploymentRequested (seen live, or read from the log when the stream started earlier)
    const inEnv = new Map<string, boolean>();
    const known = (e: RecordedEvent): boolean | undefined => {
      if (!e.streamId.startsWith(streamPrefixes.deployment)) return false;
      if (!environment) return true;
      if (e.type === "DeploymentRequested") inEnv.set(e.streamId, requestedFor(e) === environment);
      return inEnv.get(e.streamId);
    };
    const lookUp = async (streamId: string) => {
      const [first] = await deps.log.readStream(streamId, { maxCount: 1 });
      const belongs = first?.type === "DeploymentRequested" && requestedFor(first) === environment;
      inEnv.set(streamId, belongs);
      return belongs;
    };
    return streamFeed(c, deps, {
      after: parseLastEventId(c),
      matches: known,
      async *history(after, upTo) {
        let from = after;
        while (from < upTo) {
          const page = await deps.log.readAll({ after: from, maxCount: 500, filter: { streamPrefixes: [streamPrefixes.deployment] } });
          if (!page.length) return;
          const keep = [];
          for (const e of page) {
            if (e.position > upTo) break;
            if (known(e) ?? (await lookUp(e.streamId))) keep.push(e);
          }
          yield keep;
          from = page.at(-1)!.position;
        }
      },
    });
  });

  app.openapi(createDeployment, async (c) => {
    const body = c.req.valid("json");
    const principal = c.get("principal")!;
    try {
      return await idempotentCommand(c, deps, body, async (ctx) => {
        // Judged inside the keyed command: a retry of a request that was answered gets that answer
        // again, whatever the fleet or the trust policy say now; a refused one spends no key.
        // The target environment's trust policy judges the module version's verdict as of now.
        const gate = await deps.modules.gate(body.moduleName, body.version, body.targetEnvironment, { ...ctx, idempotencyKey: undefined });
        if (!gate.decision.allowed) throw new Refused(refusedByTrustPolicy(c, body, gate.decision), "validation", "refused by the trust policy");
        const trusted = {
          ...(gate.binding && { artifact: gate.binding }),
          trust: { level: gate.decision.level, logged: gate.decision.logged },
        };
        // module dependencies on the target nodes, as they are now (src/graph/dependencies.ts)
        const needs = await judgeDeployment(deps.readStore, body, principal);
        if (!needs.ok) throw new Refused(dependencyRefusal(c, needs.refusal), needs.refusal.status === 409 ? "conflict" : "validation", needs.refusal.detail);
        const dependencyFields = { ...(needs.dependencies && { dependencies: needs.dependencies }), ...(needs.override && { dependencyOverride: needs.override }) };
        // with a key, a retry that runs again (its first attempt died midway) lands on the same deployment
        const executionId = ctx.idempotencyKey ? deterministicUuid(`deployment:${principal.sub}:${ctx.idempotencyKey}`) : randomUUID();
        if (deps.config.deploymentQueueMode === "reject") {
          const active = { targetEnvironment: body.targetEnvironment, executionId: { $ne: executionId }, status: { $in: ["Pending", "Running", "Paused", "RollingBack"] } };
          const busy = await deployments().find(active, { limit: 1 });
          if (busy[0]) throw conflict(`${body.targetEnvironment} already has an active deployment`, { activeExecutionId: busy[0].executionId });
        }
        const settings = resolveSettings(body.targetEnvironment, deps.config.strategyOverrides, {
          approval: { timeoutMs: deps.config.approvals.timeoutMs, allowSelfApproval: deps.config.approvals.allowSelfApproval },
        });
        const result = await deploymentCommand(deps.log, deps.metrics, executionId, { type: "RequestDeployment", executionId, requestedBy: principal.sub, settings, now: ctx.now, ...body, ...trusted, ...dependencyFields }, ctx);
        return {
          status: 202,
          body: { executionId, status: result.state.status, position: result.position },
          headers: { Location: `/api/v1/deployments/${executionId}` },
        };
      });
    } catch (err) {
      if (err instanceof Refused) return err.response as never;
      throw err;
    }
  });

  openapiSync(app, listDeployments, async (c) => {
    const q = c.req.valid("query");
    const filter: Record<string, unknown> = {};
    if (q.environment) filter.targetEnvironment = q.environment;
    if (q.status) filter.status = q.status;
    if (q.moduleName) filter.moduleName = q.moduleName;
    if (q.cursor) {
      const [createdAt, id] = decodeCursor(q.cursor);
      filter.$or = [{ createdAt: { $lt: createdAt } }, { createdAt, _id: { $lt: id } }];
    }
    const docs = await deployments().find(filter, { sort: NEWEST_FIRST, limit: q.limit + 1, projection: SUMMARY_PROJECTION });
    const page = docs.slice(0, q.limit);
    const nextCursor = JSON.stringify(docs.length > q.limit ? encodeCursor(page.at(-1)!) : null);
    // the bytes c.json({ items, nextCursor }) would send, from each item's JSON made once. Their
    // length is known from the items' own, so the server need not measure the body: measuring a
    // body built by concatenation first flattened it into a copy, ~1 us a page of 5 (the write
    // then copies it with the head, as it does every body)
    let body = PAGE_HEAD;
    let bytes = PAGE_HEAD.length + PAGE_CURSOR.length + nextCursor.length + 1 + Math.max(0, page.length - 1);
    for (let i = 0; i < page.length; i++) {
      const item = summaryJson(page[i]!);
      body += (i ? "," : "") + item.json;
      bytes += item.bytes;
    }
    body += PAGE_CURSOR + nextCursor + "}";
    return c.body(body, 200, { "Content-Type": "application/json", "Content-Length": String(bytes) }) as never;
  });

  openapiSync(app, getDeployment, async (c) => {
    const { id } = c.req.valid("param");
    const { at, limit, cursor, phase, wave } = c.req.valid("query");
    const page: NodePageOptions = { limit, ...(cursor !== undefined && { cursor }), ...(phase !== undefined && { phase }), ...(wave !== undefined && { wave }) };
    if (at) {
      const instant = resolveInstant(at, deps.clock.now());
      const { state, position } = await loadDeployment(deps.log, id, instant, deps.readStore);
      if (!state.exists) {
        const exists = (await deps.log.readStream(streams.deployment(id), { maxCount: 1 })).length > 0;
        throw notFound(exists ? `deployment ${id} as of ${at} (before its first event)` : `deployment ${id}`);
      }
      const view = findDeploymentViewOfState(state, page);
      if (!view) throw badCursor();
      return c.json({ ...view, asOf: instant, position: position! }, 200);
    }
    const doc = await deployments().get(id);
    if (!doc) throw notFound(`deployment ${id}`);
    const json = viewJson(doc, page);
    if (json === undefined) throw badCursor();
    return c.body(json, 200, { "Content-Type": "application/json" }) as never;
  });

  app.openapi(history, async (c) => {
    const { id } = c.req.valid("param");
    const { fromRevision, limit } = c.req.valid("query");
    const streamId = streams.deployment(id);
    // one more than the page: whether there is a next one
    const events = await deps.log.readStream(streamId, { fromRevision, maxCount: limit + 1 });
    if (!events.length && (fromRevision === 0 || !(await deps.log.readStream(streamId, { maxCount: 1 })).length)) throw notFound(`deployment ${id}`);
    const page = events.slice(0, limit);
    return c.json(
      {
        executionId: id,
        events: page.map((e) => ({ type: e.type, revision: e.revision, position: e.position, occurredAt: e.metadata.occurredAt, actor: e.metadata.actor, data: e.data })),
        nextRevision: events.length > limit ? events[limit]!.revision : null,
      },
      200,
    );
  });

  const commands = {
    rollback: (by: string, reason: string | undefined, now: number) => ({ type: "Rollback" as const, by, reason, now }),
    pause: (by: string, _reason: string | undefined, now: number) => ({ type: "Pause" as const, by, now }),
    resume: (by: string, _reason: string | undefined, now: number) => ({ type: "Resume" as const, by, now }),
    abort: (by: string, reason: string | undefined, now: number) => ({ type: "Abort" as const, by, reason, now }),
  };
  const summaries = {
    rollback: "Roll back every node the deployment touched to its previous version",
    pause: "Pause: no new node updates start; in-flight ones finish",
    resume: "Resume a paused deployment",
    abort: "Abort: roll back what was touched, then Cancelled",
  };
  for (const name of ["rollback", "pause", "resume", "abort"] as const) {
    app.openapi(action(name, summaries[name]), async (c) => {
      const { id } = c.req.valid("param");
      // the body is optional; an absent one is an empty reason
      const reason = c.req.header("content-length") && c.req.header("content-length") !== "0" ? (c.req.valid("json") as { reason?: string } | undefined)?.reason : undefined;
      // a rollback must not leave modules on its nodes without what they depend on, unless an Admin forces it
      const force = c.req.header("content-length") && c.req.header("content-length") !== "0" ? (c.req.valid("json") as { force?: boolean } | undefined)?.force : undefined;
      const verdict = name === "rollback" ? await judgeRollbackOf(deps.readStore, deps.log, id, force, c.get("principal")!, deps.deploymentFolds) : undefined;
      if (verdict && !verdict.ok) return dependencyRefusal(c, verdict.refusal) as never;
      const override = verdict?.ok && verdict.override ? { dependencyOverride: verdict.override } : {};
      return idempotentCommand(c, deps, { reason }, async (ctx) => {
        const result = await deploymentCommand(deps.log, deps.metrics, id, { ...commands[name](c.get("principal")!.sub, reason, ctx.now), ...override }, ctx, deps.readStore, deps.deploymentFolds);
        return { status: 202, body: { executionId: id, status: result.state.status, position: result.position } };
      });
    });
  }

  app.openapi(oneEvents, async (c) => {
    const { id } = c.req.valid("param");
    const streamId = streams.deployment(id);
    const latest = await deps.log.readStream(streamId, { direction: "backwards", maxCount: 1 });
    if (!latest.length) throw notFound(`deployment ${id}`);
    const after = parseLastEventId(c);
    const last = latest[0]!;
    // every message says where the deployment stands, from a fold of the stream shared by the
    // connections that keep pace with it (src/http/deployment-watch.ts); opened with the stream
    let watch: DeploymentWatch | undefined;
    const watching = () => (watch ??= DeploymentWatch.open(deps.log, streamId, progressMessage));
    return streamFeed(c, deps, {
      after,
      endedBefore: TERMINAL_TYPES.includes(last.type) && last.position <= after,
      matches: (e) => e.streamId === streamId,
      async *history(after, upTo) {
        const w = watching();
        const events = await deps.log.readStream(streamId, { fromRevision: w.nextRevision, untilPosition: upTo });
        // the client has these already: folded, not sent
        let i = 0;
        for (; i < events.length && events[i]!.position <= after; i++) {
          if (!w.skip(events[i]!)) {
            await w.prepare();
            w.skip(events[i]!);
          }
        }
        if (i < events.length && !w.canTake(events[i]!)) await w.prepare();
        yield events.slice(i);
      },
      message: (e) => watching().pass(e),
      closed: () => watch?.release(),
      isFinal: (e) => TERMINAL_TYPES.includes(e.type),
    });
  });
}
