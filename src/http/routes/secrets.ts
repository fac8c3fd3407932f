import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { notFound } from "../../commands/errors.js";
import type { SecretState } from "../../commands/secret.js";
import type { RecordedEvent } from "../../events/envelope.js";
import { streams } from "../../events/streams.js";
import { SecretPolicyInputSchema } from "../../secrets/policy.js";
import { SECRET_NAME, SECRET_NAME_RULE } from "../../secrets/service.js";
import { toRotationView, toSecretSummary, toSecretView } from "../../secrets/view.js";
import { requireRoles } from "../auth.js";
import type { AppDeps, AppEnv } from "../env.js";
import { problemResponses } from "../problem.js";
import { IdempotencyHeader, idempotentCommand } from "../idempotency.js";
import { commandContext } from "../request-context.js";
import { decoratedMessage, parseLastEventId, streamFeed } from "../sse.js";

// Versioned secrets, Admin only (Viewer and Deployer get 403 on every route). Values leave the
// service only through GET .../value, and each such read is itself an event (SecretValueRead).

const admin = [requireRoles("Admin")];
const security = [{ bearerAuth: [] }];

const Name = z.string().regex(SECRET_NAME, SECRET_NAME_RULE).openapi({ param: { name: "name", in: "path" } });
const NameParams = z.object({ name: Name });
const VersionNumber = z.coerce.number().int().min(1).max(1_000_000_000);
const ExpectedVersion = z.number().int().min(1).optional().openapi({ description: "check-and-set: the version the caller believes is current; 409 otherwise" });

const Labels = z.object({ current: z.number().nullable(), pending: z.number().nullable(), previous: z.number().nullable() });
const Policy = z
  .object({ intervalDays: z.number().nullable(), overlapSeconds: z.number(), notifyBeforeDays: z.number().nullable(), expiresAfterDays: z.number().nullable(), maxVersions: z.number() })
  .openapi("SecretPolicy");
const RotationView = z
  .object({
    rotationId: z.string(),
    status: z.enum(["InProgress", "Completed", "RolledBack"]),
    reason: z.string(),
    scheduled: z.boolean(),
    requestedBy: z.string(),
    requestedAt: z.string(),
    endedAt: z.string().nullable(),
    version: z.number().nullable(),
    outcome: z.string().nullable(),
    steps: z.array(z.object({ step: z.string(), completedAt: z.string(), durationMs: z.number() })),
    failures: z.array(z.object({ step: z.string(), reason: z.string(), attempt: z.number(), willRetry: z.boolean(), at: z.string() })),
    waitingUntil: z.object({ dueAt: z.string(), purpose: z.string() }).nullable(),
  })
  .openapi("SecretRotation");
const Summary = z
  .object({
    name: z.string(),
    kind: z.string(),
    status: z.enum(["Active", "Rotating", "RotationFailing"]),
    currentVersion: z.number().nullable(),
    lastRotatedAt: z.string().nullable(),
    nextRotationAt: z.string().nullable(),
    expiresAt: z.string().nullable(),
  })
  .openapi("SecretSummary");
const SecretView = Summary.extend({
  createdAt: z.string(),
  policy: Policy,
  labels: Labels,
  previousValidUntil: z.string().nullable(),
  versions: z.array(
    z.object({
      version: z.number(),
      labels: z.array(z.enum(["current", "pending", "previous"])),
      createdAt: z.string(),
      expiresAt: z.string().nullable(),
      destroyed: z.boolean(),
      destroyedAt: z.string().nullable(),
      rotationId: z.string().nullable(),
      /** what the kind publishes in clear (a public JWK, a fingerprint) */
      publicInfo: z.record(z.string(), z.unknown()).nullable(),
    }),
  ),
  rotation: RotationView.nullable(),
  failing: z.object({ reason: z.string(), at: z.string() }).nullable(),
  rotations: z.number(),
  position: z.number(),
}).openapi("Secret");

const CreateSecretRequest = z
  .strictObject({
    name: z.string().regex(SECRET_NAME, SECRET_NAME_RULE),
    kind: z.string().min(1).max(64),
    value: z.string().min(1).max(65_536).optional().openapi({ description: "only for kinds that take a caller's value (generic); generated kinds refuse one" }),
    policy: SecretPolicyInputSchema.optional(),
  })
  .openapi("CreateSecretRequest");
const PolicyRequest = SecretPolicyInputSchema.extend({ expectedVersion: ExpectedVersion }).strict().openapi("SecretPolicyRequest");
const ActionRequest = z.strictObject({ reason: z.string().max(1000).optional(), expectedVersion: ExpectedVersion }).openapi("SecretActionRequest");
const RotateAccepted = z.object({ name: z.string(), rotationId: z.string(), position: z.number() }).openapi("SecretRotationAccepted");
const ValueAnswer = z.object({ name: z.string(), version: z.number(), value: z.string(), position: z.number() }).openapi("SecretValue");

