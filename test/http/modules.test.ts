// The module registry and trust store over HTTP: registration semantics (201, idempotent 200, 409),
// verdicts that follow the trust store, downloads, roles, and bad input that is refused with a
// problem+json naming what is wrong and leaves nothing behind.
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { streams } from "../../src/events/streams.js";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";
import { makePki, signModule, type StandardPki } from "../modules/fixtures-gen.js";

const test = suite("module registry over HTTP");
const MAX = 256 * 1024;

let s: TestServer;
let admin: string;
let deployer: string;
let viewer: string;
let dir: string;
let std: StandardPki;

type Part = string | Uint8Array | { bytes: Uint8Array; filename: string };

function form(parts: Record<string, Part>): FormData {
  const f = new FormData();
  for (const [k, v] of Object.entries(parts)) {
    if (typeof v === "string") f.set(k, v);
    else if (v instanceof Uint8Array) f.set(k, new Blob([new Uint8Array(v)]), `${k}.bin`);
    else f.set(k, new Blob([new Uint8Array(v.bytes)]), v.filename);
  }
  return f;
}

const upload = (parts: Record<string, Part>, token = deployer) => s.call("/api/v1/modules", { method: "POST", token, body: form(parts) });
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const moduleBytes = (name: string, size = 4096) => std.pki.module(name, size);

async function json<T = Record<string, unknown>>(res: Response, status: number): Promise<T> {
  const text = await res.text();
  assert.is(res.status, status, text);
  return JSON.parse(text) as T;
}

/** a refusal: 4xx problem+json whose errors (or detail) name `what` */
async function refused(res: Response, status: number, what: RegExp) {
  const text = await res.text();
  assert.is(res.status, status, text);
  assert.match(res.headers.get("content-type") ?? "", /application\/problem\+json/);
  assert.match(text, what);
  assert.not.match(text, /at .*\.ts:\d+/, "no stack trace");
}

async function nothingWritten(name: string) {
  assert.equal(await s.deps.log.readStream(streams.module(name)), [], `no events for ${name}`);
  assert.equal(readdirSync(join(s.dataDir, "artifacts", "tmp")), [], "no staged leftovers");
}

