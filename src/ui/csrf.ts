import { createHmac, timingSafeEqual } from "node:crypto";
import type { Context } from "hono";
import type { Principal } from "../http/auth.js";
import type { AppDeps } from "../http/env.js";
import { overTls, sessionToken } from "./session.js";

/** the form field every state-changing form carries */
export const CSRF_FIELD = "_csrf";

/**
 * The per-session CSRF token: an HMAC of the token's id keyed by the session token itself. Only
 * a holder of the HttpOnly cookie can compute it, every instance can check it without shared
 * state or a server key, and it dies with the session (sign-out, expiry, a new sign-in).
 */
export function csrfTokenFor(sessionToken: string, principal: Pick<Principal, "jti" | "sub">): string {
  return createHmac("sha256", sessionToken)
    .update(`korch-ui-csrf\0${principal.sub}\0${principal.jti ?? ""}`)
    .digest("base64url");
}

/** the CSRF token of this request's session, or "" when it has no session cookie */
export function csrfOf(c: Context, principal: Principal): string {
  const token = sessionToken(c);
  return token ? csrfTokenFor(token, principal) : "";
}

/** This server's origin as the browser sees it: scheme (TLS or a trusted proxy's word) and Host. */
export function serverOrigin(c: Context, deps: Pick<AppDeps, "config">): string | null {
  const host = c.req.header("host");
  if (!host) return null;
  return `${overTls(c, deps) ? "https" : "http"}://${host.toLowerCase()}`;
}

/**
 * The request's Origin must be ours: Origin when the browser sent one (every current browser does
 * on a POST), else the Referer's origin; a request with neither is refused, not trusted.
 */
export function sameOrigin(c: Context, deps: Pick<AppDeps, "config">): boolean {
  const ours = serverOrigin(c, deps);
  if (!ours) return false;
  const origin = c.req.header("origin");
  if (origin !== undefined) return origin.toLowerCase() === ours;
  const referer = c.req.header("referer");
  if (!referer) return false;
  try {
    return new URL(referer).origin.toLowerCase() === ours;
  } catch {
    return false;
  }
}

export function validCsrf(c: Context, principal: Principal, given: unknown): boolean {
  const expected = csrfOf(c, principal);
  if (!expected || typeof given !== "string" || given.length !== expected.length) return false;
  return timingSafeEqual(Buffer.from(given), Buffer.from(expected));
}
