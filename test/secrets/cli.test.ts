// korch secrets list|show|rotate|rollback, run as a user would, against a real server.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { OrchestratorClient } from "../../src/client/index.js";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";

let server: TestServer;
let dir: string;
let admin: OrchestratorClient;

function korch(args: string[], token = admin.token!): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/client/cli.ts", ...args], {
      env: { ...process.env, KORCH_SERVER: server.url, KORCH_CONFIG: join(dir, "credentials.json"), KORCH_TOKEN: token },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.stdin.end();
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

test.before(async () => {
  server = await startTestServer();
  dir = mkdtempSync(join(tmpdir(), "korch-secrets-cli-"));
  admin = new OrchestratorClient({ baseUrl: server.url });
  await admin.login(...DEMO.admin);
  await admin.createSecret({ name: "cli-secret", kind: "generic", value: "never-printed-value", policy: { intervalDays: "monthly" } });
});
test.after(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("list and show print metadata, never the value", async () => {
  const list = await korch(["secrets", "list"]);
  assert.is(list.code, 0, list.stderr);
  assert.match(list.stdout, /cli-secret {2}generic {2}Active {2}v1/);
  const show = await korch(["secrets", "show", "cli-secret"]);
  assert.is(show.code, 0, show.stderr);
  assert.match(show.stdout, /policy: every 30 day\(s\)/);
  assert.match(show.stdout, /v1 {2}current/);
  for (const out of [list.stdout, show.stdout]) assert.not.match(out, /never-printed-value/);
  const json = await korch(["secrets", "show", "cli-secret", "--json"]);
  assert.is((JSON.parse(json.stdout) as { currentVersion: number }).currentVersion, 1);
});

test("rotate --wait follows the rotation to its end; rollback puts the previous version back", async () => {
  const rotated = await korch(["secrets", "rotate", "cli-secret", "--reason", "quarterly", "--wait"]);
  assert.is(rotated.code, 0, rotated.stderr);
  assert.match(rotated.stdout, /completed \(version 2\)/);
  const rolled = await korch(["secrets", "rollback", "cli-secret", "--reason", "clients not ready"]);
  assert.is(rolled.code, 0, rolled.stderr);
  assert.match(rolled.stdout, /current v1/);
});

test("a Viewer gets the server's 403 (exit 3); an unknown subcommand is a usage error (exit 2)", async () => {
  const viewer = new OrchestratorClient({ baseUrl: server.url });
  await viewer.login(...DEMO.viewer);
  const r = await korch(["secrets", "list"], viewer.token!);
  assert.is(r.code, 3);
  assert.match(r.stderr, /403/);
  assert.is((await korch(["secrets", "frobnicate"])).code, 2);
});

test.run();
