import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import { DomainError } from "../../commands/errors.js";
import {
  acceptHeartbeat,
  deregisterNode,
  desiredStateOf,
  desiredStateView,
  environmentOrThrow,
  joinTokenMatches,
  knownNode,
  registerNode,
  reportOutcome,
} from "../../fleet/agent-service.js";
import { desiredStateWatch } from "../../fleet/desired-state-watch.js";
import { DesiredState, DesiredStateQuery, HeartbeatRequest, HeartbeatResponse, NodeId, RegisterRequest, RegisterResponse, ReportRequest, ReportResponse } from "../../fleet/protocol.js";
import { TELEMETRY_CHANNEL } from "../../fleet/telemetry.js";
import { requireRoles } from "../auth.js";
import type { AppDeps, AppEnv } from "../env.js";
import { problemResponses } from "../problem.js";
import { commandContext } from "../request-context.js";

const tags = ["Agents"];
const nodeParams = z.object({ nodeId: NodeId });
const nodeOnly = [requireRoles("Node")];
const json = <T extends z.ZodType>(schema: T) => ({ required: true, content: { "application/json": { schema } } });

const registerRoute = createRoute({
  method: "post",
  path: "/api/v1/agents/register",
  tags,
  summary: "Register a node with the join token; answers its node id and a Node-role token (idempotent per cluster and hostname)",
  request: { body: json(RegisterRequest) },
  responses: {
    200: { description: "Already registered: the same node", content: { "application/json": { schema: RegisterResponse } } },
    201: { description: "Registered", content: { "application/json": { schema: RegisterResponse } } },
    ...problemResponses(400, 401, 404, 409),
  },
});

const heartbeatRoute = createRoute({
  method: "post",
  path: "/api/v1/agents/{nodeId}/heartbeat",
  tags,
  summary: "Heartbeat with metrics (the node's own token only)",
  security: [{ bearerAuth: [] }],
  middleware: nodeOnly,
  request: { params: nodeParams, body: json(HeartbeatRequest) },
  responses: {
    202: { description: "Accepted", content: { "application/json": { schema: HeartbeatResponse } } },
    ...problemResponses(400, 401, 403, 404, 409),
  },
});

const desiredRoute = createRoute({
  method: "get",
  path: "/api/v1/agents/{nodeId}/desired-state",
  tags,
  summary: "Which module versions this node should run; long-poll with ?after=<version>&waitSeconds=N",
  security: [{ bearerAuth: [] }],
  middleware: nodeOnly,
  request: { params: nodeParams, query: DesiredStateQuery },
  responses: {
    200: { description: "Desired state (changed=false when the wait ended without a change)", content: { "application/json": { schema: DesiredState } } },
    ...problemResponses(400, 401, 403, 404, 409),
  },
});

const desiredStreamRoute = createRoute({
  method: "get",
  path: "/api/v1/agents/{nodeId}/desired-state/stream",
  tags,
  summary: "Server-Sent Events: the desired state now, then every change (event: desired-state)",
  security: [{ bearerAuth: [] }],
  middleware: nodeOnly,
  request: { params: nodeParams },
  responses: {
    200: { description: "text/event-stream of DesiredState messages", content: { "text/event-stream": { schema: z.string() } } },
    ...problemResponses(401, 403, 404, 409),
  },
});

const reportRoute = createRoute({
  method: "post",
  path: "/api/v1/agents/{nodeId}/reports",
  tags,
  summary: "Report the outcome of an install, rollback or removal (the node's current assignment of that module)",
  security: [{ bearerAuth: [] }],
  middleware: nodeOnly,
  request: { params: nodeParams, body: json(ReportRequest) },
  responses: {
    200: { description: "Recorded", content: { "application/json": { schema: ReportResponse } } },
    ...problemResponses(400, 401, 403, 404, 409),
  },
});

const deregisterRoute = createRoute({
  method: "delete",
  path: "/api/v1/agents/{nodeId}",
  tags,
  summary: "Deregister a node (the node itself, or an Admin)",
  security: [{ bearerAuth: [] }],
  middleware: [requireRoles("Node", "Admin")] as const,
  request: { params: nodeParams },
  responses: {
    200: { description: "Deregistered", content: { "application/json": { schema: z.object({ nodeId: z.string(), position: z.number() }) } } },
    ...problemResponses(401, 403, 404, 409),
  },
});

/** A Node token speaks only for its own node. */
function assertSelf(c: Context<AppEnv>, nodeId: string): void {
  const p = c.get("principal");
  if (p?.roles.includes("Admin") && c.req.method === "DELETE") return;
  if (!p || p.sub !== nodeId) throw new DomainError("forbidden", `this token belongs to node ${p?.sub ?? "nobody"}, not ${nodeId}`);
}

