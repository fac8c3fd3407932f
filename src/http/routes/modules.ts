import { Readable } from "node:stream";
import type { ReadableStream as NodeWebStream } from "node:stream/web";
import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import semver from "semver";
import { DeploymentRequestSchema } from "../../commands/deployment.js";
import { DomainError, notFound } from "../../commands/errors.js";
import { VerificationShape } from "../../events/catalog/module.js";
import { nodeTokenIsCurrent } from "../../fleet/agent-service.js";
import { sha256Of } from "../../modules/artifacts/port.js";
import { register, UploadRefused } from "../../modules/register.js";
import { FORM_OVERHEAD_BYTES, MODULES_PATH, readModuleUpload, UploadError } from "../../modules/upload.js";
import { MODULE_VERSIONS, moduleVersionId, type ModuleVersionDoc } from "../../projections/modules.js";
import { NODES, type NodeDoc } from "../../projections/nodes.js";
import { own } from "../../platform/own-keys.js";
import { ANY_USER, requireRoles } from "../auth.js";
import { ConsistencyQuery } from "../consistency.js";
import type { AppDeps, AppEnv } from "../env.js";
import { problem, problemResponses } from "../problem.js";
import { commandContext } from "../request-context.js";

const tags = ["Modules"];
const security = [{ bearerAuth: [] }];

/** the deployment request's rule for module names, as an OpenAPI-aware schema */
export const ModuleName = z.string().max(64).pipe(DeploymentRequestSchema.shape.moduleName);
const SemverString = z
  .string()
  .max(128)
  .refine((v) => semver.valid(v) !== null, "must be a semantic version, e.g. 1.2.3");
const NameParam = z.object({ name: ModuleName.openapi({ param: { name: "name", in: "path" }, example: "netfilter" }) });
const VersionParams = NameParam.extend({ version: SemverString.openapi({ param: { name: "version", in: "path" }, example: "1.4.0" }) });

/** the recorded verdict's shape from the event catalog, named for OpenAPI (rebuilt with the openapi-extended `z`: the catalog stays plain zod and may load first) */
const VerificationView = z.object(VerificationShape.shape).openapi("ModuleVerification");
const Registered = z
  .object({ name: z.string(), version: z.string(), digest: z.string(), size: z.number(), verification: VerificationView, position: z.number() })
  .openapi("ModuleRegistered");
const VersionSummary = z.object({
  version: z.string(),
  digest: z.string(),
  size: z.number(),
  signature: z.enum(["appended", "detached", "none"]),
  status: z.string(),
  registeredAt: z.string(),
});
const ModuleSummary = z.object({ name: z.string(), versions: z.number(), latest: VersionSummary, updatedAt: z.string() }).openapi("ModuleSummary");
const ModuleDetail = z.object({ name: z.string(), versions: z.array(VersionSummary) }).openapi("Module");
const RunningOn = z.object({
  nodeId: z.string(),
  environment: z.string(),
  hostname: z.string(),
  status: z.string(),
  reportedDigest: z.string().nullable().openapi({ description: "the digest the node reported when it installed this version (null: it did not say)" }),
});
const VersionDetail = z
  .object({
    name: z.string(),
    version: z.string(),
    digest: z.string(),
    size: z.number(),
    description: z.string().nullable(),
    dependencies: z.array(z.object({ name: z.string(), range: z.string() })),
    signature: z.enum(["appended", "detached", "none"]),
    verification: VerificationView,
    verifiedAt: z.string(),
    verdicts: z.array(z.object({ status: z.string(), trigger: z.string(), reason: z.string().nullable(), at: z.string() })),
    registeredBy: z.string(),
    registeredAt: z.string(),
    artifactUrl: z.string(),
    runningOn: z.array(RunningOn),
  })
  .openapi("ModuleVersion");

/** wire types for the client (src/client/types.ts) */
export type ModuleRegistered = z.infer<typeof Registered>;
export type ModuleSummaryView = z.infer<typeof ModuleSummary>;
export type ModuleView = z.infer<typeof ModuleDetail>;
export type ModuleVersionView = z.infer<typeof VersionDetail>;

const UploadForm = z.object({
  name: z.string().openapi({ example: "netfilter" }),
  version: z.string().openapi({ example: "1.4.0" }),
  artifact: z.string().openapi({ format: "binary", description: "the module (.ko); an appended kernel signature is found and verified" }),
  signature: z.string().optional().openapi({ format: "binary", description: "detached CMS/PKCS#7 SignedData over the artifact, DER or PEM" }),
  certificates: z.string().optional().openapi({ description: "PEM bundle: the signer's certificate and intermediates" }),
  dependencies: z.string().optional().openapi({ description: 'JSON: [{"name":"nf-core","range":"^2.1.0"}]' }),
  description: z.string().optional(),
});

