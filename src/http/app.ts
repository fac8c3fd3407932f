import { OpenAPIHono } from "@hono/zod-openapi";
import { swaggerUI } from "@hono/swagger-ui";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { DomainError } from "../commands/errors.js";
import { EventValidationError } from "../events/event-log.js";
import { authenticate } from "./auth.js";
import { uiSession } from "../ui/session.js";
import { withSpan } from "../platform/telemetry.js";
import { readConsistency } from "./consistency.js";
import { classifyRequest, rateLimit } from "./rate-limit.js";
import { MODULES_PATH } from "../modules/upload.js";
import { clientIp } from "./request-context.js";
import { requestIdAndSecurityHeaders } from "./security-headers.js";
import type { AppDeps, AppEnv } from "./env.js";
import { fieldErrors, problem, STATUS_BY_CODE } from "./problem.js";

/** The bare app: middleware, error mapping and docs. Routes are registered by buildApp in routes/index.ts. */
export function createApp(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (!result.success) {
        return problem(c, 400, `request ${result.target} is invalid`, { errors: fieldErrors(result.error.issues, result.target) });
      }
    },
  });

  app.use(requestIdAndSecurityHeaders());
  app.use(async (c, next) => {
    const started = performance.now();
    await withSpan(`${c.req.method} ${c.req.path}`, { traceparent: c.req.header("traceparent"), "http.request_id": c.get("requestId") }, () => next());
    const seconds = (performance.now() - started) / 1000;
    const route = c.req.routePath && c.req.routePath !== "/*" ? c.req.routePath : "unmatched";
    deps.metrics.httpRequestDuration.observe({ method: c.req.method, route, status: String(c.res.status) }, seconds);
    deps.logger.info(
      { requestId: c.get("requestId"), method: c.req.method, path: c.req.path, status: c.res.status, ms: Math.round(seconds * 1000) },
      "request",
    );
  });
  const limitBody = bodyLimit({
    maxSize: deps.config.bodyLimitBytes,
    onError: (c) => {
      const res = problem(c, 413, `request body larger than ${deps.config.bodyLimitBytes} bytes`);
      // the rest of the body is never read, so the connection cannot be reused safely
      res.headers.set("Connection", "close");
      return res;
    },
  });
  // module uploads stream to artifact storage under their own limit (MODULE_MAX_BYTES); the body
  // must stay unread until the route reads it (src/http/routes/modules.ts)
  app.use((c, next) => {
    if (c.req.method === "POST" && c.req.path === MODULES_PATH) return next();
    // hono's bodyLimit reads req.raw.body first, which makes @hono/node-server build a whole web
    // Request with a stream for every request (GETs too), and JSON then comes through that stream:
    // a tenth of a heartbeat's cost. With a Content-Length (or no body at all) the check is the
    // same one bodyLimit makes; only a chunked body needs it to count the bytes.
    if (c.req.header("transfer-encoding") !== undefined) return limitBody(c, next);
    const length = c.req.header("content-length");
    return length !== undefined && parseInt(length, 10) > deps.config.bodyLimitBytes ? limitBody(c, next) : next();
  });
  app.use(authenticate(deps.tokens, deps.users));
  // the dashboard's session cookie, for /ui and the deployment feeds only (src/ui/session.ts)
  app.use(uiSession(deps));
  app.use(
    rateLimit({
      coordination: deps.coordination,
      config: deps.config.rateLimit,
      classify: (c) => classifyRequest(c.req.method, c.req.path),
      identify: (c) => {
        const principal = c.get("principal");
        return principal ? `user:${principal.sub}` : `ip:${clientIp(c, deps.config.trustProxy)}`;
      },
      onBlocked: (cls) => deps.metrics.rateLimited.inc({ class: cls }),
      logger: deps.logger,
      clock: deps.clock,
    }),
  );
  app.use("/api/*", readConsistency(deps));

  app.onError((err, c) => {
    if (err instanceof DomainError) {
      const status = STATUS_BY_CODE[err.code];
      const res = problem(c, status, err.message, err.details);
      if (typeof err.details.retryAfterSeconds === "number") res.headers.set("Retry-After", String(err.details.retryAfterSeconds));
      return res;
    }
    if (err instanceof HTTPException) {
      // hono's validators throw these for malformed JSON and the like
      return problem(c, err.status === 400 ? 400 : (err.status as 400), err.message || "bad request");
    }
    if (err instanceof EventValidationError) {
      deps.logger.error({ err, requestId: c.get("requestId") }, "event failed validation");
      return problem(c, 422, `the change was refused: invalid ${err.eventType} data`);
    }
    deps.logger.error({ err, requestId: c.get("requestId") }, "unhandled error");
    return problem(c, 500, "an unexpected error occurred; quote the X-Request-Id when reporting it");
  });
  app.notFound((c) => problem(c, 404, `no route for ${c.req.method} ${c.req.path}`));

  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", { type: "http", scheme: "bearer", bearerFormat: "JWT" });
  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "Kernel Module Deployment Orchestrator",
      version: "1.0.0",
      description: "Event-sourced orchestration of kernel module rollouts. Errors are application/problem+json (RFC 9457).",
    },
  });
  app.get("/swagger", swaggerUI({ url: "/openapi.json" }));
  return app;
}

export type App = ReturnType<typeof createApp>;
