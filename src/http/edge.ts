import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { MODULES_PATH } from "../modules/upload.js";
import { tracing, withSpan } from "../platform/telemetry.js";
import type { AppDeps, AppEnv } from "./env.js";
import { problem } from "./problem.js";
import { requestIdAndSecurityHeadersBefore, securityHeadersAfter } from "./security-headers.js";

/**
 * What every request passes through first, in this order: the request id and security headers
 * (security-headers.ts), the span, duration metric and request log, and the body-size check. They
 * were three middleware; as one, a request pays one layer of Hono's compose and router instead of
 * three (each layer is an async dispatch and a handler set the router builds per request).
 * Responses, headers, metrics and logs are the same as the three gave.
 */
export function edge(deps: AppDeps): MiddlewareHandler<AppEnv> {
  const limitBody = bodyLimit({
    maxSize: deps.config.bodyLimitBytes,
    onError: (c) => {
      const res = problem(c, 413, `request body larger than ${deps.config.bodyLimitBytes} bytes`);
      // the rest of the body is never read, so the connection cannot be reused safely
      res.headers.set("Connection", "close");
      return res;
    },
  });

  /**
   * module uploads stream to artifact storage under their own limit (MODULE_MAX_BYTES); the body
   * must stay unread until the route reads it (src/http/routes/modules.ts). hono's bodyLimit reads
   * req.raw.body first, which makes @hono/node-server build a whole web Request with a stream for
   * every request (GETs too), and JSON then comes through that stream: a tenth of a heartbeat's
   * cost. With a Content-Length (or no body at all) the check is the same one bodyLimit makes;
   * only a chunked body needs it to count the bytes.
   */
  const bodyChecked: MiddlewareHandler<AppEnv> = (c, next) => {
    if (c.req.method === "POST" && c.req.path === MODULES_PATH) return next();
    if (c.req.header("transfer-encoding") !== undefined) return limitBody(c, next);
    const length = c.req.header("content-length");
    return length !== undefined && parseInt(length, 10) > deps.config.bodyLimitBytes ? limitBody(c, next) : next();
  };

  return async (c, next) => {
    const node = requestIdAndSecurityHeadersBefore(c);
    const started = performance.now();
    // without a tracer the span would be a non-recording one: skip its name and attributes
    const res = tracing()
      ? await withSpan(`${c.req.method} ${c.req.path}`, { traceparent: c.req.header("traceparent"), "http.request_id": c.get("requestId") }, () => bodyChecked(c, next))
      : await bodyChecked(c, next);
    // what compose did with the body check's answer (a 413) when it was a middleware of its own
    if (res instanceof Response && !c.finalized) c.res = res;
    const seconds = (performance.now() - started) / 1000;
    const routePath = c.req.routePath;
    const route = routePath && routePath !== "/*" ? routePath : "unmatched";
    const status = c.res.status;
    deps.metrics.httpRequestDuration.observe({ method: c.req.method, route, status: String(status) }, seconds);
    if (deps.logger.isLevelEnabled("info")) {
      deps.logger.info({ requestId: c.get("requestId"), method: c.req.method, path: c.req.path, status, ms: Math.round(seconds * 1000) }, "request");
    }
    if (!node) securityHeadersAfter(c);
  };
}
