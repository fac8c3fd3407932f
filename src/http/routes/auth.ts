import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { DEMO_USERS } from "../../commands/users.js";
import { RoleSchema } from "../../events/catalog/user.js";
import { ANY_USER, requireRoles } from "../auth.js";
import type { AppDeps, AppEnv } from "../env.js";
import { problemResponses } from "../problem.js";
import { notFound } from "../../commands/errors.js";
import { commandContext } from "../request-context.js";
import { changeOwnPassword } from "../../commands/user-account.js";
import { revokeOwnToken, signIn } from "../sign-in.js";
import { invalid } from "../../commands/errors.js";
import { NewPassword, settle } from "./users.js";

const UserSchema = z.object({ username: z.string(), roles: z.array(RoleSchema) }).openapi("User");
const LoginRequest = z
  .strictObject({ username: z.string().min(1).max(64), password: z.string().min(1).max(256) })
  .openapi("LoginRequest");
const LoginResponse = z.object({ token: z.string(), expiresAt: z.string(), user: UserSchema }).openapi("LoginResponse");

const loginRoute = createRoute({
  method: "post",
  path: "/api/v1/authentication/login",
  tags: ["Authentication"],
  summary: "Exchange username and password for a bearer token",
  request: { body: { required: true, content: { "application/json": { schema: LoginRequest } } } },
  responses: {
    200: { description: "Logged in", content: { "application/json": { schema: LoginResponse } } },
    // 429 also when too many logins for one username wait at once; 503 while the lockout store is unreachable
    ...problemResponses(400, 401, 423, 429, 503),
  },
});

const meRoute = createRoute({
  method: "get",
  path: "/api/v1/authentication/me",
  tags: ["Authentication"],
  summary: "The caller",
  security: [{ bearerAuth: [] }],
  middleware: [requireRoles(...ANY_USER, "Node")] as const,
  responses: { 200: { description: "The caller", content: { "application/json": { schema: UserSchema } } }, ...problemResponses(401) },
});

const logoutRoute = createRoute({
  method: "post",
  path: "/api/v1/authentication/logout",
  tags: ["Authentication"],
  summary: "Revoke the token of this request (until it would have expired); other tokens stay valid",
  security: [{ bearerAuth: [] }],
  middleware: [requireRoles(...ANY_USER)] as const,
  responses: {
    200: { description: "Revoked", content: { "application/json": { schema: z.object({ position: z.number() }) } } },
    ...problemResponses(401, 403),
  },
});

const ChangeOwnPasswordRequest = z
  .strictObject({ currentPassword: z.string().min(1).max(256), newPassword: NewPassword })
  .openapi("ChangeOwnPasswordRequest");
const changePasswordRoute = createRoute({
  method: "post",
  path: "/api/v1/authentication/password",
  tags: ["Authentication"],
  summary: "Change one's own password; every older token is revoked and a fresh one is answered",
  security: [{ bearerAuth: [] }],
  middleware: [requireRoles(...ANY_USER)] as const,
  request: { body: { required: true, content: { "application/json": { schema: ChangeOwnPasswordRequest } } } },
  responses: {
    200: {
      description: "Changed",
      content: { "application/json": { schema: z.object({ token: z.string(), expiresAt: z.string(), position: z.number() }) } },
    },
    ...problemResponses(400, 401, 403, 409, 429),
  },
});

const demoRoute = createRoute({
  method: "get",
  path: "/api/v1/authentication/demo-credentials",
  tags: ["Authentication"],
  summary: "Demo users (development mode only; 404 in production mode)",
  responses: {
    200: {
      description: "Demo users",
      content: {
        "application/json": {
          schema: z.array(z.object({ username: z.string(), password: z.string(), roles: z.array(RoleSchema), description: z.string() })),
        },
      },
    },
    ...problemResponses(404),
  },
});

export function registerAuthRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps) {
  app.openapi(loginRoute, async (c) => {
    const { username, password } = c.req.valid("json");
    const { token, expiresAt, roles } = await signIn(c, deps, username, password);
    return c.json({ token, expiresAt, user: { username, roles } }, 200);
  });

  app.openapi(meRoute, (c) => {
    const p = c.get("principal")!;
    return c.json({ username: p.sub, roles: p.roles }, 200);
  });

  app.openapi(logoutRoute, async (c) => {
    const p = c.get("principal")!;
    if (p.jti === undefined || p.exp === undefined) throw invalid("this token has no id to revoke");
    return c.json({ position: await revokeOwnToken(c, deps, { ...p, jti: p.jti, exp: p.exp }) }, 200);
  });

  app.openapi(changePasswordRoute, async (c) => {
    const p = c.get("principal")!;
    const { currentPassword, newPassword } = c.req.valid("json");
    if (newPassword === currentPassword) {
      throw invalid("the new password must differ from the current one", { errors: [{ path: "json.newPassword", message: "same as the current password" }] });
    }
    const ctx = commandContext(c, deps);
    const r = await changeOwnPassword(deps.log, p.sub, currentPassword, newPassword, ctx);
    await settle(deps, r.position);
    const { token, expiresAt } = await deps.tokens.issue({ sub: p.sub, roles: r.state.roles }, ctx.now, undefined, { ver: r.state.tokenVersion });
    return c.json({ token, expiresAt, position: r.position }, 200);
  });

  app.openapi(demoRoute, (c) => {
    if (!deps.config.dev) throw notFound("demo credentials (development mode only)");
    return c.json(DEMO_USERS.map(({ username, password, roles, description }) => ({ username, password, roles, description })), 200);
  });
}
