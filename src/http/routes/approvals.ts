import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { deploymentCommand } from "../../commands/deployments.js";
import { notFound } from "../../commands/errors.js";
import type { DeploymentDoc } from "../../projections/deployments.js";
import { ANY_USER, requireRoles } from "../auth.js";
import { ConsistencyQuery } from "../consistency.js";
import type { AppDeps, AppEnv } from "../env.js";
import { problemResponses } from "../problem.js";
import { IdempotencyHeader, idempotentCommand } from "../idempotency.js";

const IdParams = z.object({ id: z.string().uuid().openapi({ param: { name: "id", in: "path" } }) });
const Approval = z
  .object({
    executionId: z.string(),
    moduleName: z.string(),
    version: z.string(),
    targetEnvironment: z.string().nullable(),
    requesterEmail: z.string(),
    requestedBy: z.string(),
    deploymentStatus: z.string(),
    status: z.string(),
    requestedAt: z.string().nullable(),
    expiresAt: z.string().nullable(),
    decidedBy: z.string().nullable(),
    decidedAt: z.string().nullable(),
    reason: z.string().nullable(),
  })
  .openapi("Approval");
const Decision = z.object({ executionId: z.string(), status: z.string(), approval: z.string(), position: z.number() }).openapi("ApprovalDecision");
const security = [{ bearerAuth: [] }];

function toApproval(d: DeploymentDoc): z.infer<typeof Approval> {
  return {
    executionId: d.executionId,
    moduleName: d.moduleName,
    version: d.version,
    targetEnvironment: d.targetEnvironment,
    requesterEmail: d.requesterEmail,
    requestedBy: d.requestedBy,
    deploymentStatus: d.status,
    status: d.approval.status,
    requestedAt: d.approval.requestedAt,
    expiresAt: d.approval.expiresAt,
    decidedBy: d.approval.decidedBy,
    decidedAt: d.approval.decidedAt,
    reason: d.approval.reason,
  };
}

const pending = createRoute({
  method: "get",
  path: "/api/v1/approvals/pending",
  tags: ["Approvals"],
  summary: "Deployments waiting for an Admin's decision, oldest first",
  security,
  middleware: [requireRoles(...ANY_USER)],
  request: { query: ConsistencyQuery },
  responses: { 200: { description: "Pending approvals", content: { "application/json": { schema: z.array(Approval) } } }, ...problemResponses(401) },
});

const one = createRoute({
  method: "get",
  path: "/api/v1/approvals/deployments/{id}",
  tags: ["Approvals"],
  summary: "A deployment's approval and its decision",
  security,
  middleware: [requireRoles(...ANY_USER)],
  request: { params: IdParams, query: ConsistencyQuery },
  responses: { 200: { description: "The approval", content: { "application/json": { schema: Approval } } }, ...problemResponses(401, 404) },
});

const decide = (verb: "approve" | "reject") =>
  createRoute({
    method: "post",
    path: `/api/v1/approvals/deployments/{id}/${verb}`,
    tags: ["Approvals"],
    summary: verb === "approve" ? "Approve (Admin; not your own request unless configured)" : "Reject with a reason (Admin)",
    security,
    middleware: [requireRoles("Admin")],
    request: {
      params: IdParams,
      headers: IdempotencyHeader,
      body: {
        required: verb === "reject",
        content: {
          "application/json": {
            schema: verb === "approve" ? z.strictObject({ reason: z.string().max(1000).optional() }) : z.strictObject({ reason: z.string().min(1).max(1000) }),
          },
        },
      },
    },
    responses: { 200: { description: "Decided", content: { "application/json": { schema: Decision } } }, ...problemResponses(400, 401, 403, 404, 409, 422) },
  });

export function registerApprovalRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps) {
  const deployments = () => deps.readStore.collection<DeploymentDoc>("deployments");

  app.openapi(pending, async (c) => {
    const docs = await deployments().find({ status: "PendingApproval" }, { sort: { createdAt: 1 }, projection: { state: 0 } });
    return c.json(docs.map(toApproval), 200);
  });

  app.openapi(one, async (c) => {
    const doc = await deployments().get(c.req.valid("param").id);
    if (!doc || doc.approval.status === "NotRequired") throw notFound("approval for this deployment");
    return c.json(toApproval(doc), 200);
  });

  for (const verb of ["approve", "reject"] as const) {
    app.openapi(decide(verb), async (c) => {
      const { id } = c.req.valid("param");
      const by = c.get("principal")!.sub;
      const body = (c.req.header("content-length") ?? "0") !== "0" ? (c.req.valid("json") as { reason?: string }) : {};
      return idempotentCommand(c, deps, body, async (ctx) => {
        const command =
          verb === "approve" ? { type: "Approve" as const, by, reason: body.reason, now: ctx.now } : { type: "Reject" as const, by, reason: body.reason ?? "", now: ctx.now };
        const result = await deploymentCommand(deps.log, deps.metrics, id, command, ctx, deps.readStore, deps.deploymentFolds);
        return { status: 200, body: { executionId: id, status: result.state.status, approval: result.state.approval.status, position: result.position } };
      });
    });
  }
}
