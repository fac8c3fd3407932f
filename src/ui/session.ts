import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { Principal } from "../http/auth.js";
import type { AppDeps, AppEnv } from "../http/env.js";

/**
 * The browser session: the same access token the API issues, held in an HttpOnly, SameSite=Strict
 * cookie for exactly the token's lifetime. Scripts cannot read it, other sites cannot make the
 * browser send it, and it is never put in a URL.
 */
export const SESSION_COOKIE = "korch_session";

const DEPLOYMENT_FEED = /^\/api\/v1\/deployments\/(?:[0-9a-f-]{36}\/)?events$/i;

/**
 * Where the cookie counts: the dashboard, and the two deployment feeds for EventSource clients
 * (which cannot send an Authorization header). Never an API command: those need the bearer
 * header, which a cross-site form cannot set.
 */
export function cookieAuthApplies(method: string, path: string): boolean {
  if (path === "/ui" || path.startsWith("/ui/")) return true;
  return method === "GET" && DEPLOYMENT_FEED.test(path);
}

/**
 * Authenticates a request by the session cookie exactly as `admitBearer` does a bearer token: the
 * token's signature and lifetime, then the user's current state (disabled, revoked, roles). Only
 * where cookieAuthApplies and the request brought no Authorization header (src/http/app.ts).
 */
export async function admitSessionCookie(c: Context<AppEnv>, deps: Pick<AppDeps, "tokens" | "users">): Promise<void> {
  const token = getCookie(c, SESSION_COOKIE);
  if (token) {
    const verified = await deps.tokens.verify(token);
    const principal = verified && (await deps.users.admit(verified));
    if (principal) c.set("principal", principal);
    else c.set("authError", verified ? "the session was signed out or the account is not active" : "the session expired");
  }
}

/** the session token of this request, when it came by cookie */
export const sessionToken = (c: Context): string | undefined => getCookie(c, SESSION_COOKIE);

/** true when the browser reached us over TLS (directly, or through a proxy we trust to say so) */
export function overTls(c: Context, deps: Pick<AppDeps, "config">): boolean {
  if (new URL(c.req.url).protocol === "https:") return true;
  return deps.config.trustProxy.kind !== "none" && c.req.header("x-forwarded-proto")?.split(",")[0]?.trim() === "https";
}

export function startSession(c: Context, deps: Pick<AppDeps, "config">, token: string, expiresAt: string, nowMs: number): void {
  setCookie(c, SESSION_COOKIE, token, {
    httpOnly: true,
    sameSite: "Strict",
    secure: overTls(c, deps),
    path: "/",
    maxAge: Math.max(1, Math.floor((Date.parse(expiresAt) - nowMs) / 1000)),
  });
}

export function endSession(c: Context, deps: Pick<AppDeps, "config">): void {
  deleteCookie(c, SESSION_COOKIE, { path: "/", httpOnly: true, sameSite: "Strict", secure: overTls(c, deps) });
}

/** what a dashboard page knows of its viewer */
export interface Viewer {
  principal: Principal;
  /** the per-session CSRF token every state-changing form carries */
  csrf: string;
}
