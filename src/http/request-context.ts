import type { Context } from "hono";
import type { HttpBindings } from "@hono/node-server";
import { getConnInfo } from "@hono/node-server/conninfo";
import type { CommandContext } from "../commands/handler.js";
import type { AppDeps, AppEnv } from "./env.js";
import { currentTraceparent } from "../platform/telemetry.js";
import { resolveClientAddress, type TrustProxy } from "./trust-proxy.js";

/**
 * Sets a header of this request's response. Served by @hono/node-server, it goes on the Node
 * response itself, which merges it into whatever the route answers: a header set through Hono
 * before the answer exists makes every response carry a web `Headers` (header-name validation
 * on each set, sorting and copying when written), and one set after it does too, which was most
 * of what the middleware cost an authenticated GET. Without a Node response (app.request() in
 * tests) it is Hono's c.header. A header the route sets itself wins.
 */
export function setResponseHeader(c: Context, name: string, value: string): void {
  const out = (c.env as Partial<HttpBindings> | undefined)?.outgoing;
  if (out && !out.headersSent) out.setHeader(name, value);
  else c.header(name, value);
}

/** Whether setResponseHeader writes to the Node response (else to Hono's, once there is one). */
export function hasNodeResponse(c: Context): boolean {
  return (c.env as Partial<HttpBindings> | undefined)?.outgoing !== undefined;
}

/** The client address: the socket peer, or what trusted proxies forwarded (see trust-proxy.ts). */
export function clientIp(c: Context, trust: TrustProxy): string {
  // app.request() (tests, the in-process bench agent) has no socket: resolveClientAddress answers
  // "unknown". Asked first rather than caught: a throw per request costs its stack trace.
  const env = c.env as (Partial<HttpBindings> & { server?: Partial<HttpBindings> }) | undefined;
  const peer = (env?.server ?? env)?.incoming?.socket ? getConnInfo(c).remote.address : undefined;
  return resolveClientAddress(peer, c.req.header("x-forwarded-for"), trust);
}

/** The User-Agent as the audit log may keep it: printable ASCII without markup, at most 256 characters. */
export function auditUserAgent(c: Context): string | undefined {
  return c.req.header("user-agent")?.slice(0, 256).replace(/[^\x20-\x7e]|[<>"'`]/g, "_");
}

/**
 * Everything an event's metadata needs from the HTTP request that caused it. The Idempotency-Key
 * is not read here: only routes that bind it to their request (src/http/idempotency.ts) honour it.
 */
export function commandContext(c: Context<AppEnv>, deps: AppDeps): CommandContext {
  const principal = c.get("principal");
  return {
    actor: principal
      ? { kind: principal.roles.includes("Node") ? "node" : "user", id: principal.sub }
      : { kind: "user", id: "anonymous" },
    correlationId: c.get("requestId"),
    traceparent: currentTraceparent() ?? c.req.header("traceparent"),
    sourceIp: clientIp(c, deps.config.trustProxy),
    userAgent: auditUserAgent(c),
    now: deps.clock.now(),
  };
}
