import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { OrchestratorClient } from "../../src/client/index.js";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";

let server: TestServer;
let dir: string;
let admin: OrchestratorClient;

/** runs the CLI as a user would (not a TTY), with its own credentials file */
function korch(args: string[], env: Record<string, string> = {}, stdin = ""): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/client/cli.ts", ...args], {
      env: { ...process.env, KORCH_SERVER: server.url, KORCH_CONFIG: join(dir, "credentials.json"), KORCH_TOKEN: "", ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.stdin.end(stdin);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
const jsonLines = (s: string) => s.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

test.before(async () => {
  server = await startTestServer();
  dir = mkdtempSync(join(tmpdir(), "korch-cli-"));
  admin = new OrchestratorClient({ baseUrl: server.url });
  await admin.login(...DEMO.admin);
});
test.after(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("login stores server and token in KORCH_CONFIG with mode 0600", async () => {
  const r = await korch(["login", "deployer", "--json"], {}, "Deploy123!\n");
  assert.is(r.code, 0, r.stderr);
  const saved = JSON.parse(readFileSync(join(dir, "credentials.json"), "utf8")) as { server: string; token: string; username: string };
  assert.is(saved.server, server.url);
  assert.is(saved.username, "deployer");
  assert.is(statSync(join(dir, "credentials.json")).mode & 0o777, 0o600);
  assert.equal(await new OrchestratorClient({ baseUrl: server.url, token: saved.token }).me(), { username: "deployer", roles: ["Deployer", "Viewer"] });
});

test("a wrong password exits 3 with the server's problem", async () => {
  const r = await korch(["login", "viewer", "--password", "nope"]);
  assert.is(r.code, 3);
  assert.match(r.stderr, /401/);
});

test("status <id> prints the deployment; --json prints the API view", async () => {
  writeFileSync(join(dir, "credentials.json"), JSON.stringify({ server: server.url, token: admin.token }), { mode: 0o600 });
  const { executionId, position } = await admin.requestDeployment({ moduleName: "netfilter", version: "2.0.0", targetEnvironment: "Staging", requesterEmail: "ops@example.com" });
  await admin.getDeployment(executionId, { minPosition: position });
  const text = await korch(["status", executionId]);
  assert.is(text.code, 0, text.stderr);
  assert.match(text.stdout, executionId);
  assert.match(text.stdout, "netfilter 2.0.0 -> Staging (BlueGreen)  PendingApproval");
  const json = await korch(["status", executionId, "--json"]);
  const [view] = jsonLines(json.stdout);
  assert.equal(view, await admin.getDeployment(executionId));
});

test("clusters --json prints one JSON object per cluster (or the API error as JSON)", async () => {
  const r = await korch(["clusters", "--json"]);
  const lines = jsonLines(r.stdout);
  let expected: unknown[] | undefined;
  try {
    expected = await admin.clusters();
  } catch {
    // the clusters routes are not mounted yet: the CLI must still say so in JSON and exit 3
  }
  if (expected) {
    assert.is(r.code, 0, r.stderr);
    assert.equal(lines, expected);
  } else {
    assert.is(r.code, 3);
    assert.is((lines[0]?.error as { status?: number } | undefined)?.status, 404);
  }
});

test("deploy --watch --json follows to the end; a rejected deployment exits 1", async () => {
  const running = korch(["deploy", "watchmod", "3.0.0", "--env", "Staging", "--email", "ops@example.com", "--watch", "--json"]);
  let pending;
  for (let i = 0; i < 100 && !pending; i++) {
    pending = (await admin.pendingApprovals()).find((a) => a.moduleName === "watchmod");
    if (!pending) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(pending, "the deployment waits for approval");
  await admin.reject(pending.executionId, "not now");
  const r = await running;
  assert.is(r.code, 1, r.stderr);
  const lines = jsonLines(r.stdout);
  assert.equal(lines[0], { executionId: pending.executionId, status: "PendingApproval", position: lines[0]!.position });
  const history = await admin.history(pending.executionId);
  assert.equal(lines.slice(1, -1).map((l) => l.id), history.events.map((e) => e.position));
  assert.equal(lines.at(-1), { executionId: pending.executionId, status: "Rejected", final: true, failureReason: lines.at(-1)!.failureReason });
});

test("watch prints one line per event when stdout is not a terminal, then the final status", async () => {
  const { executionId } = await admin.requestDeployment({ moduleName: "netfilter", version: "4.0.0", targetEnvironment: "Development", requesterEmail: "ops@example.com" });
  const r = await korch(["watch", executionId]);
  const history = await admin.history(executionId);
  const last = history.events.at(-1)!.type;
  assert.ok(["DeploymentFailed", "DeploymentSucceeded"].includes(last), `ended with ${last}`);
  assert.is(r.code, last === "DeploymentSucceeded" ? 0 : 1, r.stderr);
  const lines = r.stdout.trim().split("\n");
  assert.match(lines[0]!, "netfilter 4.0.0 -> Development");
  assert.equal(lines.slice(1, -1).map((l) => l.split(" ")[2]), history.events.map((e) => e.type));
  assert.match(lines.at(-1)!, last === "DeploymentSucceeded" ? /^Succeeded/ : /^Failed/);
});

test("usage errors exit 2", async () => {
  assert.is((await korch(["deploy", "netfilter", "1.0.0", "--env", "Moon", "--email", "a@example.com"])).code, 2);
  assert.is((await korch(["reject", "00000000-0000-4000-8000-000000000000"])).code, 2);
  assert.is((await korch(["frobnicate"])).code, 2);
});

test.run();
