import type { Context } from "hono";
import { getConnInfo } from "@hono/node-server/conninfo";
import type { CommandContext } from "../commands/handler.js";
import { DomainError } from "../commands/errors.js";
import type { AppDeps, AppEnv } from "./env.js";
import { currentTraceparent } from "../platform/telemetry.js";

/** The client address: the first X-Forwarded-For hop when behind a proxy, else the socket peer. */
export function clientIp(c: Context): string {
  const forwarded = c.req.header("x-forwarded-for")?.split(",")[0]?.trim();
  if (forwarded) return forwarded;
  try {
    return getConnInfo(c).remote.address ?? "unknown";
  } catch {
    return "unknown"; // app.request() in tests has no socket
  }
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
    sourceIp: clientIp(c),
    userAgent: c.req.header("user-agent")?.slice(0, 256),
    idempotencyKey: key,
    now: deps.clock.now(),
  };
}