type Verdict = { status: string; checks: Record<string, string>; reason: string | null };
type Registered = { name: string; version: string; digest: string; size: number; verification: Verdict; position: number };

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), "korch-modules-"));
  std = makePki(join(dir, "pki"));
  s = await startTestServer({ MODULE_MAX_BYTES: String(MAX), MODULE_DOWNLOADS_MAX: "2" });
  [admin, deployer, viewer] = await Promise.all([s.login(...DEMO.admin), s.login(...DEMO.deployer), s.login(...DEMO.viewer)]);
});
test.after(async () => {
  await s.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("an unsigned module registers (201), again with the same bytes 200, other bytes 409", async () => {
  const m = moduleBytes("plain");
  const first = await json<Registered>(await upload({ name: "plain", version: "1.0.0", artifact: m.bytes, description: "a plain module" }), 201);
  assert.is(first.digest, `sha256:${sha256(m.bytes)}`);
  assert.is(first.size, m.bytes.length);
  assert.is(first.verification.status, "unsigned");
  assert.is(first.verification.checks.integrity, "failed");

  const again = await json<Registered>(await upload({ name: "plain", version: "1.0.0", artifact: m.bytes }), 200);
  assert.is(again.digest, first.digest);
  await refused(await upload({ name: "plain", version: "1.0.0", artifact: moduleBytes("plain-other").bytes }), 409, /already registered with other bytes/);

  const module = await json<{ versions: { version: string; digest: string }[] }>(await s.call(`/api/v1/modules/plain?minPosition=${first.position}`, { token: viewer }), 200);
  assert.equal(module.versions.map((v) => v.version), ["1.0.0"]);
  const version = await json<{ description: string; signature: string; runningOn: unknown[]; artifactUrl: string }>(
    await s.call(`/api/v1/modules/plain/versions/1.0.0`, { token: viewer }),
    200,
  );
  assert.is(version.description, "a plain module");
  assert.is(version.signature, "none");
  assert.equal(version.runningOn, []);
  const list = await json<{ items: { name: string }[] }>(await s.call("/api/v1/modules", { token: viewer }), 200);
  assert.ok(list.items.some((i) => i.name === "plain"));
});

test("the artifact downloads with Digest and ETag, for users and If-None-Match", async () => {
  const m = moduleBytes("dl", 100_000);
  const r = await json<Registered>(await upload({ name: "dl", version: "2.0.0-rc.1", artifact: m.bytes }), 201);
  const res = await s.call("/api/v1/modules/dl/versions/2.0.0-rc.1/artifact", { token: viewer });
  assert.is(res.status, 200);
  const body = new Uint8Array(await res.arrayBuffer());
  assert.is(sha256(body), sha256(m.bytes));
  assert.is(res.headers.get("digest"), `sha-256=${createHash("sha256").update(m.bytes).digest("base64")}`);
  assert.is(res.headers.get("etag"), `"${r.digest}"`);
  const cached = await s.call("/api/v1/modules/dl/versions/2.0.0-rc.1/artifact", { token: viewer, headers: { "if-none-match": `"${r.digest}"` } });
  assert.is(cached.status, 304);
  await refused(await s.call("/api/v1/modules/dl/versions/9.9.9/artifact", { token: viewer }), 404, /not found/);
  await refused(await s.call("/api/v1/modules/dl/versions/not-semver/artifact", { token: viewer }), 400, /version/);
});

test("dependencies are kept; bad ranges and names are refused naming the field", async () => {
  const m = moduleBytes("deps");
  const deps = [{ name: "nf-core", range: "^2.1.0" }, { name: "crypto-api", range: ">=1.0.0 <2.0.0" }];
  const r = await json<Registered>(await upload({ name: "deps", version: "1.0.0", artifact: m.bytes, dependencies: JSON.stringify(deps) }), 201);
  const v = await json<{ dependencies: unknown }>(await s.call(`/api/v1/modules/deps/versions/1.0.0?minPosition=${r.position}`, { token: viewer }), 200);
  assert.equal(v.dependencies, deps);
  await refused(await upload({ name: "deps-bad", version: "1.0.0", artifact: m.bytes, dependencies: '[{"name":"x1","range":"not a range"}]' }), 400, /form\.dependencies\.0\.range/);
  await refused(await upload({ name: "deps-bad", version: "1.0.0", artifact: m.bytes, dependencies: "[{" }), 400, /form\.dependencies/);
  await refused(await upload({ name: "deps-bad", version: "1.0.0", artifact: m.bytes, dependencies: '[{"name":"x1","range":""}]' }), 400, /form\.dependencies\.0\.range/);
  await nothingWritten("deps-bad");
});

test("a signed module is untrusted until its root is trusted; adding the root re-judges it (recorded)", async () => {
  const m = moduleBytes("signed");
  const kernel = signModule(m.path, std.signer, "kernel");
  const first = await json<Registered>(await upload({ name: "signed", version: "1.0.0", artifact: kernel.artifact, certificates: std.bundle }), 201);
  assert.is(first.verification.status, "untrusted");
  assert.is(first.verification.checks.integrity, "passed");
  assert.is(first.digest, `sha256:${sha256(kernel.artifact)}`, "the digest covers the whole .ko, signature included");

  const detached = signModule(moduleBytes("signed-detached").path, std.signer, "detached");
  const d = await json<Registered>(
    await upload({ name: "signed", version: "1.1.0", artifact: detached.artifact, signature: detached.signature!, certificates: std.bundle }),
    201,
  );
  assert.is(d.verification.status, "untrusted");

  const added = await json<{ fingerprint256: string; reverified: { name: string; version: string; from: string; to: string }[] }>(
    await s.call("/api/v1/trust/roots", { method: "POST", token: admin, headers: { "content-type": "application/x-pem-file" }, body: std.root.pem }),
    201,
  );
  assert.is(added.fingerprint256, std.root.fingerprint256);
  const changed = added.reverified.filter((c) => c.name === "signed").map((c) => `${c.version}:${c.from}->${c.to}`).sort();
  assert.equal(changed, ["1.0.0:untrusted->verified", "1.1.0:untrusted->verified"]);
  // the same root again: nothing new
  const again = await json<{ reverified: unknown[] }>(await s.call("/api/v1/trust/roots", { method: "POST", token: admin, json: { pem: std.root.pem } }), 200);
  assert.equal(again.reverified, []);

  const last = await s.deps.log.readStream(streams.module("signed"));
  assert.equal(
    last.filter((e) => e.type === "ModuleVersionVerified").map((e) => `${(e.data as { trigger: string }).trigger}:${(e.data as { verification: Verdict }).verification.status}`),
    ["registered:untrusted", "registered:untrusted", "root-added:verified", "root-added:verified"],
  );
  const v = await json<{ verification: Verdict; verdicts: { status: string; trigger: string }[] }>(
    await s.call(`/api/v1/modules/signed/versions/1.0.0?minPosition=${last.at(-1)!.position}`, { token: viewer }),
    200,
  );
  assert.is(v.verification.status, "verified");
  assert.equal(v.verdicts.map((x) => x.status), ["untrusted", "verified"]);
  const roots = await json<{ items: { fingerprint256: string }[] }>(await s.call("/api/v1/trust/roots", { token: admin }), 200);
  assert.ok(roots.items.some((r) => r.fingerprint256 === std.root.fingerprint256));
});

test("revoking the signer marks every version it signed revoked; removing the root makes the rest untrusted", async () => {
  const pki = makePki(join(dir, "pki-revoke"), { subjectPrefix: "/O=Revoke Corp" });
  const m = pki.signModule(pki.pki.module("rev").path, "kernel");
  await json(await s.call("/api/v1/trust/roots", { method: "POST", token: admin, json: { pem: pki.root.pem } }), 201);
  const r = await json<Registered>(await upload({ name: "rev", version: "1.0.0", artifact: m.artifact, certificates: pki.bundle }), 201);
  assert.is(r.verification.status, "verified");
  const revoked = await json<{ reverified: { name: string; to: string }[] }>(
    await s.call("/api/v1/trust/revocations", { method: "POST", token: admin, json: { fingerprint256: pki.signer.fingerprint256.replace(/:/g, "").toLowerCase(), reason: "key compromise" } }),
    201,
  );
  assert.equal(revoked.reverified.filter((c) => c.name === "rev").map((c) => c.to), ["revoked"]);
  const list = await json<{ items: { fingerprint256: string; reason: string }[] }>(await s.call("/api/v1/trust/revocations", { token: admin }), 200);
  assert.ok(list.items.some((x) => x.fingerprint256 === pki.signer.fingerprint256 && x.reason === "key compromise"), "stored in the canonical form");
  // the same revocation again is the same request; another reason is a conflict
  const again = await json<{ reverified: unknown[] }>(await s.call("/api/v1/trust/revocations", { method: "POST", token: admin, json: { fingerprint256: pki.signer.fingerprint256, reason: "key compromise" } }), 200);
  assert.equal(again.reverified, []);
  await refused(await s.call("/api/v1/trust/revocations", { method: "POST", token: admin, json: { fingerprint256: pki.signer.fingerprint256, reason: "other" } }), 409, /already revoked/);

  const removed = await json<{ reverified: { name: string; to: string }[] }>(await s.call(`/api/v1/trust/roots/${pki.root.fingerprint256}`, { method: "DELETE", token: admin }), 200);
  assert.ok(Array.isArray(removed.reverified));
  await refused(await s.call(`/api/v1/trust/roots/${pki.root.fingerprint256}`, { method: "DELETE", token: admin }), 404, /not found/);
  await refused(await s.call("/api/v1/trust/roots/not-a-fingerprint", { method: "DELETE", token: admin }), 400, /fingerprint/);
});

test("a revocation that lands while a version is being registered still reaches that version", async () => {
  const pki = makePki(join(dir, "pki-race"), { subjectPrefix: "/O=Race Corp" });
  const m = pki.signModule(pki.pki.module("race").path, "kernel");
  await json(await s.call("/api/v1/trust/roots", { method: "POST", token: admin, json: { pem: pki.root.pem } }), 201);
  // the registration has judged the bytes against the trust store and now reads the module; the
  // revocation's re-verification runs here, before the new version exists
  const modules = s.deps.modules;
  const read = modules.module.bind(modules);
  let revoked: Response | undefined;
  modules.module = async (name) => {
    if (name === "race" && !revoked) {
      revoked = await s.call("/api/v1/trust/revocations", { method: "POST", token: admin, json: { fingerprint256: pki.signer.fingerprint256, reason: "leaked mid-upload" } });
    }
    return read(name);
  };
  try {
    const r = await json<Registered>(await upload({ name: "race", version: "1.0.0", artifact: m.artifact, certificates: pki.bundle }), 201);
    assert.is(revoked?.status, 201);
    assert.is(r.verification.status, "revoked", "the answer is the verdict in force after the revocation");
  } finally {
    modules.module = read;
  }
  const v = await json<{ verification: Verdict }>(await s.call("/api/v1/modules/race/versions/1.0.0", { token: viewer }), 200);
  assert.is(v.verification.status, "revoked");
});

test("policy: the development default, replaced as a whole; bad policies are refused", async () => {
  const def = await json<{ source: string; environments: Record<string, { level: string }> }>(await s.call("/api/v1/trust/policy", { token: admin }), 200);
  assert.is(def.source, "default");
  assert.equal(def.environments, { "*": { level: "audit" } });
  const policy = { environments: { Production: { level: "strict", trustedIdentities: ["O=Example Corp"] }, "*": { level: "permissive" } } };
  const put = await json<{ source: string; environments: unknown }>(await s.call("/api/v1/trust/policy", { method: "PUT", token: admin, json: policy }), 200);
  assert.is(put.source, "configured");
  assert.equal(put.environments, policy.environments);
  for (const bad of [
    { environments: {} },
    { environments: { Prod: { level: "strict" } } },
    { environments: { Production: { level: "paranoid" } } },
    { environments: { Production: { level: "strict", trustedIdentities: ["no attributes"] } } },
    { environments: { __proto__: { level: "strict" } } },
    { policy: {} },
  ]) {
    await refused(await s.call("/api/v1/trust/policy", { method: "PUT", token: admin, body: JSON.stringify(bad), headers: { "content-type": "application/json" } }), 400, /environments|policy/);
  }
  // back to the development default for the other tests
  await json(await s.call("/api/v1/trust/policy", { method: "PUT", token: admin, json: { environments: { "*": { level: "audit" } } } }), 200);
});

test("roles: Deployer and Admin register, any role reads, only Admin touches trust", async () => {
  const m = moduleBytes("roles");
  await refused(await upload({ name: "roles", version: "1.0.0", artifact: m.bytes }, viewer), 403, /roles/);
  await refused(await s.call("/api/v1/modules", { method: "POST", body: form({ name: "roles", version: "1.0.0", artifact: m.bytes }) }), 401, /token/);
  await refused(await s.call("/api/v1/trust/roots", { token: deployer }), 403, /Admin/);
  await refused(await s.call("/api/v1/trust/policy", { method: "PUT", token: deployer, json: { environments: { "*": { level: "skip" } } } }), 403, /Admin/);
  await refused(await s.call("/api/v1/trust/revocations", { method: "POST", token: viewer, json: { fingerprint256: std.signer.fingerprint256, reason: "x" } }), 403, /Admin/);
  await nothingWritten("roles");
});

test("bad input: 4xx problem+json naming what is wrong, nothing written", async () => {
  const m = moduleBytes("bad");
  const kernel = signModule(m.path, std.signer, "kernel");
  const cmsLen = kernel.cms.byteLength;
  // the trailer says the signature is longer than the file
  const lying = Buffer.from(kernel.artifact);
  lying.writeUInt32BE(cmsLen + 1_000_000, lying.length - 28 - 4);
  // the struct before the magic cut short: the magic is there, the trailer is not whole
  const magicAt = kernel.artifact.length - 28;
  const truncated = Buffer.concat([kernel.artifact.subarray(0, magicAt - 5), kernel.artifact.subarray(magicAt)]);
  const stub = Buffer.concat([Buffer.alloc(5), kernel.artifact.subarray(magicAt)]);
  const sha1 = signModule(moduleBytes("bad-sha1").path, std.signer, "kernel", { md: "sha1" });
  const weak = std.pki.issue("weak", { issuer: std.intermediate, key: "rsa1024" });
  const rsa1024 = signModule(moduleBytes("bad-weak").path, weak, "kernel");
  const same = (id: { keyPath: string }) => ({ keyPath: id.keyPath });
  const a0 = std.pki.issue("loop-a0", { subj: "/CN=Loop CA A", ca: true, key: "ec256" });
  const b0 = std.pki.issue("loop-b0", { subj: "/CN=Loop CA B", ca: true, key: "ec256" });
  const loopA = std.pki.issue("loop-a", { subj: "/CN=Loop CA A", ca: true, key: same(a0), issuer: b0 });
  const loopB = std.pki.issue("loop-b", { subj: "/CN=Loop CA B", ca: true, key: same(b0), issuer: a0 });
  const underLoop = std.pki.issue("under-loop", { issuer: loopA, key: same(std.signer) });
  const looped = signModule(moduleBytes("bad-loop").path, underLoop, "kernel");

  const cases: [string, () => Promise<Response>, number, RegExp][] = [
    ["JSON instead of a form", () => s.call("/api/v1/modules", { method: "POST", token: deployer, json: { name: "bad", version: "1.0.0" } }), 415, /multipart\/form-data/],
    [
      "malformed multipart",
      () => s.call("/api/v1/modules", { method: "POST", token: deployer, headers: { "content-type": "multipart/form-data; boundary=xyz" }, body: "--xyz\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nbad" }),
      400,
      /multipart|artifact/,
    ],
    ["missing artifact", () => upload({ name: "bad", version: "1.0.0" }), 400, /form\.artifact/],
    ["empty artifact", () => upload({ name: "bad", version: "1.0.0", artifact: new Uint8Array(0) }), 400, /form\.artifact/],
    ["bad semver", () => upload({ name: "bad", version: "1.0", artifact: m.bytes }), 400, /form\.version/],
    ["bad name", () => upload({ name: "../etc", version: "1.0.0", artifact: m.bytes }), 400, /form\.name/],
    ["unknown field", () => upload({ name: "bad", version: "1.0.0", artifact: m.bytes, owner: "me" }), 400, /unexpected field/],
    ["two artifacts", () => { const f = form({ name: "bad", version: "1.0.0", artifact: m.bytes }); f.append("artifact", new Blob([m.bytes as Uint8Array<ArrayBuffer>]), "b.ko"); return s.call("/api/v1/modules", { method: "POST", token: deployer, body: f }); }, 400, /more than one artifact/],
    ["garbage certificates", () => upload({ name: "bad", version: "1.0.0", artifact: kernel.artifact, certificates: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" }), 400, /form\.certificates/],
    ["certificates that are no PEM", () => upload({ name: "bad", version: "1.0.0", artifact: kernel.artifact, certificates: "hello" }), 400, /form\.certificates/],
    ["a signature that is not CMS", () => upload({ name: "bad", version: "1.0.0", artifact: m.bytes, signature: new Uint8Array(Buffer.from("not a signature at all")) }), 400, /form\.signature/],
    ["a lying trailer", () => upload({ name: "bad", version: "1.0.0", artifact: lying }), 400, /form\.artifact/],
    ["a truncated trailer", () => upload({ name: "bad", version: "1.0.0", artifact: truncated, certificates: std.bundle }), 400, /form\.artifact/],
    ["nothing but a trailer", () => upload({ name: "bad", version: "1.0.0", artifact: stub }), 400, /form\.artifact/],
    ["SHA-1", () => upload({ name: "bad", version: "1.0.0", artifact: sha1.artifact, certificates: std.bundle }), 422, /verification\.integrity|SHA-1|sha1/i],
    ["RSA-1024", () => upload({ name: "bad", version: "1.0.0", artifact: rsa1024.artifact, certificates: weak.pem + std.intermediate.pem }), 422, /1024/],
    ["a chain with a loop", () => upload({ name: "bad", version: "1.0.0", artifact: looped.artifact, certificates: underLoop.pem + loopA.pem + loopB.pem }), 422, /verification\.authenticity/],
  ];
  for (const [what, send, status, pattern] of cases) {
    const res = await send();
    try {
      await refused(res, status, pattern);
    } catch (err) {
      throw new Error(`${what}: ${(err as Error).message}`);
    }
  }
  await nothingWritten("bad");
  const before = readdirSync(join(s.dataDir, "artifacts", "sha256")).length;
  assert.ok(!readdirSync(join(s.dataDir, "artifacts", "sha256")).includes(sha256(m.bytes)), "refused bytes are not stored");
  assert.ok(before >= 1);
});

test("over MODULE_MAX_BYTES: 413 by Content-Length, and while streaming without one; nothing kept", async () => {
  const big = new Uint8Array(MAX + 1);
  await refused(await upload({ name: "huge", version: "1.0.0", artifact: big }), 413, /MODULE_MAX_BYTES/);
  // chunked: no Content-Length, so the limit is found while the artifact streams in
  const f = form({ name: "huge", version: "1.0.0", artifact: new Uint8Array(MAX * 4) });
  const encoded = new Response(f);
  const body = encoded.body!;
  const res = await fetch(`${s.url}/api/v1/modules`, {
    method: "POST",
    headers: { authorization: `Bearer ${deployer}`, "content-type": encoded.headers.get("content-type")! },
    body,
    duplex: "half",
  } as RequestInit).catch((err: unknown) => err as Error);
  if (res instanceof Response) await refused(res, 413, /MODULE_MAX_BYTES/);
  // else the server closed the connection while the client was still sending: refused either way
  await nothingWritten("huge");
  // the body limit of other routes does not apply here: a module larger than BODY_LIMIT_BYTES (64 KiB) registers
  await json(await upload({ name: "large", version: "1.0.0", artifact: moduleBytes("large", 200_000).bytes }), 201);
});

test("downloads beyond MODULE_DOWNLOADS_MAX at once get 429 with Retry-After", async () => {
  const m = moduleBytes("busy", 200_000);
  await json(await upload({ name: "busy", version: "1.0.0", artifact: m.bytes }), 201);
  const url = "/api/v1/modules/busy/versions/1.0.0/artifact";
  // hold two downloads open without reading them
  const held = await Promise.all([s.call(url, { token: viewer }), s.call(url, { token: viewer })]);
  assert.equal(held.map((r) => r.status), [200, 200]);
  const third = await s.call(url, { token: viewer });
  await refused(third, 429, /downloads/);
  assert.is(third.headers.get("retry-after"), "1");
  for (const r of held) await r.arrayBuffer();
  // the slots are free again once those are read
  let status = 0;
  for (let i = 0; i < 50 && status !== 200; i++) {
    const r = await s.call(url, { token: viewer });
    status = r.status;
    await r.arrayBuffer();
    if (status !== 200) await new Promise((res) => setTimeout(res, 20));
  }
  assert.is(status, 200);
});

test("the upload is documented in the OpenAPI document", async () => {
  const doc = (await (await s.call("/openapi.json")).json()) as { paths: Record<string, Record<string, { requestBody?: { content: Record<string, unknown> } }>> };
  assert.ok(doc.paths["/api/v1/modules"]?.post?.requestBody?.content["multipart/form-data"]);
  for (const p of ["/api/v1/modules/{name}/versions/{version}/artifact", "/api/v1/trust/roots", "/api/v1/trust/policy", "/api/v1/trust/revocations"]) assert.ok(doc.paths[p], p);
});

test.run();
