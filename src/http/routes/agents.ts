import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import { DomainError } from "../../commands/errors.js";
import {
  acceptHeartbeat,
  deregisterNode,
  desiredStateDoc,
  desiredStateJson,
  desiredStateOf,
  desiredStateVersion,
  desiredStateView,
  environmentOrThrow,
  heartbeatIntervalMs as intervalFor,
  HeartbeatPacer,
  knownNode,
  NodeCache,
  nodeTokenIsCurrent,
  registerNode,
  reportOutcome,
  resetNodeCredential,
} from "../../fleet/agent-service.js";
import { desiredStateWatch } from "../../fleet/desired-state-watch.js";
import {
  CredentialReset,
  DesiredState,
  DesiredStateQuery,
  HeartbeatRequest,
  HeartbeatResponse,
  NodeId,
  RegisterRequest,
  RegisterResponse,
  ReportRequest,
  ReportResponse,
} from "../../fleet/protocol.js";
import { TELEMETRY_CHANNEL } from "../../fleet/telemetry.js";
import { PerKeyLimit } from "../../fleet/watch-limits.js";
import { requireRoles } from "../auth.js";
import type { AppDeps, AppEnv } from "../env.js";
import { problem, problemResponses } from "../problem.js";
import { commandContext } from "../request-context.js";
import { openapiSync } from "./sync-validation.js";

const tags = ["Agents"];
const nodeParams = z.object({ nodeId: NodeId });
/** desired-state streams and parked long-polls one node may hold open on one instance */
const WATCHERS_PER_NODE = 2;
const WATCHER_RETRY_AFTER_SECONDS = 5;
const TOKEN_REVOKED = "this node's credential was reset or claimed again since the token was issued; register again";
const nodeOnly = [requireRoles("Node")];
const json = <T extends z.ZodType>(schema: T) => ({ required: true as const, content: { "application/json": { schema } } });

const registerRoute = createRoute({
  method: "post",
  path: "/api/v1/agents/register",
  tags,
  summary:
    "Register a node with the join token; answers its node id, a Node-role token and, the first time, the node secret. " +
    "Registering an existing node needs its secret (nodeSecret) or its current token, else 409",
  request: { body: json(RegisterRequest) },
  responses: {
    200: { description: "Already registered: the same node (nodeSecret only when this claimed a node without a credential)", content: { "application/json": { schema: RegisterResponse } } },
    201: { description: "Registered, with the node secret", content: { "application/json": { schema: RegisterResponse } } },
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
    ...problemResponses(400, 401, 403, 404, 409, 429),
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
    ...problemResponses(400, 401, 403, 404, 409, 429),
  },
});

