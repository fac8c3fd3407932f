import type { Context } from "hono";
import type { AppEnv } from "./env.js";
import { hasNodeResponse, setResponseHeader } from "./request-context.js";

/**
 * hono/secure-headers' defaults (with no Content-Security-Policy: the dashboard sets its own),
 * written out so that they can go on the Node response before the route runs.
 */
const SECURITY_HEADERS: [string, string][] = [
  ["Cross-Origin-Resource-Policy", "same-origin"],
  ["Cross-Origin-Opener-Policy", "same-origin"],
  ["Origin-Agent-Cluster", "?1"],
  ["Referrer-Policy", "no-referrer"],
  ["Strict-Transport-Security", "max-age=15552000; includeSubDomains"],
  ["X-Content-Type-Options", "nosniff"],
  ["X-DNS-Prefetch-Control", "off"],
  ["X-Download-Options", "noopen"],
  ["X-Frame-Options", "SAMEORIGIN"],
  ["X-Permitted-Cross-Domain-Policies", "none"],
  ["X-XSS-Protection", "0"],
];

// A caller's id is kept only if it is short and plain, so logs cannot be forged: what hono's
// requestId middleware accepted with our generator behind it, exactly.
const PLAIN_ID = /^[\w\-=]{1,255}$/;
const SHORT_ID = /^[\w.:-]{1,128}$/;

/** The caller's X-Request-Id when it may be kept, else a new one. */
export function requestIdOf(given: string | undefined): string {
  return given !== undefined && (PLAIN_ID.test(given) || SHORT_ID.test(given)) ? given : crypto.randomUUID();
}

/**
 * The request id (c.get("requestId"), echoed as X-Request-Id) and the security headers, on every
 * response, errors and event streams included: the first half, before the route. They are set on
 * the Node response before the route runs (src/http/request-context.ts says why); in app.request()
 * tests, the id goes on Hono's response now and the rest after the route (securityHeadersAfter).
 * Returns whether there is a Node response.
 */
export function requestIdAndSecurityHeadersBefore(c: Context<AppEnv>): boolean {
  const id = requestIdOf(c.req.header("x-request-id"));
  c.set("requestId", id);
  if (hasNodeResponse(c)) {
    setResponseHeader(c, "X-Request-Id", id);
    for (const [name, value] of SECURITY_HEADERS) setResponseHeader(c, name, value);
    // (secure-headers also deleted X-Powered-By; nothing here sets it, and deleting it after the
    // route would cost the web Headers this avoids)
    return true;
  }
  c.header("X-Request-Id", id);
  return false;
}

/** The second half without a Node response (app.request() in tests): the headers on Hono's response. */
export function securityHeadersAfter(c: Context<AppEnv>): void {
  for (const [name, value] of SECURITY_HEADERS) c.res.headers.set(name, value);
  c.res.headers.delete("X-Powered-By");
}
