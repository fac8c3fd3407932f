import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ConfigError, loadConfig } from "../../src/platform/config.js";

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "korch-config-"));
  dirs.push(d);
  return d;
}

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    assert.instance(err, ConfigError);
    return err as ConfigError;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(env)}`);
}

const PROD_SECRETS = { JWT_SECRET: "s".repeat(40), AGENT_JOIN_TOKEN: "j".repeat(20), SECRETS_MASTER_KEY: "a".repeat(64) };

test("an unknown APP_MODE is a config error naming APP_MODE", () => {
  for (const value of ["prod", "Production", "staging"]) {
    assert.match(configError({ APP_MODE: value, DATA_DIR: tempDir() }).message, "APP_MODE");
  }
});

test("without APP_MODE, NODE_ENV production in any spelling means production; an unclear NODE_ENV is an error", () => {
  for (const value of ["production", "Production", "prod", "PRODUCTION"]) {
    assert.is(loadConfig({ NODE_ENV: value, DATA_DIR: tempDir(), ...PROD_SECRETS }).mode, "production", value);
  }
  for (const value of ["development", "test", "dev"]) {
    assert.is(loadConfig({ NODE_ENV: value, DATA_DIR: tempDir() }).mode, "development", value);
  }
  assert.is(loadConfig({ DATA_DIR: tempDir() }).mode, "development");
  const err = configError({ NODE_ENV: "staging", DATA_DIR: tempDir() });
  assert.match(err.message, "NODE_ENV");
  assert.match(err.message, "APP_MODE");
  // APP_MODE decides when both are given
  assert.is(loadConfig({ APP_MODE: "development", NODE_ENV: "production", DATA_DIR: tempDir() }).mode, "development");
});

test("development listens on 127.0.0.1 unless HOST is set; production on all interfaces", () => {
  assert.is(loadConfig({ APP_MODE: "development", DATA_DIR: tempDir() }).host, "127.0.0.1");
  assert.is(loadConfig({ APP_MODE: "development", DATA_DIR: tempDir(), HOST: "0.0.0.0" }).host, "0.0.0.0");
  assert.is(loadConfig({ APP_MODE: "production", DATA_DIR: tempDir(), ...PROD_SECRETS }).host, "0.0.0.0");
});

test("development secrets are random per data directory, kept in a 0600 file, and stable across starts", () => {
  const a = tempDir();
  const b = tempDir();
  const a1 = loadConfig({ APP_MODE: "development", DATA_DIR: a });
  const a2 = loadConfig({ APP_MODE: "development", DATA_DIR: a });
  const b1 = loadConfig({ APP_MODE: "development", DATA_DIR: b });
  assert.is(a1.agentJoinToken, a2.agentJoinToken);
  assert.is.not(a1.agentJoinToken, b1.agentJoinToken);
  assert.ok(a1.agentJoinToken.length >= 16);
  assert.is.not(a1.agentJoinToken, "development-join-token");
  // tokens are signed by the managed jwt-signing-key; no HS256 secret is made or used
  assert.is(a1.jwt.legacy, undefined);
  const file = join(a, "dev-secrets.json");
  assert.is(statSync(file).mode & 0o777, 0o600);
  assert.match(readFileSync(file, "utf8"), a1.agentJoinToken);
});

test("a data directory the config creates is 0700", () => {
  const dir = join(tempDir(), "nested", "data");
  loadConfig({ APP_MODE: "development", DATA_DIR: dir });
  assert.is(statSync(dir).mode & 0o777, 0o700);
});

test("values from the environment win over generated ones, and then no secrets file is written", () => {
  const dir = tempDir();
  const c = loadConfig({ APP_MODE: "development", DATA_DIR: dir, ...PROD_SECRETS });
  assert.equal(c.jwt.legacy, { secret: PROD_SECRETS.JWT_SECRET, kid: "k1" });
  assert.is(c.agentJoinToken, PROD_SECRETS.AGENT_JOIN_TOKEN);
  assert.throws(() => statSync(join(dir, "dev-secrets.json")));
  // one given, the other generated
  const only = loadConfig({ APP_MODE: "development", DATA_DIR: dir, AGENT_JOIN_TOKEN: PROD_SECRETS.AGENT_JOIN_TOKEN });
  assert.is(only.agentJoinToken, PROD_SECRETS.AGENT_JOIN_TOKEN);
  assert.is(only.jwt.legacy, undefined);
});

test("production never generates secrets: both must be given", () => {
  const dir = tempDir();
  const err = configError({ APP_MODE: "production", DATA_DIR: dir });
  // the signing key is a managed secret now: JWT_SECRET is an optional migration aid, never required
  assert.not.match(err.message, "JWT_SECRET");
  assert.match(err.message, "AGENT_JOIN_TOKEN");
  assert.throws(() => statSync(join(dir, "dev-secrets.json")));
});

test("a damaged secrets file is a config error naming it, not a silent new key", () => {
  const dir = tempDir();
  writeFileSync(join(dir, "dev-secrets.json"), "{not json", { mode: 0o600 });
  assert.match(configError({ APP_MODE: "development", DATA_DIR: dir }).message, "dev-secrets.json");
});

test("METRICS_TOKEN, when set, must be long enough to be a secret", () => {
  assert.match(configError({ APP_MODE: "development", DATA_DIR: tempDir(), METRICS_TOKEN: "short" }).message, "METRICS_TOKEN");
  assert.is(loadConfig({ APP_MODE: "development", DATA_DIR: tempDir(), METRICS_TOKEN: "m".repeat(24) }).metricsToken, "m".repeat(24));
  assert.is(loadConfig({ APP_MODE: "development", DATA_DIR: tempDir() }).metricsToken, undefined);
});

test("JWKS: max-age and publish-ahead default by mode; publishing ahead for less than a cache lifetime is refused", () => {
  const dev = loadConfig({ APP_MODE: "development", DATA_DIR: tempDir() }).jwt;
  assert.is(dev.jwksMaxAgeSeconds, 2);
  assert.is(dev.publishAheadMs, 2000);
  const prod = loadConfig({ APP_MODE: "production", DATA_DIR: tempDir(), ...PROD_SECRETS, SECRETS_MASTER_KEY: Buffer.alloc(32, 7).toString("base64") }).jwt;
  assert.is(prod.jwksMaxAgeSeconds, 300);
  assert.is(prod.publishAheadMs, 300_000);
  const ahead = loadConfig({ APP_MODE: "development", DATA_DIR: tempDir(), JWKS_MAX_AGE_SECONDS: "60" }).jwt;
  assert.is(ahead.publishAheadMs, 60_000, "defaults to the max-age");
  assert.match(configError({ APP_MODE: "development", DATA_DIR: tempDir(), JWKS_MAX_AGE_SECONDS: "60", JWKS_PUBLISH_AHEAD_SECONDS: "10" }).message, "JWKS_PUBLISH_AHEAD_SECONDS");
  assert.match(configError({ APP_MODE: "development", DATA_DIR: tempDir(), JWKS_MAX_AGE_SECONDS: "-1" }).message, "JWKS_MAX_AGE_SECONDS");
});

test.after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test.run();