const route = <R extends Parameters<typeof createRoute>[0]>(r: R) => createRoute({ ...r, tags: ["Secrets"], security, middleware: admin });
const errors = (...s: number[]) => problemResponses(401, 403, ...s);
const optionalBody = (schema: z.ZodType) => ({ required: false, content: { "application/json": { schema } } });

const listRoute = route({
  method: "get",
  path: "/api/v1/secrets",
  summary: "Secrets, without values (Admin)",
  responses: { 200: { description: "Secrets", content: { "application/json": { schema: z.object({ items: z.array(Summary), position: z.number() }) } } }, ...errors() },
});
const createSecretRoute = route({
  method: "post",
  path: "/api/v1/secrets",
  summary: "Create a secret (Admin): version 1 from the given value (generic) or generated by its kind",
  request: { headers: IdempotencyHeader, body: { required: true, content: { "application/json": { schema: CreateSecretRequest } } } },
  responses: { 201: { description: "Created", content: { "application/json": { schema: SecretView } } }, ...errors(400, 409, 422) },
});
const getRoute = route({
  method: "get",
  path: "/api/v1/secrets/{name}",
  summary: "A secret's metadata: versions with labels, policy, rotation times, status (never a value)",
  request: { params: NameParams },
  responses: { 200: { description: "The secret", content: { "application/json": { schema: SecretView } } }, ...errors(400, 404) },
});
const policyRoute = route({
  method: "put",
  path: "/api/v1/secrets/{name}/policy",
  summary: "Change a secret's policy; fields left out keep their value",
  request: { params: NameParams, body: { required: true, content: { "application/json": { schema: PolicyRequest } } } },
  responses: { 200: { description: "Changed", content: { "application/json": { schema: SecretView } } }, ...errors(400, 404, 409) },
});
const rotateRoute = route({
  method: "post",
  path: "/api/v1/secrets/{name}/rotate",
  summary: "Start a rotation: create -> install -> test -> finish, each an event; 409 while one is in progress",
  request: { params: NameParams, headers: IdempotencyHeader, body: optionalBody(ActionRequest) },
  responses: { 202: { description: "Accepted; follow Location", content: { "application/json": { schema: RotateAccepted } } }, ...errors(400, 404, 409, 422) },
});
const rotationRoute = route({
  method: "get",
  path: "/api/v1/secrets/{name}/rotations/{rotationId}",
  summary: "One rotation: steps with timings, failures, outcome",
  request: { params: z.object({ name: Name, rotationId: z.string().uuid().openapi({ param: { name: "rotationId", in: "path" } }) }) },
  responses: { 200: { description: "The rotation", content: { "application/json": { schema: RotationView } } }, ...errors(400, 404) },
});
const rollbackRoute = route({
  method: "post",
  path: "/api/v1/secrets/{name}/rollback",
  summary: "Roll back: a rotation in progress is abandoned (pending dropped); otherwise the previous version becomes current again",
  request: { params: NameParams, body: optionalBody(ActionRequest) },
  responses: { 200: { description: "Rolled back", content: { "application/json": { schema: SecretView } } }, ...errors(400, 404, 409) },
});
const valueRoute = route({
  method: "get",
  path: "/api/v1/secrets/{name}/value",
  summary: "A generic secret's value (current, or ?version=); every read is recorded as an event",
  request: { params: NameParams, query: z.object({ version: VersionNumber.optional() }) },
  responses: { 200: { description: "The value", content: { "application/json": { schema: ValueAnswer } } }, ...errors(400, 404, 409) },
});
const destroyRoute = route({
  method: "delete",
  path: "/api/v1/secrets/{name}/versions/{version}",
  summary: "Destroy a version that is not current: its key is destroyed, so its value is gone for good",
  request: { params: z.object({ name: Name, version: VersionNumber.openapi({ param: { name: "version", in: "path" } }) }) },
  responses: { 200: { description: "Destroyed", content: { "application/json": { schema: SecretView } } }, ...errors(400, 404, 409) },
});
const eventsRoute = route({
  method: "get",
  path: "/api/v1/secrets/{name}/events",
  summary: "SSE: this secret's events from the start (or Last-Event-ID); data carries no value or ciphertext",
  request: { params: NameParams, headers: z.object({ "last-event-id": z.string().optional() }) },
  responses: {
    200: { description: "text/event-stream: id = global position, event = type, data = JSON", content: { "text/event-stream": { schema: z.string() } } },
    ...errors(400, 404, 429),
  },
});

/** An event as the feed shows it: a version's material (ciphertext or a Vault path) left out. */
function redacted(e: RecordedEvent): Record<string, unknown> | undefined {
  if (e.type !== "SecretVersionAdded") return undefined;
  const { material: _hidden, ...rest } = e.data as Record<string, unknown>;
  return { data: rest };
}

