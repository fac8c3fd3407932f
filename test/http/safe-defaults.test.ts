import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createUser } from "../../src/commands/users.js";
import { catalog } from "../../src/events/catalog/index.js";
import { EventLog } from "../../src/events/event-log.js";
import { SqliteEventStore } from "../../src/events/store/sqlite.js";
import { TokenService } from "../../src/http/auth.js";
import { DEMO, startTestServer } from "../helpers/server.js";

const PROD = { APP_MODE: "production", JWT_SECRET: "p".repeat(40), AGENT_JOIN_TOKEN: "j".repeat(24), SECRETS_MASTER_KEY: "a".repeat(64) };
/** the signing key every development server used to share, written in the source */
const OLD_CONSTANT_KEY = "development-only-secret-do-not-use-in-production!";

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "korch-safe-"));
  dirs.push(d);
  return d;
}

/** runs `npm run users -- ...` the way an operator would, on the given data dir */
function usersCli(args: string[], env: Record<string, string>): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/commands/users-cli.ts", ...args], { env: { ...process.env, LOG_LEVEL: "silent", ...env } });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.stdin.end();
    child.on("close", (code) => resolve({ code: code ?? -1, out }));
  });
}

async function startError(env: Record<string, string>, dataDir: string): Promise<Error> {
  try {
    const s = await startTestServer(env, { dataDir });
    await s.stop();
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected the server to refuse to start");
}

test("a token signed with the old built-in development key is refused", async () => {
  const s = await startTestServer();
  try {
    const forged = await new TokenService({ ...s.deps.config.jwt, secret: OLD_CONSTANT_KEY }).issue({ sub: "admin", roles: ["Admin", "Deployer", "Viewer"] }, Date.now());
    assert.is((await s.call("/api/v1/authentication/me", { token: forged.token })).status, 401);
    // the server's own tokens still work: it is the key that is refused
    const real = await s.login(...DEMO.admin);
    assert.is((await s.call("/api/v1/authentication/me", { token: real })).status, 200);
  } finally {
    await s.stop();
  }
});

test("production refuses a data dir with enabled demo users, naming them and the command; disabled, it starts", async () => {
  const dataDir = tempDir();
  const dev = await startTestServer({}, { dataDir });
  await dev.stop();

  const err = await startError(PROD, dataDir);
  assert.match(err.message, "admin");
  assert.match(err.message, "deployer");
  assert.match(err.message, "viewer");
  assert.match(err.message, "npm run users -- disable admin");

  const r = await usersCli(["disable", "admin", "deployer", "viewer"], { ...PROD, DATA_DIR: dataDir });
  assert.is(r.code, 0, r.out);
  assert.match(r.out, "disabled admin");

  const prod = await startTestServer(PROD, { dataDir });
  try {
    const login = await prod.call("/api/v1/authentication/login", { method: "POST", json: { username: "admin", password: "Admin123!" } });
    assert.is(login.status, 401);
  } finally {
    await prod.stop();
  }

  // disabling twice is fine; enabling one again brings the refusal back
  const again = await usersCli(["disable", "admin"], { ...PROD, DATA_DIR: dataDir });
  assert.is(again.code, 0, again.out);
  assert.match(again.out, "already disabled");
  const enabled = await usersCli(["enable", "admin"], { ...PROD, DATA_DIR: dataDir });
  assert.is(enabled.code, 0, enabled.out);
  const refused = await startError(PROD, dataDir);
  assert.match(refused.message, "npm run users -- disable admin");
  assert.not.match(refused.message, "viewer");
});

test("a demo name is refused only while it still has the demo password or came from the seed", async () => {
  const dataDir = tempDir();
  const store = new SqliteEventStore({ file: join(dataDir, "events.db") });
  const log = new EventLog(store, catalog);
  const ctx = { actor: { kind: "system" as const, id: "users-cli:ops" }, correlationId: "setup", now: Date.now() };
  await createUser(log, { username: "admin", password: "a-real-password-42", roles: ["Admin"] }, ctx);
  await createUser(log, { username: "deployer", password: "Deploy123!", roles: ["Deployer"] }, ctx);
  await store.close();

  const err = await startError(PROD, dataDir);
  assert.match(err.message, "deployer");
  assert.not.match(err.message, /\badmin\b/);
  assert.match(err.message, "npm run users -- disable deployer");
});

test("users CLI: disable answers an unknown user or a missing name without a stack trace", async () => {
  const dataDir = tempDir();
  const env = { ...PROD, DATA_DIR: dataDir };
  const unknown = await usersCli(["disable", "nobody"], env);
  assert.is(unknown.code, 1);
  assert.match(unknown.out, "nobody");
  assert.not.match(unknown.out, /at .*\.ts:\d+/);
  const usage = await usersCli(["disable"], env);
  assert.is(usage.code, 2);
  assert.match(usage.out, "usage");
});

test.after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test.run();
