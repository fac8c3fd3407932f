// The master key: accepted forms, development's per-directory key file, and a master-key change
// across restarts of a real server: data keys re-wrapped at start (recorded in the log), values
// unchanged, the old key no longer needed afterwards.
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { streams } from "../../src/events/streams.js";
import { ConfigError, loadConfig } from "../../src/platform/config.js";
import { loadOrCreateDevMasterKey, parseMasterKey } from "../../src/secrets/master-key.js";
import { DEMO, startTestServer } from "../helpers/server.js";

test("a master key is 32 bytes as hex or base64; anything else is refused naming SECRETS_MASTER_KEY", () => {
  const key = Buffer.alloc(32, 9);
  for (const text of [key.toString("hex"), key.toString("base64"), key.toString("base64url")]) {
    const parsed = parseMasterKey(text);
    assert.ok(typeof parsed !== "string" && parsed.key.equals(key), text);
  }
  for (const text of ["", "short", "a".repeat(63), Buffer.alloc(16).toString("base64"), "correct horse battery staple and more words"]) assert.type(parseMasterKey(text), "string", text);
  const dir = mkdtempSync(join(tmpdir(), "korch-mk-"));
  try {
    assert.throws(() => loadConfig({ APP_MODE: "development", DATA_DIR: dir, SECRETS_MASTER_KEY: "nope" }), (e: unknown) => e instanceof ConfigError && /SECRETS_MASTER_KEY:/.test(e.message));
    assert.throws(
      () => loadConfig({ APP_MODE: "production", DATA_DIR: dir, JWT_SECRET: "s".repeat(40), AGENT_JOIN_TOKEN: "j".repeat(20) }),
      (e: unknown) => e instanceof ConfigError && /SECRETS_MASTER_KEY: required in production/.test(e.message),
    );
    // vault instead: no master key, but its address and token
    assert.throws(
      () => loadConfig({ APP_MODE: "production", DATA_DIR: dir, JWT_SECRET: "s".repeat(40), AGENT_JOIN_TOKEN: "j".repeat(20), SECRETS_BACKEND: "vault" }),
      (e: unknown) => e instanceof ConfigError && /VAULT_ADDR/.test(e.message) && !/SECRETS_MASTER_KEY/.test(e.message),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("development keeps one master key per data directory, 0600, the same on every start", () => {
  const dir = mkdtempSync(join(tmpdir(), "korch-mk-"));
  try {
    const a = loadOrCreateDevMasterKey(dir);
    const b = loadOrCreateDevMasterKey(dir);
    assert.ok(a.key.equals(b.key));
    assert.is(statSync(join(dir, "secrets-master.key")).mode & 0o777, 0o600);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a master-key change: re-wrapped at start, recorded, values unchanged, the old key no longer needed", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "korch-mk-server-"));
  const oldKey = Buffer.alloc(32, 1).toString("base64");
  const newKey = Buffer.alloc(32, 2).toString("hex");
  try {
    let s = await startTestServer({ SECRETS_MASTER_KEY: oldKey }, { dataDir });
    let token = await s.login(...DEMO.admin);
    assert.is((await s.call("/api/v1/secrets", { method: "POST", token, json: { name: "kept", kind: "generic", value: "same-value-throughout" } })).status, 201);
    await s.stop();

    s = await startTestServer({ SECRETS_MASTER_KEY: newKey, SECRETS_MASTER_KEY_PREVIOUS: oldKey }, { dataDir });
    token = await s.login(...DEMO.admin);
    const rewrapped = (await s.deps.log.readStream(streams.secret("kept"))).filter((e) => e.type === "SecretMasterKeyRewrapped");
    assert.is(rewrapped.length, 1);
    assert.equal((rewrapped[0]!.data as { versions: number[] }).versions, [1]);
    assert.is(((await (await s.call("/api/v1/secrets/kept/value", { token })).json()) as { value: string }).value, "same-value-throughout");
    await s.stop();

    s = await startTestServer({ SECRETS_MASTER_KEY: newKey }, { dataDir });
    token = await s.login(...DEMO.admin);
    assert.is(((await (await s.call("/api/v1/secrets/kept/value", { token })).json()) as { value: string }).value, "same-value-throughout");
    assert.is((await s.deps.log.readStream(streams.secret("kept"))).filter((e) => e.type === "SecretMasterKeyRewrapped").length, 1, "nothing left to re-wrap");
    await s.stop();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test.run();