const desiredStreamRoute = createRoute({
  method: "get",
  path: "/api/v1/agents/{nodeId}/desired-state/stream",
  tags,
  summary: "Server-Sent Events: the desired state now, then every change (event: desired-state); at most 2 streams or waiting long-polls per node",
  security: [{ bearerAuth: [] }],
  middleware: nodeOnly,
  request: { params: nodeParams },
  responses: {
    200: { description: "text/event-stream of DesiredState messages", content: { "text/event-stream": { schema: z.string() } } },
    ...problemResponses(401, 403, 404, 409, 429),
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

const resetCredentialRoute = createRoute({
  method: "post",
  path: "/api/v1/clusters/{environment}/nodes/{nodeId}/reset-credential",
  tags: ["Clusters"],
  summary: "Revoke a node's secret and tokens (Admin); the next registration with the join token claims the node and gets a new secret",
  security: [{ bearerAuth: [] }],
  middleware: [requireRoles("Admin")] as const,
  request: { params: z.object({ environment: z.string().min(1).max(32), nodeId: NodeId }) },
  responses: {
    200: { description: "Reset: the node's old secret and tokens no longer work", content: { "application/json": { schema: CredentialReset } } },
    ...problemResponses(400, 401, 403, 404, 409),
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
  const heartbeatIntervalMs = intervalFor(deps.config);
  // heartbeats read no node document: what they need of each node is cached, kept right by the log
  const fleet = { log: deps.log, readStore: deps.readStore, nodes: new NodeCache(deps) };
  // in-process coordination has no other instance to hear a heartbeat
  const shareTelemetry = deps.coordination.kind !== "memory";
  const watchers = new PerKeyLimit(WATCHERS_PER_NODE);
  const holdWatcher = (nodeId: string): (() => void) => {
    const release = watchers.tryAcquire(nodeId);
    if (!release) {
      throw new DomainError("rate_limited", `node ${nodeId} already holds ${WATCHERS_PER_NODE} desired-state streams or waiting long-polls`, {
        retryAfterSeconds: WATCHER_RETRY_AFTER_SECONDS,
      });
    }
    return release;
  };
  // whole milliseconds: Redis expiries take integers. HEARTBEAT_PACING=0 (benches, tests whose
  // agents report faster than any real one) stores every heartbeat.
  const spacingMs = Math.floor(heartbeatIntervalMs * deps.config.heartbeat.pacing);
  const pacer = new HeartbeatPacer(deps.coordination, deps.clock, spacingMs);
  const pace = (nodeId: string) => async () => {
    if (spacingMs === 0) return;
    try {
      await pacer.pace(nodeId);
    } catch (err) {
      if (err instanceof DomainError) throw err;
      // a missing heartbeat would mark the node Unhealthy: an unreachable limiter lets it through
      deps.logger.warn({ err, nodeId }, "heartbeat pacing unavailable: heartbeat accepted unpaced");
    }
  };

  // A Node token counts only while it is of its node's current credential generation: an Admin's
  // reset, or a new claim of the node, revokes the older tokens on the next request.
  const stillCurrent = async (c: Context<AppEnv>) => {
    const p = c.get("principal");
    return !p?.roles.includes("Node") || (await nodeTokenIsCurrent(fleet, p.sub, p.ver));
  };
  app.use("/api/v1/agents/*", async (c, next) => {
    if (c.req.path === registerRoute.path || (await stillCurrent(c))) return next();
    return problem(c, 401, TOKEN_REVOKED);
  });

  openapiSync(app, registerRoute, async (c) => {
    const body = c.req.valid("json");
    // the managed agent-join-token: current, or previous within its overlap (constant time)
    if (!deps.joinTokens.accepts(body.joinToken, deps.clock.now())) throw new DomainError("unauthorized", "invalid join token");
    const environment = environmentOrThrow(body.environment);
    const ctx = commandContext(c, deps);
    const { joinToken: _joinToken, nodeSecret, ...details } = body;
    const p = c.get("principal");
    const proof = {
      ...(nodeSecret !== undefined && { nodeSecret }),
      ...(p?.roles.includes("Node") && { token: { nodeId: p.sub, generation: p.ver ?? 0 } }),
    };
    const r = await registerNode(deps, { ...details, environment }, proof, { ...ctx, actor: { kind: "node", id: body.hostname } });
    const { token, expiresAt } = await deps.tokens.issue({ sub: r.nodeId, roles: ["Node"] }, ctx.now, undefined, { ver: r.state.credential.generation });
    const answer = {
      nodeId: r.nodeId,
      environment,
      hostname: body.hostname,
      created: r.created,
      token,
      expiresAt,
      ...(r.nodeSecret !== undefined && { nodeSecret: r.nodeSecret }),
      heartbeatIntervalMs,
      position: r.position,
    };
    c.header("cache-control", "no-store"); // a token, and maybe the node secret
    return r.created ? c.json(answer, 201) : c.json(answer, 200);
  });

  openapiSync(app, heartbeatRoute, async (c) => {
    const { nodeId } = c.req.valid("param");
    assertSelf(c, nodeId);
    const r = await acceptHeartbeat(fleet, nodeId, c.req.valid("json"), deps.clock.now(), () => commandContext(c, deps), pace(nodeId));
    deps.metrics.heartbeatsAccepted.inc();
    if (shareTelemetry) {
      deps.coordination
        .publish(TELEMETRY_CHANNEL, JSON.stringify({ origin: deps.instanceId, ...r.heartbeat }))
        .catch((err) => deps.logger.debug({ err }, "could not share a heartbeat with other instances"));
    }
    return c.json({ accepted: true as const, nodeId, status: r.status, ...(r.position !== undefined ? { position: r.position } : {}) }, 202);
  });

  openapiSync(app, desiredRoute, async (c) => {
    const { nodeId } = c.req.valid("param");
    assertSelf(c, nodeId);
    await knownNode(fleet, nodeId);
    const { after, waitSeconds } = c.req.valid("query");
    const currentDoc = await desiredStateDoc(deps.readStore, nodeId);
    const held = after === undefined ? undefined : Number(after);
    const moved = held === undefined || desiredStateVersion(currentDoc) > held;
    if (moved || !waitSeconds) {
      // what c.json made of the view, serialized once per stored document (desiredStateJson)
      return c.body(desiredStateJson(nodeId, currentDoc, moved), 200, { "Content-Type": "application/json" }) as never;
    }
    const current = desiredStateView(nodeId, currentDoc);
    const release = holdWatcher(nodeId);
    // the client leaving, or a shutdown, which answers "no change" at once: the agent asks again,
    // of another instance or the restarted one
    const ended = new AbortController();
    const end = () => ended.abort();
    c.req.raw.signal.addEventListener("abort", end, { once: true });
    deps.shutdown?.addEventListener("abort", end, { once: true });
    if (c.req.raw.signal.aborted || deps.shutdown?.aborted) end();
    let doc;
    try {
      doc = await watch().wait(nodeId, held, waitSeconds * 1000, ended.signal);
    } finally {
      c.req.raw.signal.removeEventListener("abort", end);
      deps.shutdown?.removeEventListener("abort", end);
      release();
    }
    if (!(await stillCurrent(c))) throw new DomainError("unauthorized", TOKEN_REVOKED);
    if (!doc) return c.json({ ...current, changed: false }, 200);
    return c.json({ ...desiredStateView(nodeId, doc), changed: true }, 200);
  });

  app.openapi(desiredStreamRoute, async (c) => {
    const { nodeId } = c.req.valid("param");
    assertSelf(c, nodeId);
    await knownNode(deps, nodeId);
    const releaseWatcher = holdWatcher(nodeId);
    let releaseConnection: () => void;
    try {
      // and like every event stream, it counts against the server's total
      releaseConnection = deps.sseLimits.acquire(nodeId);
    } catch (err) {
      releaseWatcher();
      throw err;
    }
    return streamSSE(c, async (stream) => {
      const abort = new AbortController();
      stream.onAbort(() => abort.abort());
      // a shutdown ends the stream cleanly; the agent reconnects, to another instance or the restarted one
      const onShutdown = () => abort.abort();
      deps.shutdown?.addEventListener("abort", onShutdown, { once: true });
      if (deps.shutdown?.aborted) abort.abort();
      try {
        let state = await desiredStateOf(deps.readStore, nodeId);
        await stream.writeSSE({ id: state.version, event: "desired-state", data: JSON.stringify({ ...state, changed: true }) });
        while (!abort.signal.aborted) {
          const doc = await watch().wait(nodeId, Number(state.version), deps.config.sse.heartbeatMs, abort.signal);
          if (abort.signal.aborted) break;
          // a credential reset while the stream is open ends it at the next change or keep-alive
          if (!(await stillCurrent(c))) break;
          if (!doc) {
            await stream.write(": keep-alive\n\n");
            continue;
          }
          state = desiredStateView(nodeId, doc);
          await stream.writeSSE({ id: state.version, event: "desired-state", data: JSON.stringify({ ...state, changed: true }) });
        }
      } finally {
        deps.shutdown?.removeEventListener("abort", onShutdown);
        releaseWatcher();
        releaseConnection();
      }
    });
  });

  openapiSync(app, reportRoute, async (c) => {
    const { nodeId } = c.req.valid("param");
    assertSelf(c, nodeId);
    const r = await reportOutcome(fleet, nodeId, c.req.valid("json"), commandContext(c, deps));
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

  app.openapi(resetCredentialRoute, async (c) => {
    const { environment: rawEnvironment, nodeId } = c.req.valid("param");
    const environment = environmentOrThrow(rawEnvironment);
    const node = await knownNode(deps, nodeId);
    if (node.environment !== environment) throw new DomainError("not_found", `node ${nodeId} is not in the ${environment} cluster`);
    const r = await resetNodeCredential(deps, nodeId, commandContext(c, deps));
    // old tokens are refused as soon as this answers: the token check reads the read model first
    await deps.projections.waitFor(r.position, deps.config.readWaitTimeoutMs);
    return c.json({ nodeId, environment, credentialGeneration: r.generation, position: r.position }, 200);
  });
}