export function registerAgentRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps) {
  const watch = () => desiredStateWatch(deps.readStore, deps.projections);
  const heartbeatIntervalMs = Math.max(250, Math.floor(deps.config.heartbeat.unhealthyAfterMs / 3));

  app.openapi(registerRoute, async (c) => {
    const body = c.req.valid("json");
    if (!joinTokenMatches(body.joinToken, deps.config.agentJoinToken)) throw new DomainError("unauthorized", "invalid join token");
    const environment = environmentOrThrow(body.environment);
    const ctx = commandContext(c, deps);
    const { joinToken: _secret, ...details } = body;
    const r = await registerNode(deps, { ...details, environment }, { ...ctx, actor: { kind: "node", id: body.hostname } });
    const { token, expiresAt } = await deps.tokens.issue({ sub: r.nodeId, roles: ["Node"] }, ctx.now);
    const answer = { nodeId: r.nodeId, environment, hostname: body.hostname, created: r.created, token, expiresAt, heartbeatIntervalMs, position: r.position };
    return r.created ? c.json(answer, 201) : c.json(answer, 200);
  });

  app.openapi(heartbeatRoute, async (c) => {
    const { nodeId } = c.req.valid("param");
    assertSelf(c, nodeId);
    const r = await acceptHeartbeat(deps, nodeId, c.req.valid("json"), deps.clock.now(), () => commandContext(c, deps));
    deps.metrics.heartbeatsAccepted.inc();
    deps.coordination
      .publish(TELEMETRY_CHANNEL, JSON.stringify({ origin: deps.instanceId, ...r.heartbeat }))
      .catch((err) => deps.logger.debug({ err }, "could not share a heartbeat with other instances"));
    return c.json({ accepted: true as const, nodeId, status: r.status, ...(r.position !== undefined ? { position: r.position } : {}) }, 202);
  });

  app.openapi(desiredRoute, async (c) => {
    const { nodeId } = c.req.valid("param");
    assertSelf(c, nodeId);
    await knownNode(deps, nodeId);
    const { after, waitSeconds } = c.req.valid("query");
    const current = await desiredStateOf(deps.readStore, nodeId);
    const held = after === undefined ? undefined : Number(after);
    if (held === undefined || Number(current.version) > held || !waitSeconds) {
      return c.json({ ...current, changed: held === undefined || Number(current.version) > held }, 200);
    }
    const doc = await watch().wait(nodeId, held, waitSeconds * 1000, c.req.raw.signal);
    if (!doc) return c.json({ ...current, changed: false }, 200);
    return c.json({ ...desiredStateView(nodeId, doc), changed: true }, 200);
  });

  app.openapi(desiredStreamRoute, async (c) => {
    const { nodeId } = c.req.valid("param");
    assertSelf(c, nodeId);
    await knownNode(deps, nodeId);
    return streamSSE(c, async (stream) => {
      const abort = new AbortController();
      stream.onAbort(() => abort.abort());
      let state = await desiredStateOf(deps.readStore, nodeId);
      await stream.writeSSE({ id: state.version, event: "desired-state", data: JSON.stringify({ ...state, changed: true }) });
      while (!abort.signal.aborted) {
        const doc = await watch().wait(nodeId, Number(state.version), deps.config.sse.heartbeatMs, abort.signal);
        if (abort.signal.aborted) break;
        if (!doc) {
          await stream.write(": keep-alive\n\n");
          continue;
        }
        state = desiredStateView(nodeId, doc);
        await stream.writeSSE({ id: state.version, event: "desired-state", data: JSON.stringify({ ...state, changed: true }) });
      }
    });
  });

  app.openapi(reportRoute, async (c) => {
    const { nodeId } = c.req.valid("param");
    assertSelf(c, nodeId);
    const r = await reportOutcome(deps, nodeId, c.req.valid("json"), commandContext(c, deps));
    return c.json(
      { accepted: true as const, recorded: r.recorded, assignmentId: r.assignment.assignmentId, moduleName: r.assignment.moduleName, modules: r.modules, position: r.position },
      200,
    );
  });

  app.openapi(deregisterRoute, async (c) => {
    const { nodeId } = c.req.valid("param");
    assertSelf(c, nodeId);
    const ctx = commandContext(c, deps);
    await knownNode(deps, nodeId);
    const r = await deregisterNode(deps, nodeId, `deregistered by ${ctx.actor.kind} ${ctx.actor.id}`, ctx);
    return c.json({ nodeId, position: r.position }, 200);
  });
}
