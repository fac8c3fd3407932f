import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { DomainError } from "../../commands/errors.js";
import { DEMO_USERS } from "../../commands/users.js";
import { revokeOwnToken, signIn } from "../../http/sign-in.js";
import type { AppDeps, AppEnv } from "../../http/env.js";
import { STATUS_BY_CODE } from "../../http/problem.js";
import { html, none, type Html } from "../html.js";
import { notice } from "../layout.js";
import { render, see303 } from "../page.js";
import { endSession, startSession } from "../session.js";

/** only a path of the dashboard itself, so the sign-in form cannot bounce anyone elsewhere */
export function safeNext(next: string | undefined): string {
  if (!next || !/^\/ui(\/[\w\-./%?=&]*)?$/.test(next) || next.includes("//") || next.startsWith("/ui/login") || next.startsWith("/ui/assets")) return "/ui/deployments";
  return next;
}

function demoTable(deps: AppDeps): Html {
  if (!deps.config.dev) return none;
  return html`<section class="demo" aria-labelledby="demo-h">
    <h2 id="demo-h">Demo users (development mode)</h2>
    <table>
      <thead><tr><th scope="col">Username</th><th scope="col">Password</th><th scope="col">Roles</th></tr></thead>
      <tbody>${DEMO_USERS.map((u) => html`<tr><td><code>${u.username}</code></td><td><code>${u.password}</code></td><td>${u.roles.join(", ")}</td></tr>`)}</tbody>
    </table>
  </section>`;
}

function loginPage(c: Context<AppEnv>, deps: AppDeps, o: { next: string; username?: string; error?: string; signedOut?: boolean }, status: ContentfulStatusCode = 200) {
  const body = html`<section class="signin" aria-labelledby="signin-h">
      <h1 id="signin-h">Sign in</h1>
      ${o.error ? notice("error", o.error) : o.signedOut ? notice("ok", "You are signed out.") : none}
      <form method="post" action="/ui/login" class="stack">
        <input type="hidden" name="next" value="${o.next}">
        <label for="username">Username</label>
        <input id="username" name="username" autocomplete="username" required maxlength="64" value="${o.username ?? ""}" autofocus>
        <label for="password">Password</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required maxlength="256">
        <button type="submit" class="primary">Sign in</button>
      </form>
    </section>
    ${demoTable(deps)}`;
  return render(c, deps, { title: "Sign in", section: "none", body }, status);
}

const field = (form: Record<string, unknown>, name: string) => (typeof form[name] === "string" ? (form[name] as string) : "");

export function registerLoginPages(app: OpenAPIHono<AppEnv>, deps: AppDeps): void {
  app.get("/ui/login", (c) => {
    const next = safeNext(c.req.query("next"));
    if (c.get("principal")) return see303(c, next);
    return loginPage(c, deps, { next, signedOut: c.req.query("signedOut") === "1" });
  });

  // the same login as POST /api/v1/authentication/login: lockout, audit events, token
  app.post("/ui/login", async (c) => {
    const form = await c.req.parseBody();
    const username = field(form, "username").trim();
    const password = field(form, "password");
    const next = safeNext(field(form, "next"));
    if (!username || !password || username.length > 64 || password.length > 256) {
      return loginPage(c, deps, { next, username: username.slice(0, 64), error: "Enter your username (up to 64 characters) and password." }, 400);
    }
    try {
      const { token, expiresAt, now } = await signIn(c, deps, username, password);
      startSession(c, deps, token, expiresAt, now);
      return see303(c, next);
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      const status = STATUS_BY_CODE[err.code];
      const words =
        err.code === "unauthorized"
          ? "Wrong username or password."
          : err.code === "locked"
            ? `This account is locked after too many failed sign-ins. ${err.message}.`
            : err.message;
      const res = await loginPage(c, deps, { next, username, error: words }, status);
      if (typeof err.details.retryAfterSeconds === "number") res.headers.set("Retry-After", String(err.details.retryAfterSeconds));
      return res;
    }
  });

  // the logout command of POST /api/v1/authentication/logout: this token is revoked everywhere
  app.post("/ui/logout", async (c) => {
    const p = c.get("principal");
    if (p?.jti !== undefined && p.exp !== undefined) await revokeOwnToken(c, deps, { ...p, jti: p.jti, exp: p.exp });
    endSession(c, deps);
    return see303(c, "/ui/login?signedOut=1");
  });
}
