import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { createUser, loadUser } from "../../commands/users.js";
import { resetPassword, userCommand } from "../../commands/user-account.js";
import { handleCommand } from "../../commands/handler.js";
import { userDecider, type UserState } from "../../commands/user.js";
import { conflict, notFound } from "../../commands/errors.js";
import { RoleSchema } from "../../events/catalog/user.js";
import { streams } from "../../events/streams.js";
import { requireRoles } from "../auth.js";
import type { AppDeps, AppEnv } from "../env.js";
import { problemResponses } from "../problem.js";
import { commandContext } from "../request-context.js";
import { IdempotencyHeader, idempotentCommand } from "../idempotency.js";

const HumanRole = RoleSchema.exclude(["Node"]);
const Username = z.string().regex(/^[a-z][a-z0-9._-]{1,63}$/, "lowercase letters, digits, . _ -; 2-64 characters");
export const NewPassword = z.string().min(10, "at least 10 characters").max(256);
const CreateUserRequest = z
  .strictObject({
    username: Username,
    password: NewPassword,
    roles: z.array(HumanRole).min(1),
    email: z.email().optional(),
  })
  .openapi("CreateUserRequest");
const ChangeRolesRequest = z.strictObject({ roles: z.array(HumanRole).min(1) }).openapi("ChangeRolesRequest");
const SetPasswordRequest = z.strictObject({ password: NewPassword }).openapi("SetPasswordRequest");
const UserView = z.object({ username: z.string(), roles: z.array(RoleSchema), disabled: z.boolean(), position: z.number() }).openapi("UserView");
const admin = [requireRoles("Admin")];
const userParams = z.object({ username: Username });

const view = (username: string, state: UserState, position: number) => ({ username, roles: state.roles, disabled: state.disabled, position });

/**
 * Account changes apply to the very next request: answer once this instance's user directory has
 * the change (other instances follow the log within their poll interval).
 */
export async function settle(deps: AppDeps, position: number): Promise<void> {
  if (!(await deps.users.waitFor(position, deps.config.readWaitTimeoutMs))) {
    deps.logger.warn({ position, at: deps.users.position() }, "user directory lags the log; an account change applies late");
  }
}

const accountStateRoute = (action: "disable" | "enable") =>
  createRoute({
    method: "post",
    path: `/api/v1/users/{username}/${action}`,
    tags: ["Users"],
    summary:
      action === "disable"
        ? "Disable an account (Admin): its tokens are refused from the next request on, also after it is enabled again"
        : "Enable a disabled account (Admin): the user may log in again",
    security: [{ bearerAuth: [] }],
    middleware: admin,
    request: { params: userParams },
    responses: {
      200: { description: "Changed", content: { "application/json": { schema: UserView } } },
      ...problemResponses(400, 401, 403, 404, 409),
    },
  });
const disableRoute = accountStateRoute("disable");
const enableRoute = accountStateRoute("enable");

const setPasswordRoute = createRoute({
  method: "put",
  path: "/api/v1/users/{username}/password",
  tags: ["Users"],
  summary: "Set a user's password (Admin); every token issued before is revoked",
  security: [{ bearerAuth: [] }],
  middleware: admin,
  request: {
    params: userParams,
    body: { required: true, content: { "application/json": { schema: SetPasswordRequest } } },
  },
  responses: {
    200: { description: "Changed", content: { "application/json": { schema: UserView } } },
    ...problemResponses(400, 401, 403, 404),
  },
});

const createUserRoute = createRoute({
  method: "post",
  path: "/api/v1/users",
  tags: ["Users"],
  summary: "Create a user (Admin)",
  security: [{ bearerAuth: [] }],
  middleware: admin,
  request: { headers: IdempotencyHeader, body: { required: true, content: { "application/json": { schema: CreateUserRequest } } } },
  responses: {
    201: { description: "Created", content: { "application/json": { schema: UserView } } },
    ...problemResponses(400, 401, 403, 409, 422),
  },
});

const changeRolesRoute = createRoute({
  method: "put",
  path: "/api/v1/users/{username}/roles",
  tags: ["Users"],
  summary: "Replace a user's roles (Admin)",
  security: [{ bearerAuth: [] }],
  middleware: admin,
  request: {
    params: z.object({ username: Username }),
    body: { required: true, content: { "application/json": { schema: ChangeRolesRequest } } },
  },
  responses: {
    200: { description: "Changed", content: { "application/json": { schema: UserView } } },
    ...problemResponses(400, 401, 403, 404),
  },
});

export function registerUserRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps) {
  app.openapi(createUserRoute, async (c) => {
    const body = c.req.valid("json");
    // the key's fingerprint is kept in the log: a fast hash over a password must not be
    return idempotentCommand(c, deps, { ...body, password: undefined }, async (ctx) => {
      const r = await createUser(deps.log, body, ctx);
      await settle(deps, r.position);
      return { status: 201, body: { username: body.username, roles: r.state.roles, disabled: false, position: r.position } };
    });
  });

  app.openapi(changeRolesRoute, async (c) => {
    const { username } = c.req.valid("param");
    if (!(await loadUser(deps.log, username)).exists) throw notFound(`user ${username}`);
    const r = await handleCommand(deps.log, streams.user(username), userDecider, { type: "ChangeRoles", roles: c.req.valid("json").roles }, commandContext(c, deps));
    await settle(deps, r.position);
    return c.json({ username, roles: r.state.roles, disabled: r.state.disabled, position: r.position }, 200);
  });

  app.openapi(disableRoute, async (c) => {
    const { username } = c.req.valid("param");
    // an Admin locking themself out could leave nobody to undo it
    if (username === c.get("principal")!.sub) throw conflict("an Admin cannot disable their own account");
    const r = await userCommand(deps.log, username, { type: "DisableUser" }, commandContext(c, deps));
    await settle(deps, r.position);
    return c.json(view(username, r.state, r.position), 200);
  });

  app.openapi(enableRoute, async (c) => {
    const { username } = c.req.valid("param");
    const r = await userCommand(deps.log, username, { type: "EnableUser" }, commandContext(c, deps));
    await settle(deps, r.position);
    return c.json(view(username, r.state, r.position), 200);
  });

  app.openapi(setPasswordRoute, async (c) => {
    const { username } = c.req.valid("param");
    const ctx = commandContext(c, deps);
    // 404 before spending a password hash on nobody
    if (!(await loadUser(deps.log, username)).exists) throw notFound(`user ${username}`);
    const r = await resetPassword(deps.log, username, c.req.valid("json").password, ctx);
    await settle(deps, r.position);
    return c.json(view(username, r.state, r.position), 200);
  });
}