const uploadDoc = createRoute({
  method: "post",
  path: MODULES_PATH,
  tags,
  security,
  summary: "Register a module version (Deployer, Admin): multipart upload streamed to storage, verified against the trust store",
  description:
    "Same name, version and bytes again answers 200 with the registered version; other bytes under that version 409. Larger than MODULE_MAX_BYTES: 413 (exempt from BODY_LIMIT_BYTES). Malformed forms, semver, ranges, certificates or signatures: 400; weak algorithms or keys, or a certificate chain that loops: 422.",
  request: { body: { required: true, content: { "multipart/form-data": { schema: UploadForm } } } },
  responses: {
    201: { description: "Registered", content: { "application/json": { schema: Registered } } },
    200: { description: "Already registered with these bytes", content: { "application/json": { schema: Registered } } },
    ...problemResponses(400, 401, 403, 409, 413, 415, 422, 429),
  },
});

const listRoute = createRoute({
  method: "get",
  path: MODULES_PATH,
  tags,
  security,
  summary: "Registered modules with their latest version",
  middleware: [requireRoles(...ANY_USER)],
  request: { query: ConsistencyQuery.extend({ limit: z.coerce.number().int().min(1).max(1000).default(200) }) },
  responses: { 200: { description: "Modules by name", content: { "application/json": { schema: z.object({ items: z.array(ModuleSummary) }) } } }, ...problemResponses(400, 401) },
});
const moduleRoute = createRoute({
  method: "get",
  path: `${MODULES_PATH}/{name}`,
  tags,
  security,
  summary: "One module's versions, newest first",
  middleware: [requireRoles(...ANY_USER)],
  request: { params: NameParam, query: ConsistencyQuery },
  responses: { 200: { description: "The module", content: { "application/json": { schema: ModuleDetail } } }, ...problemResponses(400, 401, 404) },
});
const versionRoute = createRoute({
  method: "get",
  path: `${MODULES_PATH}/{name}/versions/{version}`,
  tags,
  security,
  summary: "One version: metadata, its current verdict and the verdicts before, and the nodes running it now",
  middleware: [requireRoles(...ANY_USER)],
  request: { params: VersionParams, query: ConsistencyQuery },
  responses: { 200: { description: "The version", content: { "application/json": { schema: VersionDetail } } }, ...problemResponses(400, 401, 404) },
});
const artifactRoute = createRoute({
  method: "get",
  path: `${MODULES_PATH}/{name}/versions/{version}/artifact`,
  tags,
  security,
  summary: "The artifact's bytes (any role, Node tokens too), with Digest and ETag; at most MODULE_DOWNLOADS_MAX at once (429 + Retry-After)",
  middleware: [requireRoles(...ANY_USER, "Node")],
  request: { params: VersionParams, headers: z.object({ "if-none-match": z.string().max(200).optional() }) },
  responses: {
    200: { description: "The bytes", content: { "application/octet-stream": { schema: z.string().openapi({ format: "binary" }) } } },
    304: { description: "Not modified (If-None-Match)" },
    ...problemResponses(400, 401, 403, 404, 429),
  },
});

const summaryOf = (d: ModuleVersionDoc) => ({
  version: d.version,
  digest: d.digest,
  size: d.size,
  signature: d.signature,
  status: d.verification.status,
  registeredAt: d.registeredAt,
});
const bySemverDesc = (a: ModuleVersionDoc, b: ModuleVersionDoc) => semver.rcompare(a.version, b.version);
export const artifactPath = (name: string, version: string) => `${MODULES_PATH}/${name}/versions/${encodeURIComponent(version)}/artifact`;

const webBody = (body: ReadableStream<Uint8Array> | null): Readable => (body ? Readable.fromWeb(body as NodeWebStream<Uint8Array>) : Readable.from([]));

function refused(c: Context, status: 400 | 409 | 413 | 415 | 422, detail: string, part?: string, errors?: { path: string; message: string }[]): Response {
  const res = problem(c, status, detail, errors ? { errors } : part ? { errors: [{ path: `form.${part}`, message: detail }] } : {});
  return res;
}

