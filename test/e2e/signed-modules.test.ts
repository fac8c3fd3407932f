// Black-box: deployments bound to verified bytes. A development-mode server with the simulated
// fleet, Production set to strict (PUT /trust/policy): unregistered, unsigned and untrusted modules
// are refused with the failing checks named; a trusted one deploys and every node reports its
// digest; revoking its signer mid-canary rolls the deployment back with reason "signer revoked";
// and bytes changed in storage after the request are refused by the agents themselves.
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { FAST_FLEET_ENV, getDeployment, waitForStatus, type DeploymentBody } from "../helpers/deployments.js";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";
import { makePki, type StandardPki } from "../modules/fixtures-gen.js";

const test = suite("signed modules, end to end");

// waves long enough to revoke in the middle of a canary, short enough to finish in seconds
const STRATEGY_SETTINGS = JSON.stringify({
  "*": {
    checkIntervalMs: 250,
    requiredStableChecks: 2,
    minWaitMs: 250,
    maxWaitMs: 8000,
    analysisWindowMs: 1500,
    installTimeoutMs: 5000,
    progressDeadlineMs: 60_000,
    thresholds: { minSamplesPerNode: 2 },
  },
  Production: { minWaitMs: 1500 },
});

let s: TestServer;
let admin: string;
let deployer: string;
let dir: string;
let pki: StandardPki;
let stranger: StandardPki;

type Verdict = { status: string };
type Registered = { digest: string; verification: Verdict; position: number };
type Problem = { status: number; detail: string; errors?: { path: string; check?: string; message: string }[] };

async function push(name: string, version: string, artifact: Uint8Array, certificates?: string): Promise<Registered> {
  const f = new FormData();
  f.set("name", name);
  f.set("version", version);
  f.set("artifact", new Blob([new Uint8Array(artifact)]), `${name}.ko`);
  if (certificates) f.set("certificates", certificates);
  const res = await s.call("/api/v1/modules", { method: "POST", token: deployer, body: f });
  const text = await res.text();
  assert.is(res.status, 201, text);
  return JSON.parse(text) as Registered;
}

const deploy = (moduleName: string, version: string, targetEnvironment: string) =>
  s.call("/api/v1/deployments", { method: "POST", token: deployer, json: { moduleName, version, targetEnvironment, requesterEmail: "deployer@example.com" } });

async function refusedChecks(res: Response): Promise<string[]> {
  const text = await res.text();
  assert.is(res.status, 422, text);
  const p = JSON.parse(text) as Problem;
  assert.ok(p.errors?.length, "errors name the failed checks");
  return p.errors!.map((e) => e.path).sort();
}

async function accepted(res: Response): Promise<string> {
  const text = await res.text();
  assert.is(res.status, 202, text);
  return (JSON.parse(text) as { executionId: string }).executionId;
}