export function registerSecretRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps) {
  const { secrets } = deps;
  const settings = deps.config.secrets.rotation;
  /** answers once this instance's read model has `position`, so the next GET sees the change */
  const settled = async (position: number) => {
    if (!(await secrets.directory.waitFor(position, deps.config.readWaitTimeoutMs))) deps.logger.warn({ position }, "secrets read model lags the log");
  };
  const stateOf = (name: string): SecretState => {
    const s = secrets.directory.get(name);
    if (!s?.exists) throw notFound(`secret ${name}`);
    return s;
  };
  const view = (s: SecretState, position: number) => ({ ...toSecretView(s, settings), position });
  const body = async <T>(c: { req: { header(n: string): string | undefined; valid(t: "json"): unknown } }): Promise<T> =>
    // an absent body is an empty one (POST .../rotate with nothing to say)
    (c.req.header("content-length") && c.req.header("content-length") !== "0" ? (c.req.valid("json") as T) : ({} as T));

  app.openapi(listRoute, (c) => c.json({ items: secrets.directory.list().map((s) => toSecretSummary(s, settings)), position: secrets.directory.position() }, 200));

  app.openapi(createSecretRoute, async (c) => {
    const input = c.req.valid("json");
    // the value is not part of the fingerprint the key's record keeps in the log
    return idempotentCommand(c, deps, { ...input, value: input.value === undefined ? undefined : "<value>" }, async (ctx) => {
      const r = await secrets.service.create(input, ctx);
      await settled(r.position);
      return { status: 201, body: view(r.state, r.position), headers: { Location: `/api/v1/secrets/${input.name}` } };
    });
  });

  app.openapi(getRoute, (c) => {
    const { name } = c.req.valid("param");
    return c.json(view(stateOf(name), secrets.directory.position()), 200);
  });

  app.openapi(policyRoute, async (c) => {
    const { name } = c.req.valid("param");
    const { expectedVersion, ...policy } = c.req.valid("json");
    const r = await secrets.service.changePolicy(name, policy, expectedVersion, commandContext(c, deps));
    await settled(r.position);
    return c.json(view(r.state, r.position), 200);
  });

  app.openapi(rotateRoute, async (c) => {
    const { name } = c.req.valid("param");
    const input = await body<z.infer<typeof ActionRequest>>(c);
    return idempotentCommand(c, deps, input, async (ctx) => {
      const r = await secrets.service.rotate(name, input, ctx);
      await settled(r.position);
      return { status: 202, body: { name, ...r }, headers: { Location: `/api/v1/secrets/${name}/rotations/${r.rotationId}` } };
    });
  });

  app.openapi(rotationRoute, (c) => {
    const { name, rotationId } = c.req.valid("param");
    const r = stateOf(name).rotations.find((x) => x.rotationId === rotationId);
    if (!r) throw notFound(`rotation ${rotationId} of secret ${name}`);
    return c.json(toRotationView(r), 200);
  });

  app.openapi(rollbackRoute, async (c) => {
    const { name } = c.req.valid("param");
    const input = await body<z.infer<typeof ActionRequest>>(c);
    const r = await secrets.service.rollback(name, input, commandContext(c, deps));
    await settled(r.position);
    return c.json(view(r.state, r.position), 200);
  });

  app.openapi(valueRoute, async (c) => {
    const { name } = c.req.valid("param");
    const r = await secrets.service.readValue(name, c.req.valid("query").version, commandContext(c, deps));
    c.header("Cache-Control", "no-store");
    return c.json({ name, ...r }, 200);
  });

  app.openapi(destroyRoute, async (c) => {
    const { name, version } = c.req.valid("param");
    const r = await secrets.service.destroyVersion(name, version, commandContext(c, deps));
    await settled(r.position);
    return c.json(view(r.state, r.position), 200);
  });

  app.openapi(eventsRoute, (c) => {
    const { name } = c.req.valid("param");
    stateOf(name);
    const streamId = streams.secret(name);
    return streamFeed(c, deps, {
      after: parseLastEventId(c),
      matches: (e) => e.streamId === streamId,
      async *history(after, upTo) {
        const events = await deps.log.readStream(streamId, { untilPosition: upTo });
        yield events.filter((e) => e.position > after);
      },
      message: (e) => decoratedMessage(e, redacted(e) ?? {}),
    });
  });
}

/** The API's shapes, for the typed client (src/client). */
export type SecretSummaryView = z.infer<typeof Summary>;
export type SecretDetailView = z.infer<typeof SecretView>;
export type SecretRotationView = z.infer<typeof RotationView>;
export type CreateSecretBody = z.input<typeof CreateSecretRequest>;
export type SecretPolicyBody = z.input<typeof PolicyRequest>;
export type SecretRotateAccepted = z.infer<typeof RotateAccepted>;
export type SecretValueView = z.infer<typeof ValueAnswer>;
