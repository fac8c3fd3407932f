import type { Context } from "hono";
import { getConnInfo } from "@hono/node-server/conninfo";
import type { CommandContext } from "../commands/handler.js";
import type { AppDeps, AppEnv } from "./env.js";
import { currentTraceparent } from "../platform/telemetry.js";
import { resolveClientAddress, type TrustProxy } from "./trust-proxy.js";

/** The client address: the socket peer, or what trusted proxies forwarded (see trust-proxy.ts). */
export function clientIp(c: Context, trust: TrustProxy): string {
  let peer: string | undefined;
  try {
    peer = getConnInfo(c).remote.address;
  } catch {
    // app.request() in tests has no socket: resolveClientAddress answers "unknown"
  }
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
