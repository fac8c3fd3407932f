import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { invalid } from "../../commands/errors.js";
import { TrustPolicyInput, type PolicyEntry } from "../../modules/policy.js";
import type { VerdictChange } from "../../modules/service.js";
import { normalizeFingerprint, policyInForce, type TrustState } from "../../modules/trust.js";
import { ModuleFormatError, parseCertificates } from "../../modules/verification/index.js";
import { MODULE_VERSIONS, type ModuleVersionDoc } from "../../projections/modules.js";
import { requireRoles } from "../auth.js";
import type { AppDeps, AppEnv } from "../env.js";
import { problem, problemResponses } from "../problem.js";
import { commandContext } from "../request-context.js";

const tags = ["Trust"];
const security = [{ bearerAuth: [] }];
const admins = [requireRoles("Admin")];
const ROOTS = "/api/v1/trust/roots";

const Fingerprint = z
  .string()
  .max(200)
  .transform((v, ctx) => normalizeFingerprint(v) ?? (ctx.addIssue({ code: "custom", message: "a SHA-256 fingerprint: 64 hex digits, ':' between pairs allowed" }), z.NEVER));
const Changes = z
  .array(z.object({ name: z.string(), version: z.string(), from: z.string(), to: z.string(), position: z.number() }))
  .openapi({ description: "module versions whose verdict this change altered (each recorded as ModuleVersionVerified)" });
const Root = z.object({ fingerprint256: z.string(), subject: z.string(), notAfter: z.string(), addedBy: z.string(), addedAt: z.string(), pem: z.string() }).openapi("TrustRoot");
const Revocation = z.object({ fingerprint256: z.string(), reason: z.string(), revokedBy: z.string(), revokedAt: z.string() }).openapi("TrustRevocation");
const PolicyView = z
  .object({
    environments: z.record(z.string(), z.object({ level: z.string(), trustedIdentities: z.array(z.string()).optional() })),
    source: z.enum(["configured", "default"]),
    changedBy: z.string().nullable(),
    changedAt: z.string().nullable(),
  })
  .openapi("TrustPolicyInForce");

/** wire types for the client (src/client/types.ts) */
export type TrustRootView = z.infer<typeof Root>;
export type TrustRevocationView = z.infer<typeof Revocation>;
export type TrustPolicyView = z.infer<typeof PolicyView>;
export type VerdictChangeView = z.infer<typeof Changes>[number];

