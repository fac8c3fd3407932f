import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createUser } from "../../src/commands/users.js";
import { catalog } from "../../src/events/catalog/index.js";
import { EventLog } from "../../src/events/event-log.js";
import { SqliteEventStore } from "../../src/events/store/sqlite.js";
import { generateKeyPairSync } from "node:crypto";
import { SignJWT } from "jose";
import { ManualClock } from "../../src/platform/clock.js";
import { DEV_MASTER_KEY_FILE } from "../../src/secrets/master-key.js";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";

const PROD = { APP_MODE: "production", AGENT_JOIN_TOKEN: "j".repeat(24), SECRETS_MASTER_KEY: "a".repeat(64) };
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

/** An admin access token as the server would make it, but signed by the test: alg, kid and key chosen. */
async function forge(s: TestServer, alg: string, kid: string, key: Parameters<SignJWT["sign"]>[0], nowMs = Date.now()): Promise<string> {
  const iat = Math.floor(nowMs / 1000);
  return new SignJWT({ roles: ["Admin", "Deployer", "Viewer"], ver: 0 })
    .setProtectedHeader({ alg, kid, typ: "at+jwt" })
    .setSubject("admin")
    .setIssuer(s.deps.config.jwt.issuer)
    .setAudience(s.deps.config.jwt.audience)
    .setIssuedAt(iat)
    .setExpirationTime(iat + 300)
    .setJti(crypto.randomUUID())
    .sign(key);
}
const bytes = (text: string) => new TextEncoder().encode(text);
const me = async (s: TestServer, token: string) => (await s.call("/api/v1/authentication/me", { token })).status;

test("a token forged with any constant, or with a key of one's own, is refused: tokens are signed by the managed key only", async () => {
  const s = await startTestServer();
  try {
    const ours = s.deps.keyRing.signer()!.kid;
    for (const kid of ["k1", ours, "jwt-signing-key@2"]) {
      for (const constant of [OLD_CONSTANT_KEY, "secret", "p".repeat(40)]) assert.is(await me(s, await forge(s, "HS256", kid, bytes(constant))), 401, `${constant} as ${kid}`);
      assert.is(await me(s, await forge(s, "EdDSA", kid, generateKeyPairSync("ed25519").privateKey)), 401, `a stranger's Ed25519 key as ${kid}`);
    }
    // the server's own tokens still work: it is the key that is refused
    const real = await s.login(...DEMO.admin);
    assert.is(await me(s, real), 200);
  } finally {
    await s.stop();
  }
});

test("JWT_SECRET (migration only): never signs; verifies tokens of its kid for one token lifetime after the managed key took over, then nothing", async () => {
  const dataDir = tempDir();
  const clock = new ManualClock(Date.now());
  // a production data dir from before managed keys: a real admin, tokens signed with JWT_SECRET
  const store = new SqliteEventStore({ file: join(dataDir, "events.db") });
  await createUser(new EventLog(store, catalog), { username: "admin", password: "a-real-password-42", roles: ["Admin"] }, { actor: { kind: "system", id: "test" }, correlationId: "setup", now: clock.now() });
  await store.close();
  const legacySecret = "p".repeat(40);
  const s = await startTestServer({ ...PROD, JWT_SECRET: legacySecret, JWT_TTL_SECONDS: "600" }, { dataDir, clock });
  try {
    const issued = await s.login("admin", "a-real-password-42");
    assert.is(JSON.parse(Buffer.from(issued.split(".")[0]!, "base64url").toString()).alg, "EdDSA", "new tokens are never HS256");
    assert.is(await me(s, await forge(s, "HS256", "k1", bytes(legacySecret), clock.now())), 200, "a token from before the upgrade");
    assert.is(await me(s, await forge(s, "HS256", s.deps.keyRing.signer()!.kid, bytes(legacySecret), clock.now())), 401, "only its own kid");
    assert.is(await me(s, await forge(s, "HS256", "k1", bytes(OLD_CONSTANT_KEY), clock.now())), 401);
    clock.advance(600_000);
    assert.is(await me(s, await forge(s, "HS256", "k1", bytes(legacySecret), clock.now())), 401, "a lifetime later no legacy token can be valid");
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

  // the secrets the development run made (its signing key among them) open with that run's master key
  const devMasterKey = readFileSync(join(dataDir, DEV_MASTER_KEY_FILE), "utf8").trim();
  const prod = await startTestServer({ ...PROD, SECRETS_MASTER_KEY: devMasterKey }, { dataDir });
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
