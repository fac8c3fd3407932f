import type { Context, MiddlewareHandler } from "hono";
import type { RateLimitClass } from "../platform/config.js";
import type { Clock } from "../platform/clock.js";
import { systemClock } from "../platform/clock.js";
import type { Coordination, RateLimitDecision } from "../platform/coordination/port.js";
import { problem } from "./problem.js";
import { hasNodeResponse, setResponseHeader } from "./request-context.js";

const WINDOW_MS = 60_000;
const WINDOW_SECONDS = WINDOW_MS / 1000;

export interface RateLimitOptions {
  coordination: Coordination;
  config: { enabled: boolean; failMode: "open" | "closed"; limitsPerMinute: Record<RateLimitClass, number> };
  /** null = exempt (health, metrics, docs) */
  classify: (c: Context) => RateLimitClass | null;
  /** "user:<name>" when authenticated, else "ip:<addr>" */
  identify: (c: Context) => string;
  onBlocked?: (cls: RateLimitClass) => void;
  /** where "rate limiter unavailable" goes in fail-open mode (pino-compatible); defaults to console */
  logger?: { warn(obj: object, msg: string): void };
  /** paces the fail-open warning */
  clock?: Clock;
}

/** How often a fail-open outage is logged, so a Redis outage does not flood the log. */
const LOG_EVERY_MS = 60_000;

/**
 * A one-minute sliding window per (class, identity), shared by every instance when Coordination is
 * Redis. Limited responses carry the IETF draft headers RateLimit-Policy and RateLimit; refusals
 * are 429 problem+json with Retry-After.
 */
export function rateLimit(opts: RateLimitOptions): MiddlewareHandler {
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger ?? { warn: (obj: object, msg: string) => console.warn(msg, obj) };
  let lastLogged = -Infinity;

  return async (c, next) => {
    if (!opts.config.enabled) return next();
    const cls = opts.classify(c);
    if (cls === null) return next();
    const limit = opts.config.limitsPerMinute[cls];

    let decision: RateLimitDecision;
    try {
      decision = await opts.coordination.hit(`http:${cls}:${opts.identify(c)}`, limit, WINDOW_MS);
    } catch (err) {
      // reads keep being served whatever the mode: only writes are failed closed
      if (opts.config.failMode === "closed" && !READ_METHODS.has(c.req.method)) {
        return problem(c, 503, "The rate limiter is unavailable; try again shortly.");
      }
      const now = clock.now();
      if (now - lastLogged >= LOG_EVERY_MS) {
        lastLogged = now;
        logger.warn({ err, class: cls }, "rate limiter unavailable: letting requests through (RATE_LIMIT_FAIL_MODE=open)");
      }
      return next();
    }

    const headers = rateLimitHeaders(decision);
    if (!decision.allowed) {
      opts.onBlocked?.(cls);
      const res = problem(c, 429, `Rate limit of ${limit} requests per minute exceeded for ${cls} requests; retry in ${headers["Retry-After"]} s.`);
      for (const [name, value] of Object.entries(headers)) res.headers.set(name, value);
      return res;
    }
    // on the Node response before the route runs (see setResponseHeader), else on Hono's after it
    const node = hasNodeResponse(c);
    if (node) {
      setResponseHeader(c, "RateLimit-Policy", headers["RateLimit-Policy"]!);
      setResponseHeader(c, "RateLimit", headers.RateLimit!);
    }
    await next();
    if (!node) {
      c.header("RateLimit-Policy", headers["RateLimit-Policy"]);
      c.header("RateLimit", headers.RateLimit);
    }
  };
}

/**
 * `reset` is when the client can next send: Retry-After when refused, otherwise when the window
 * has fully drained (the sliding window frees hits one by one, so that is the conservative bound).
 */
export function rateLimitHeaders(d: RateLimitDecision): Record<string, string> {
  const retryAfter = Math.max(1, Math.ceil(d.retryAfterMs / 1000));
  const reset = d.allowed ? Math.ceil(d.resetMs / 1000) : retryAfter;
  return {
    "RateLimit-Policy": `${d.limit};w=${WINDOW_SECONDS}`,
    RateLimit: `limit=${d.limit}, remaining=${d.remaining}, reset=${reset}`,
    "Retry-After": String(retryAfter),
  };
}

const EXEMPT = ["/health", "/metrics", "/openapi.json", "/swagger"];
/** the classes commands are counted in, by resource, as the reference system has them */
const COMMAND_PREFIXES: [string, RateLimitClass][] = [
  ["/api/v1/deployments", "deployments"],
  ["/api/v1/approvals", "approvals"],
  ["/api/v1/clusters", "clusters"],
];
const READ_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
/** POSTs that only read (a graph pattern is a body, not a command) */
const READ_POSTS = new Set(["/api/v1/graph/query"]);
const AGENTS = "/api/v1/agent";

/** Event streams hold a connection open; their connects are paced apart from ordinary reads. */
function isEventStream(path: string): boolean {
  return path.endsWith("/events") || (path.startsWith(AGENTS) && path.endsWith("/desired-state/stream"));
}

/**
 * Which budget a request draws from. Authentication commands (login above all) keep the tight
 * `auth` limit against password guessing, and the agent protocol keeps `agents`; otherwise event
 * stream connects are `sse`, reads are `queries`, and commands count against their resource's
 * class, or `global`.
 */
export function classifyRequest(method: string, path: string): RateLimitClass | null {
  if (EXEMPT.some((p) => path === p || path.startsWith(`${p}/`))) return null;
  const read = READ_METHODS.has(method.toUpperCase()) || (method.toUpperCase() === "POST" && READ_POSTS.has(path));
  if (read && isEventStream(path)) return "sse";
  if (path.startsWith(AGENTS)) return "agents";
  if (read) return "queries";
  // the dashboard's sign-in form runs the same login: the same budget against password guessing
  if (path.startsWith("/api/v1/authentication/") || path === "/ui/login") return "auth";
  for (const [prefix, cls] of COMMAND_PREFIXES) if (path.startsWith(prefix)) return cls;
  return "global";
}