const addRootDoc = createRoute({
  method: "post",
  path: ROOTS,
  tags,
  security,
  summary: "Trust a root certificate (Admin); versions already registered are judged again",
  request: {
    body: {
      required: true,
      content: {
        "application/x-pem-file": { schema: z.string().openapi({ description: "one PEM CERTIFICATE block" }) },
        "application/json": { schema: z.object({ pem: z.string() }) },
      },
    },
  },
  responses: {
    201: { description: "Trusted", content: { "application/json": { schema: Root.omit({ pem: true }).extend({ position: z.number(), reverified: Changes }) } } },
    200: { description: "Already trusted", content: { "application/json": { schema: Root.omit({ pem: true }).extend({ position: z.number(), reverified: Changes }) } } },
    ...problemResponses(400, 401, 403, 413, 415),
  },
});
const listRoots = createRoute({
  method: "get",
  path: ROOTS,
  tags,
  security,
  summary: "Trusted roots (Admin)",
  middleware: admins,
  responses: { 200: { description: "Roots", content: { "application/json": { schema: z.object({ items: z.array(Root) }) } } }, ...problemResponses(401, 403) },
});
const removeRoot = createRoute({
  method: "delete",
  path: `${ROOTS}/{fingerprint256}`,
  tags,
  security,
  summary: "Stop trusting a root (Admin); versions already registered are judged again",
  middleware: admins,
  request: { params: z.object({ fingerprint256: Fingerprint.openapi({ param: { name: "fingerprint256", in: "path" } }) }) },
  responses: {
    200: { description: "Removed", content: { "application/json": { schema: z.object({ fingerprint256: z.string(), position: z.number(), reverified: Changes }) } } },
    ...problemResponses(400, 401, 403, 404),
  },
});
const revoke = createRoute({
  method: "post",
  path: "/api/v1/trust/revocations",
  tags,
  security,
  summary: "Revoke a certificate (root, intermediate or signer) by fingerprint (Admin): every version whose chain holds it becomes revoked; deployments of them stop where the policy enforces revocation",
  middleware: admins,
  request: { body: { required: true, content: { "application/json": { schema: z.strictObject({ fingerprint256: Fingerprint, reason: z.string().trim().min(1).max(1000) }) } } } },
  responses: {
    201: { description: "Revoked", content: { "application/json": { schema: z.object({ fingerprint256: z.string(), reason: z.string(), position: z.number(), reverified: Changes }) } } },
    200: { description: "Already revoked for this reason", content: { "application/json": { schema: z.object({ fingerprint256: z.string(), reason: z.string(), position: z.number(), reverified: Changes }) } } },
    ...problemResponses(400, 401, 403, 409),
  },
});
const listRevocations = createRoute({
  method: "get",
  path: "/api/v1/trust/revocations",
  tags,
  security,
  summary: "Revoked certificates (Admin)",
  middleware: admins,
  responses: { 200: { description: "Revocations", content: { "application/json": { schema: z.object({ items: z.array(Revocation) }) } } }, ...problemResponses(401, 403) },
});
const getPolicy = createRoute({
  method: "get",
  path: "/api/v1/trust/policy",
  tags,
  security,
  summary: "The per-environment trust policy in force (Admin): the configured one, else the mode's default",
  middleware: admins,
  responses: { 200: { description: "Policy", content: { "application/json": { schema: PolicyView } } }, ...problemResponses(401, 403) },
});
const putPolicy = createRoute({
  method: "put",
  path: "/api/v1/trust/policy",
  tags,
  security,
  summary: 'Replace the policy (Admin): levels strict | permissive | audit | skip per environment, "*" for the rest; trustedIdentities match the signer\'s x509 subject',
  middleware: admins,
  request: { body: { required: true, content: { "application/json": { schema: TrustPolicyInput } } } },
  responses: {
    200: { description: "In force", content: { "application/json": { schema: PolicyView.extend({ position: z.number() }) } } },
    ...problemResponses(400, 401, 403),
  },
});

function policyView(state: TrustState, dev: boolean) {
  const p = policyInForce(state, dev);
  return {
    environments: Object.fromEntries(p.environments) as Record<string, PolicyEntry>,
    source: p.source,
    changedBy: state.policy?.changedBy ?? null,
    changedAt: state.policy?.changedAt ?? null,
  };
}

/** The PEM of POST /trust/roots: the body as application/x-pem-file (or text/plain), or JSON {"pem"}. */
async function pemOf(c: Context<AppEnv>): Promise<string> {
  const type = (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  if (type === "application/json") {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      throw invalid("the body is not JSON", { errors: [{ path: "json", message: "malformed JSON" }] });
    }
    const parsed = z.strictObject({ pem: z.string().min(1).max(64 * 1024) }).safeParse(body);
    if (!parsed.success) throw invalid('the body must be {"pem": "-----BEGIN CERTIFICATE-----…"}', { errors: [{ path: "json.pem", message: "required: one PEM certificate" }] });
    return parsed.data.pem;
  }
  return c.req.text();
}

