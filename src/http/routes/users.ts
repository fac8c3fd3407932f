import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { createUser, loadUser } from "../../commands/users.js";
import { handleCommand } from "../../commands/handler.js";
import { userDecider } from "../../commands/user.js";
import { notFound } from "../../commands/errors.js";
import { RoleSchema } from "../../events/catalog/user.js";
import { streams } from "../../events/streams.js";
import { requireRoles } from "../auth.js";
import type { AppDeps, AppEnv } from "../env.js";
import { problemResponses } from "../problem.js";
import { commandContext } from "../request-context.js";

const HumanRole = RoleSchema.exclude(["Node"]);
const Username = z.string().regex(/^[a-z][a-z0-9._-]{1,63}$/, "lowercase letters, digits, . _ -; 2-64 characters");
const CreateUserRequest = z
  .strictObject({
    username: Username,
    password: z.string().min(10, "at least 10 characters").max(256),
    roles: z.array(HumanRole).min(1),
    email: z.email().optional(),
  })
  .openapi("CreateUserRequest");
const ChangeRolesRequest = z.strictObject({ roles: z.array(HumanRole).min(1) }).openapi("ChangeRolesRequest");
const UserView = z.object({ username: z.string(), roles: z.array(RoleSchema), disabled: z.boolean(), position: z.number() });
const admin = [requireRoles("Admin")];

const createUserRoute = createRoute({
  method: "post",
  path: "/api/v1/users",
  tags: ["Users"],
  summary: "Create a user (Admin)",
  security: [{ bearerAuth: [] }],
  middleware: admin,
  request: { body: { required: true, content: { "application/json": { schema: CreateUserRequest } } } },
  responses: {
    201: { description: "Created", content: { "application/json": { schema: UserView } } },
    ...problemResponses(400, 401, 403, 409),
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
    const r = await createUser(deps.log, body, commandContext(c, deps));
    return c.json({ username: body.username, roles: r.state.roles, disabled: false, position: r.position }, 201);
  });

  app.openapi(changeRolesRoute, async (c) => {
    const { username } = c.req.valid("param");
    if (!(await loadUser(deps.log, username)).exists) throw notFound(`user ${username}`);
    const r = await handleCommand(deps.log, streams.user(username), userDecider, { type: "ChangeRoles", roles: c.req.valid("json").roles }, commandContext(c, deps));
    return c.json({ username, roles: r.state.roles, disabled: r.state.disabled, position: r.position }, 200);
  });
}
