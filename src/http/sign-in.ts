// Signing in and out, shared by the API's authentication routes and the dashboard's forms, so both
// take the same path: lockout, audit events, the token's version, revocation applied before answering.
import type { Context } from "hono";
import { loginGuardFor } from "../commands/login-guard.js";
import { userCommand } from "../commands/user-account.js";
import { login } from "../commands/users.js";
import type { Role } from "../events/catalog/user.js";
import type { Principal } from "./auth.js";
import type { AppDeps, AppEnv } from "./env.js";
import { commandContext } from "./request-context.js";
import { settle } from "./routes/users.js";

/** The login command (throws its DomainError: unauthorized, locked, ...) and a token for the user. */
export async function signIn(c: Context<AppEnv>, deps: AppDeps, username: string, password: string): Promise<{ token: string; expiresAt: string; roles: Role[]; now: number }> {
  const ctx = commandContext(c, deps);
  const guard = loginGuardFor(deps.coordination, deps.config.lockout);
  const user = await login({ log: deps.log, guard, onPasswordCheck: () => deps.metrics.passwordChecks.inc() }, username, password, {
    ...ctx,
    actor: { kind: "user", id: username },
    idempotencyKey: undefined,
  });
  const { token, expiresAt } = await deps.tokens.issue({ sub: username, roles: user.roles }, ctx.now, undefined, { ver: user.tokenVersion });
  return { token, expiresAt, roles: user.roles, now: ctx.now };
}

/** Revokes the request's own token everywhere; this instance applies the revocation before answering. */
export async function revokeOwnToken(c: Context<AppEnv>, deps: AppDeps, p: Principal & { jti: string; exp: number }): Promise<number> {
  const r = await userCommand(deps.log, p.sub, { type: "RevokeToken", jti: p.jti, expiresAt: new Date(p.exp * 1000).toISOString() }, commandContext(c, deps));
  await settle(deps, r.position);
  return r.position;
}