export function registerTrustRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps) {
  const modules = deps.modules;
  const changesAfter = async (trigger: "root-added" | "root-removed" | "certificate-revoked", ctx: ReturnType<typeof commandContext>): Promise<VerdictChange[]> =>
    modules.reverifyAll(trigger, { ...ctx, idempotencyKey: undefined });

  /**
   * The tbsCertificate SHA-256 of the certificate named by `fingerprint256`, from the chains of
   * registered versions and the roots: revoking it too revokes re-encodings of the same certificate.
   */
  const tbsFingerprintsOf = async (fingerprint256: string): Promise<string[]> => {
    const found = new Set<string>();
    const docs = await deps.readStore.collection<ModuleVersionDoc>(MODULE_VERSIONS).find({ "verification.chainFingerprints": fingerprint256 });
    for (const d of docs) {
      const i = d.verification.chainFingerprints.indexOf(fingerprint256);
      const tbs = d.verification.chainTbsFingerprints?.[i];
      if (tbs) found.add(tbs);
    }
    const root = (await modules.trust()).roots.get(fingerprint256);
    if (root) {
      const tbs = (parseCertificates(root.pem)[0] as { tbsFingerprint256?: string } | undefined)?.tbsFingerprint256;
      if (tbs) found.add(tbs);
    }
    return [...found];
  };

  app.openAPIRegistry.registerPath(addRootDoc);
  app.post(ROOTS, requireRoles("Admin"), async (c) => {
    const type = (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
    if (!["application/json", "application/x-pem-file", "text/plain"].includes(type)) {
      return problem(c, 415, 'send the certificate as application/x-pem-file or as JSON {"pem"}');
    }
    const pem = await pemOf(c);
    let certs;
    try {
      certs = parseCertificates(pem);
    } catch (err) {
      if (err instanceof ModuleFormatError) throw invalid(`not a certificate: ${err.message}`, { errors: [{ path: "body.pem", message: err.message }] });
      throw err;
    }
    if (certs.length !== 1) throw invalid(`send exactly one certificate (got ${certs.length})`, { errors: [{ path: "body.pem", message: "one PEM CERTIFICATE block" }] });
    const cert = certs[0]!;
    const ctx = commandContext(c, deps);
    const pemText = `-----BEGIN CERTIFICATE-----\n${Buffer.from(cert.der).toString("base64").match(/.{1,64}/g)!.join("\n")}\n-----END CERTIFICATE-----\n`;
    const r = await modules.trustCommand(
      { type: "AddRoot", fingerprint256: cert.fingerprint256, subject: cert.subject, notAfter: cert.notAfter.toISOString(), pem: pemText, by: ctx.actor.id, now: ctx.now },
      ctx,
    );
    const root = r.state.roots.get(cert.fingerprint256)!;
    const reverified = r.events.length ? await changesAfter("root-added", ctx) : [];
    const body = { fingerprint256: root.fingerprint256, subject: root.subject, notAfter: root.notAfter, addedBy: root.addedBy, addedAt: root.addedAt, position: r.position, reverified };
    return c.json(body, r.events.length ? 201 : 200);
  });

  app.openapi(listRoots, async (c) => c.json({ items: [...(await modules.trust()).roots.values()] }, 200));

  app.openapi(removeRoot, async (c) => {
    const { fingerprint256 } = c.req.valid("param");
    const ctx = commandContext(c, deps);
    const r = await modules.trustCommand({ type: "RemoveRoot", fingerprint256, by: ctx.actor.id, now: ctx.now }, ctx);
    return c.json({ fingerprint256, position: r.position, reverified: await changesAfter("root-removed", ctx) }, 200);
  });

  app.openapi(revoke, async (c) => {
    const { fingerprint256, reason } = c.req.valid("json");
    const ctx = commandContext(c, deps);
    const tbsFingerprints = await tbsFingerprintsOf(fingerprint256);
    const r = await modules.trustCommand({ type: "Revoke", fingerprint256, tbsFingerprints, reason, by: ctx.actor.id, now: ctx.now }, ctx);
    // the same revocation again changed nothing (a re-verification a crash cut short is caught up at start)
    const reverified = r.events.length ? await changesAfter("certificate-revoked", ctx) : [];
    return c.json({ fingerprint256, reason, position: r.position, reverified }, r.events.length ? 201 : 200);
  });

  app.openapi(listRevocations, async (c) => c.json({ items: [...(await modules.trust()).revocations.values()] }, 200));

  app.openapi(getPolicy, async (c) => c.json(policyView(await modules.trust(), deps.config.dev), 200));

  app.openapi(putPolicy, async (c) => {
    const { environments } = c.req.valid("json");
    const ctx = commandContext(c, deps);
    const entries = Object.entries(environments).filter((e): e is [string, PolicyEntry] => e[1] !== undefined);
    const r = await modules.trustCommand({ type: "SetPolicy", environments: Object.fromEntries(entries), by: ctx.actor.id, now: ctx.now }, ctx);
    return c.json({ ...policyView(r.state, deps.config.dev), position: r.position }, 200);
  });
}