async function approve(id: string) {
  await waitForStatus(s, admin, id, ["PendingApproval"], 10_000);
  const res = await s.call(`/api/v1/approvals/deployments/${id}/approve`, { method: "POST", token: admin, json: { reason: "signed and verified" } });
  assert.is(res.status, 200, await res.text());
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), "korch-signed-e2e-"));
  pki = makePki(join(dir, "trusted"));
  stranger = makePki(join(dir, "stranger"), { subjectPrefix: "/O=Stranger Ltd" });
  s = await startTestServer({ ...FAST_FLEET_ENV, STRATEGY_SETTINGS });
  [admin, deployer] = await Promise.all([s.login(...DEMO.admin), s.login(...DEMO.deployer)]);
  const policy = { environments: { Production: { level: "strict", trustedIdentities: ["O=Example Corp"] }, "*": { level: "audit" } } };
  const put = await s.call("/api/v1/trust/policy", { method: "PUT", token: admin, json: policy });
  assert.is(put.status, 200, await put.text());
  const root = await s.call("/api/v1/trust/roots", { method: "POST", token: admin, headers: { "content-type": "application/x-pem-file" }, body: pki.root.pem });
  assert.is(root.status, 201, await root.text());
});
test.after(async () => {
  await s.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("with Production strict: unregistered, unsigned and untrusted modules are refused naming the failed checks", async () => {
  assert.equal(await refusedChecks(await deploy("ghostmod", "1.0.0", "Production")), ["integrity"]);

  await push("plainmod", "1.0.0", pki.pki.module("plainmod").bytes);
  const unsigned = await refusedChecks(await deploy("plainmod", "1.0.0", "Production"));
  assert.ok(unsigned.includes("integrity") && unsigned.includes("authenticity"), unsigned.join());

  const foreign = stranger.signModule(stranger.pki.module("strangemod").path, "kernel");
  const r = await push("strangemod", "1.0.0", foreign.artifact, stranger.bundle);
  assert.is(r.verification.status, "untrusted");
  assert.equal(await refusedChecks(await deploy("strangemod", "1.0.0", "Production")), ["authenticity"]);

  // the same modules may go where the policy only audits
  await accepted(await deploy("plainmod", "1.0.0", "Development"));
});

test("a trusted module deploys to Production and every node reports its digest", async () => {
  const signed = pki.signModule(pki.pki.module("netguard").path, "kernel");
  const r = await push("netguard", "1.0.0", signed.artifact, pki.bundle);
  assert.is(r.verification.status, "verified");
  assert.is(r.digest, `sha256:${createHash("sha256").update(signed.artifact).digest("hex")}`);

  const id = await accepted(await deploy("netguard", "1.0.0", "Production"));
  await approve(id);
  const done = await waitForStatus(s, admin, id, undefined, 60_000);
  assert.is(done.status, "Succeeded", JSON.stringify(done.failureReason));

  // the request recorded what it relied on
  const history = (await (await s.call(`/api/v1/deployments/${id}/history`, { token: admin })).json()) as { events: { type: string; data: Record<string, unknown> }[] };
  const requested = history.events.find((e) => e.type === "DeploymentRequested")!.data;
  assert.equal(requested.artifact, { digest: r.digest, size: signed.artifact.length, status: "verified", checks: { integrity: "passed", authenticity: "passed", expiry: "passed", revocation: "passed" }, level: "strict" });

  const page = await until("every Production node to report the digest", async () => {
    const v = (await (await s.call("/api/v1/modules/netguard/versions/1.0.0", { token: admin })).json()) as {
      runningOn: { nodeId: string; environment: string; reportedDigest: string | null }[];
    };
    const prod = v.runningOn.filter((n) => n.environment === "Production");
    return prod.length === 5 && prod.every((n) => n.reportedDigest === r.digest) ? v : undefined;
  });
  assert.is(page.runningOn.length, 5);
});

test("revoking the signer mid-canary rolls the deployment back with reason 'signer revoked'", async () => {
  const signed = pki.signModule(pki.pki.module("netguard-2").path, "kernel");
  await push("netguard", "1.1.0", signed.artifact, pki.bundle);
  const id = await accepted(await deploy("netguard", "1.1.0", "Production"));
  await approve(id);
  const mid = await until<DeploymentBody>("the canary's first wave to install", async () => {
    const d = await getDeployment(s, admin, id);
    if (["Succeeded", "Failed", "RolledBack"].includes(d.status)) throw new Error(`ended ${d.status} before the revocation`);
    return d.status === "Running" && d.nodes.some((n) => n.phase === "updated") ? d : undefined;
  });
  assert.ok(mid.waves.some((w) => w.status !== "completed"), "still mid-canary");

  const revoke = await s.call("/api/v1/trust/revocations", { method: "POST", token: admin, json: { fingerprint256: pki.signer.fingerprint256, reason: "signing key leaked" } });
  const body = (await revoke.json()) as { reverified: { name: string; version: string; to: string }[] };
  assert.is(revoke.status, 201);
  assert.equal(body.reverified.filter((c) => c.name === "netguard").map((c) => `${c.version}:${c.to}`).sort(), ["1.0.0:revoked", "1.1.0:revoked"]);

  const ended = await waitForStatus(s, admin, id, undefined, 60_000);
  assert.is(ended.status, "RolledBack");
  assert.is(ended.rollback?.reason, "signer revoked");

  // the version's page lists the nodes still running it: none of 1.1.0, all of 1.0.0 again
  const v110 = await until("1.1.0 to run nowhere", async () => {
    const v = (await (await s.call("/api/v1/modules/netguard/versions/1.1.0", { token: admin })).json()) as { runningOn: unknown[]; verification: Verdict };
    return v.runningOn.length === 0 ? v : undefined;
  });
  assert.is(v110.verification.status, "revoked");
  const v100 = (await (await s.call("/api/v1/modules/netguard/versions/1.0.0", { token: admin })).json()) as { runningOn: { environment: string }[]; verification: Verdict };
  assert.is(v100.verification.status, "revoked");
  assert.is(v100.runningOn.filter((n) => n.environment === "Production").length, 5, "still running the revoked 1.0.0: listed for the operator");

  // and it can no longer be deployed where revocation is enforced
  assert.ok((await refusedChecks(await deploy("netguard", "1.0.0", "Production"))).includes("revocation"));
});

test("bytes changed in storage after the request: the agents refuse them and report the failed install", async () => {
  const m = pki.pki.module("swapmod");
  const r = await push("swapmod", "1.0.0", m.bytes);
  // Staging waits for approval (audit policy here): the bytes are swapped in the meantime
  const id = await accepted(await deploy("swapmod", "1.0.0", "Staging"));
  await waitForStatus(s, admin, id, ["PendingApproval"], 10_000);
  writeFileSync(join(s.dataDir, "artifacts", "sha256", r.digest.slice("sha256:".length)), Buffer.from("not the module that was registered"));
  await approve(id);
  const ended = await waitForStatus(s, admin, id, undefined, 60_000);
  assert.ok(["RolledBack", "Failed"].includes(ended.status), ended.status);
  assert.match(JSON.stringify(ended.rollback?.cause ?? ended.failureReason), /artifact digest mismatch/);
});

test.run();