export function registerModuleRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps) {
  const versions = () => deps.readStore.collection<ModuleVersionDoc>(MODULE_VERSIONS);
  const maxBytes = deps.config.modules.maxBytes;

  app.openAPIRegistry.registerPath(uploadDoc);
  app.post(MODULES_PATH, requireRoles("Deployer", "Admin"), async (c) => {
    const length = Number(c.req.header("content-length"));
    if (Number.isFinite(length) && length > maxBytes + FORM_OVERHEAD_BYTES) {
      const res = refused(c, 413, `the upload is larger than MODULE_MAX_BYTES (${maxBytes} bytes) allows`, "artifact");
      res.headers.set("Connection", "close");
      return res;
    }
    // the raw Node request when served by @hono/node-server (nothing has read it: this path is
    // exempt from the body limit); a web body otherwise (app.fetch in process)
    // (c.req.raw.body must not be touched when there is an incoming: reading it starts a second
    // consumer of the same request stream)
    const source = c.env?.incoming ?? webBody(c.req.raw.body);
    let upload;
    try {
      upload = await readModuleUpload(source, c.req.header("content-type"), deps.modules.artifacts, maxBytes);
    } catch (err) {
      if (!(err instanceof UploadError)) throw err;
      const res = refused(c, err.status, err.message, err.part);
      // the rest of the body was never read: the connection cannot carry another request
      res.headers.set("Connection", "close");
      return res;
    }
    try {
      const r = await register(deps.modules, upload, commandContext(c, deps));
      const answer = { name: r.name, version: r.version, digest: r.digest, size: r.size, verification: r.verification, position: r.position };
      if (r.created) c.header("Location", `${MODULES_PATH}/${r.name}/versions/${encodeURIComponent(r.version)}`);
      return c.json(answer, r.created ? 201 : 200);
    } catch (err) {
      if (err instanceof UploadRefused) return refused(c, err.status, err.message, undefined, err.errors);
      throw err;
    } finally {
      // nothing is left behind by a refused upload (a no-op once committed)
      await upload.artifact.discard();
    }
  });

  app.openapi(listRoute, async (c) => {
    const { limit } = c.req.valid("query");
    const docs = await versions().find({}, { sort: { name: 1 } });
    const byName = new Map<string, ModuleVersionDoc[]>();
    for (const d of docs) byName.set(d.name, [...(byName.get(d.name) ?? []), d]);
    const items = [...byName.entries()].slice(0, limit).map(([name, list]) => {
      const sorted = list.sort(bySemverDesc);
      return { name, versions: list.length, latest: summaryOf(sorted[0]!), updatedAt: list.map((d) => d.verifiedAt).sort().at(-1)! };
    });
    return c.json({ items }, 200);
  });

  app.openapi(moduleRoute, async (c) => {
    const { name } = c.req.valid("param");
    const docs = await versions().find({ name });
    if (!docs.length) throw notFound(`module ${name}`);
    return c.json({ name, versions: docs.sort(bySemverDesc).map(summaryOf) }, 200);
  });

  app.openapi(versionRoute, async (c) => {
    const { name, version } = c.req.valid("param");
    const doc = await versions().get(moduleVersionId(name, version));
    if (!doc) throw notFound(`module ${name}@${version}`);
    // where it runs now: the nodes read model (name is a checked module name: safe as a query path)
    const nodes = await deps.readStore.collection<NodeDoc>(NODES).find({ [`modules.${name}`]: version }, { sort: { _id: 1 } });
    const runningOn = nodes.map((n) => ({
      nodeId: n.nodeId,
      environment: n.environment,
      hostname: n.hostname,
      status: n.status,
      reportedDigest: own(doc.reportedDigests, n.nodeId) ?? null,
    }));
    const { _id, lastPosition, tenantId, reportedDigests, ...view } = doc;
    return c.json({ ...view, artifactUrl: artifactPath(name, version), runningOn }, 200);
  });

  let downloads = 0;
  app.openapi(artifactRoute, async (c) => {
    const { name, version } = c.req.valid("param");
    const p = c.get("principal")!;
    if (p.roles.includes("Node") && !(await nodeTokenIsCurrent(deps, p.sub, p.ver))) {
      throw new DomainError("unauthorized", "this node token was revoked (credential reset or the node was claimed again)");
    }
    const v = (await deps.modules.module(name)).versions.get(version);
    if (!v) throw notFound(`module ${name}@${version}`);
    const sha = sha256Of(v.digest)!;
    const etag = `"${v.digest}"`;
    if (c.req.header("if-none-match")?.split(/\s*,\s*/).includes(etag)) return c.body(null, 304, { ETag: etag });
    if (downloads >= deps.config.modules.downloadsMax) {
      throw new DomainError("rate_limited", `${downloads} artifact downloads are being served; try again shortly`, { retryAfterSeconds: 1 });
    }
    downloads++;
    let released = false;
    const release = () => {
      if (!released) downloads--;
      released = true;
    };
    let stored;
    try {
      stored = await deps.modules.artifacts.open(sha);
    } catch (err) {
      release();
      throw err;
    }
    if (!stored) {
      release();
      throw notFound(`the bytes of ${name}@${version} (${v.digest})`);
    }
    stored.stream.once("close", release);
    const web = Readable.toWeb(stored.stream) as unknown as ReadableStream<Uint8Array>;
    return c.body(web, 200, {
      "Content-Type": "application/octet-stream",
      "Content-Length": String(stored.size),
      "Content-Disposition": `attachment; filename="${name}-${version.replace(/[^\w.+-]/g, "_")}.ko"`,
      Digest: `sha-256=${Buffer.from(sha, "hex").toString("base64")}`,
      ETag: etag,
      "Cache-Control": "private, max-age=31536000, immutable",
    });
  });
}
