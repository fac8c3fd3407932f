import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { DEMO_USERS, login } from "../../commands/users.js";
import { RoleSchema } from "../../events/catalog/user.js";
import { ANY_USER, requireRoles } from "../auth.js";
import type { AppDeps, AppEnv } from "../env.js";
import { problemResponses } from "../problem.js";
import { notFound } from "../../commands/errors.js";
import { commandContext } from "../request-context.js";

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
    ...problemResponses(400, 401, 423, 429),
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
    const ctx = commandContext(c, deps);
    const user = await login(deps.log, username, password, deps.config.lockout, {
      ...ctx,
      actor: { kind: "user", id: username },
      idempotencyKey: undefined,
    });
    const { token, expiresAt } = await deps.tokens.issue({ sub: username, roles: user.roles }, ctx.now);
    return c.json({ token, expiresAt, user: { username, roles: user.roles } }, 200);
  });

  app.openapi(meRoute, (c) => {
    const p = c.get("principal")!;
    return c.json({ username: p.sub, roles: p.roles }, 200);
  });

  app.openapi(demoRoute, (c) => {
    if (!deps.config.dev) throw notFound("demo credentials (development mode only)");
    return c.json(DEMO_USERS.map(({ username, password, roles, description }) => ({ username, password, roles, description })), 200);
  });
}
