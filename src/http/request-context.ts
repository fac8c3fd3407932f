import type { Context } from "hono";
import { getConnInfo } from "@hono/node-server/conninfo";
import type { CommandContext } from "../commands/handler.js";
import { DomainError } from "../commands/errors.js";
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

/** Everything an event's metadata needs from the HTTP request that caused it. */
export function commandContext(c: Context<AppEnv>, deps: AppDeps): CommandContext {
  const principal = c.get("principal");
  const key = c.req.header("idempotency-key");
  if (key !== undefined && !/^[\w.:-]{1,200}$/.test(key)) {
    throw new DomainError("validation", "Idempotency-Key must be 1-200 characters of [A-Za-z0-9_.:-]");
  }
  return {
    actor: principal
      ? { kind: principal.roles.includes("Node") ? "node" : "user", id: principal.sub }
      : { kind: "user", id: "anonymous" },
    correlationId: c.get("requestId"),
    traceparent: currentTraceparent() ?? c.req.header("traceparent"),
    sourceIp: clientIp(c, deps.config.trustProxy),
    userAgent: auditUserAgent(c),
    idempotencyKey: key,
    now: deps.clock.now(),
  };
}
