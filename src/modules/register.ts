// Registering an uploaded version: judge the form fields and the signature material, verify the
// staged bytes against the trust store in force, then commit the bytes and append the events.
// Bytes come first (an event must never name bytes that are missing); when the append then fails
// (a concurrent upload of the same version won, the event store is down, the process dies), the
// committed bytes are named by no event and the artifact sweep removes them after its grace
// period (src/processes/artifact-sweep.ts). Anything refused before the commit leaves nothing
// behind (the route discards the staged artifact).
import { z } from "zod";
import semver from "semver";
import { DeploymentRequestSchema } from "../commands/deployment.js";
import type { CommandContext } from "../commands/handler.js";
import { DependencySchema } from "../graph/dependencies.js";
import { digestOf, type ArtifactStore } from "./artifacts/port.js";
import { judge, REFUSED_CODES, trustMaterial, type SignatureSource } from "./judge.js";
import type { RecordedVerification } from "./registry.js";
import type { ModuleService } from "./service.js";
import type { ModuleUpload } from "./upload.js";
import { ModuleFormatError, parseCertificates, parseSignature, splitKernelSignature, type Verification } from "./verification/index.js";

/** The upload is understood but not acceptable; `errors` name the parts or checks at fault. */
export class UploadRefused extends Error {
  constructor(
    readonly status: 400 | 409 | 422,
    message: string,
    readonly errors: { path: string; message: string }[],
  ) {
    super(message);
    this.name = "UploadRefused";
  }
}

const Fields = z.strictObject({
  name: DeploymentRequestSchema.shape.moduleName,
  version: z
    .string()
    .max(128)
    .refine((v) => semver.valid(v) !== null, "must be a semantic version, e.g. 1.2.3"),
  dependencies: z
    .string()
    .optional()
    .transform((text, ctx) => {
      if (text === undefined || text.trim() === "") return [];
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: "custom", message: 'must be JSON: [{"name":"…","range":"…"}]' });
        return z.NEVER;
      }
    })
    .pipe(z.array(DependencySchema).max(64)),
  description: z.string().max(2000).optional(),
});

export interface Registered {
  name: string;
  version: string;
  digest: string;
  size: number;
  verification: RecordedVerification;
  position: number;
  created: boolean;
}

/**
 * Commits `bytes` again when the store no longer has them: a sweep may have taken them between the
 * commit and the append (the append took longer than the sweep's grace period, or a clock
 * jumped), or they were lost since an earlier registration of the same version. The bytes are the
 * ones judged, held since; staged again, their digest is checked before they go in.
 */
async function keepStored(artifacts: ArtifactStore, sha256: string, bytes: Buffer): Promise<void> {
  if (await artifacts.has(sha256)) return;
  const again = await artifacts.stage(
    (async function* () {
      yield bytes;
    })(),
    { maxBytes: bytes.length },
  );
  try {
    if (again.sha256 !== sha256) throw new Error(`the upload's bytes changed while held: staged ${sha256}, now ${again.sha256}`);
    await again.commit();
  } finally {
    await again.discard();
  }
}

const toPem = (der: Uint8Array) => `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString("base64").match(/.{1,64}/g)!.join("\n")}\n-----END CERTIFICATE-----\n`;

/** ModuleFormatError -> 400 naming the form part it came from. */
function formatCheck<T>(part: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ModuleFormatError) throw new UploadRefused(400, `${part}: ${err.message}`, [{ path: `form.${part}`, message: err.message }]);
    throw err;
  }
}

export async function register(modules: ModuleService, upload: ModuleUpload, ctx: CommandContext): Promise<Registered> {
  const parsed = Fields.safeParse(Object.fromEntries(upload.fields));
  if (!parsed.success) {
    const errors = parsed.error.issues.map((i) => ({ path: ["form", ...i.path.map(String)].join("."), message: i.message }));
    throw new UploadRefused(400, `the form is invalid: ${errors.map((e) => `${e.path} ${e.message}`).join("; ")}`, errors);
  }
  const { name, version, dependencies, description } = parsed.data;
  const bytes = await upload.artifact.read();

  // which bytes are signed, and by what: a detached signature covers the whole artifact; else an
  // appended kernel signature covers what precedes it; else the module is unsigned
  let signature: SignatureSource;
  if (upload.signature) {
    formatCheck("signature", () => parseSignature(new Uint8Array(upload.signature!)));
    signature = { source: "detached", der: upload.signature.toString("base64") };
  } else {
    const split = formatCheck("artifact", () => splitKernelSignature(bytes));
    if (split.signature) formatCheck("artifact", () => parseSignature(split.signature!));
    signature = { source: split.signature ? "appended" : "none", der: null };
  }
  const certs = upload.certificates ? formatCheck("certificates", () => parseCertificates(new Uint8Array(upload.certificates!))) : [];
  const certificates = certs.length ? certs.map((c) => toPem(c.der)).join("") : null;

  const { state: trust, revision: trustRevision } = await modules.trustAt();
  const verification: Verification = formatCheck(signature.source === "detached" ? "signature" : "artifact", () =>
    judge(bytes, signature, certificates, trustMaterial(trust, ctx.now)),
  );
  const unacceptable = verification.failures.filter((f) => REFUSED_CODES.has(f.code));
  if (unacceptable.length) {
    throw new UploadRefused(
      422,
      `the signature cannot be accepted: ${unacceptable.map((f) => f.reason).join("; ")}`,
      unacceptable.map((f) => ({ path: `verification.${f.check}`, message: f.reason })),
    );
  }

  const digest = digestOf(upload.artifact.sha256);
  const existing = (await modules.module(name)).versions.get(version);
  // the same version again: nothing to store; the decider answers idempotently or with 409
  if (!existing) await upload.artifact.commit();
  const r = await modules.moduleCommand(
    name,
    {
      type: "RegisterVersion",
      registration: {
        name,
        version,
        digest,
        size: upload.artifact.size,
        description: description ?? null,
        dependencies,
        signature,
        certificates,
        registeredBy: ctx.actor.id,
        at: new Date(ctx.now).toISOString(),
      },
      verification,
    },
    ctx,
  );
  let v = r.state.versions.get(version)!;
  // the log names these bytes now (appended here, or the same version again): they must be there
  if (v.digest === digest) await keepStored(modules.artifacts, upload.artifact.sha256, bytes);
  let position = r.position;
  // A trust change appended after these bytes were judged re-verified only the versions that
  // existed then; this one is judged again. Whichever of the two appends came second sees the other.
  if (r.events.length && (await modules.trustRevision()) !== trustRevision) {
    const again = await modules.reverifyOne(name, version, "reconciled", ctx);
    if (again) {
      v = again.version;
      if (again.change) position = again.change.position;
    }
  }
  return { name, version, digest: v.digest, size: v.size, verification: v.verification, position, created: r.events.length > 0 };
}
