import { OpenAPIHono } from "@hono/zod-openapi";
import { swaggerUI } from "@hono/swagger-ui";
import { HTTPException } from "hono/http-exception";
import { DomainError } from "../commands/errors.js";
import { EventValidationError } from "../events/event-log.js";
import { admitBearer } from "./auth.js";
import { admitSessionCookie, cookieAuthApplies } from "../ui/session.js";
import { readConsistency } from "./consistency.js";
import { classifyRequest, rateLimit } from "./rate-limit.js";
import { clientIp } from "./request-context.js";
import { edge } from "./edge.js";
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

  // request id, security headers, span, duration metric, request log and body-size check (edge.ts)
  app.use(edge(deps));
  const limiter = rateLimit({
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
  });
  // Who is asking, then whether they may: the bearer token (admitBearer, auth.ts), else the
  // dashboard's session cookie for /ui and the deployment feeds only (admitSessionCookie,
  // src/ui/session.ts), then the rate limit by that identity. One layer instead of three
  // middleware (see edge.ts).
  app.use(async (c, next) => {
    const authorization = c.req.header("authorization");
    // (an empty Authorization header leaves the cookie in play, as the cookie middleware had it)
    const admitting = authorization
      ? admitBearer(c, authorization, deps.tokens, deps.users)
      : cookieAuthApplies(c.req.method, c.req.path)
        ? admitSessionCookie(c, deps)
        : undefined;
    if (admitting) await admitting;
    return limiter(c, next);
  });
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
