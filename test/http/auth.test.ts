import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ConfigError, loadConfig } from "../../src/platform/config.js";
import { streams } from "../../src/events/streams.js";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";

const t = suite<{ s: TestServer }>("authentication and identity");
t.before(async (ctx) => {
  ctx.s = await startTestServer({ LOCKOUT_MAX_ATTEMPTS: "3" });
});
t.after(async (ctx) => ctx.s.stop());

t("login returns a token, /me answers the caller", async ({ s }) => {
  const res = await s.call("/api/v1/authentication/login", { method: "POST", json: { username: "deployer", password: "Deploy123!" } });
  assert.is(res.status, 200);
  const body = (await res.json()) as { token: string; expiresAt: string; user: { username: string; roles: string[] } };
  assert.equal(body.user, { username: "deployer", roles: ["Deployer", "Viewer"] });
  assert.ok(Date.parse(body.expiresAt) > Date.now());
  const me = await s.call("/api/v1/authentication/me", { token: body.token });
  assert.is(me.status, 200);
  assert.equal(await me.json(), { username: "deployer", roles: ["Deployer", "Viewer"] });
});

t("401 without a token or with a forged one; problem+json", async ({ s }) => {
  const none = await s.call("/api/v1/authentication/me");
  assert.is(none.status, 401);
  assert.match(none.headers.get("content-type") ?? "", "application/problem+json");
  const forged = await s.call("/api/v1/authentication/me", { token: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.x" });
  assert.is(forged.status, 401);
});

t("403 for a role that may not", async ({ s }) => {
  const token = await s.login(...DEMO.viewer);
  const res = await s.call("/api/v1/users", { method: "POST", token, json: { username: "x1", password: "0123456789ab", roles: ["Viewer"] } });
  assert.is(res.status, 403);
  const body = (await res.json()) as { status: number; title: string };
  assert.is(body.status, 403);
  assert.is(body.title, "Forbidden");
});

t("wrong password is 401; repeated failures lock the account with 423 and Retry-After, recorded as events", async ({ s }) => {
  const admin = await s.login(...DEMO.admin);
  const created = await s.call("/api/v1/users", { method: "POST", token: admin, json: { username: "lockme", password: "correct-horse-1", roles: ["Viewer"] } });
  assert.is(created.status, 201);
  const attempt = (password: string) => s.call("/api/v1/authentication/login", { method: "POST", json: { username: "lockme", password } });
  assert.is((await attempt("nope")).status, 401);
  assert.is((await attempt("nope")).status, 401);
  const third = await attempt("nope");
  assert.is(third.status, 423);
  assert.ok(Number(third.headers.get("retry-after")) > 0);
  // even the right password is refused while locked
  assert.is((await attempt("correct-horse-1")).status, 423);
  const types = (await s.deps.log.readStream(streams.user("lockme"))).map((e) => e.type);
  assert.equal(types, ["UserCreated", "UserLoginFailed", "UserLoginFailed", "UserLoginFailed", "UserLockedOut"]);
  // unknown users leave no stream behind
  assert.is((await s.call("/api/v1/authentication/login", { method: "POST", json: { username: "ghost", password: "x" } })).status, 401);
  assert.equal(await s.deps.log.readStream(streams.user("ghost")), []);
});

t("successful login is recorded", async ({ s }) => {
  await s.login(...DEMO.viewer);
  const types = (await s.deps.log.readStream(streams.user("viewer"))).map((e) => e.type);
  assert.ok(types.includes("UserLoggedIn"));
});

t("bad input: malformed JSON, wrong types, unknown fields, oversized body, unknown route", async ({ s }) => {
  const login = (body: string, type = "application/json") =>
    s.call("/api/v1/authentication/login", { method: "POST", body, headers: { "content-type": type } });
  const malformed = await login("{not json");
  assert.is(malformed.status, 400);
  assert.match(malformed.headers.get("content-type") ?? "", "problem+json");
  const wrongType = await login(JSON.stringify({ username: 5, password: "x" }));
  assert.is(wrongType.status, 400);
  const err = (await wrongType.json()) as { errors: { path: string }[] };
  assert.equal(err.errors[0]?.path, "json.username");
  const unknownField = await login(JSON.stringify({ username: "a", password: "b", admin: true }));
  assert.is(unknownField.status, 400);
  const big = await login(JSON.stringify({ username: "a", password: "x".repeat(200_000) }));
  assert.is(big.status, 413);
  const missing = await s.call("/api/v1/nope");
  assert.is(missing.status, 404);
  assert.match(missing.headers.get("content-type") ?? "", "problem+json");
  const text = await missing.text();
  assert.not.match(text, "at ");
  // still serving
  assert.is((await s.call("/health")).status, 200);
});

t("Idempotency-Key: the same command twice gives the same answer and one event", async ({ s }) => {
  const admin = await s.login(...DEMO.admin);
  const send = () =>
    s.call("/api/v1/users", {
      method: "POST",
      token: admin,
      headers: { "idempotency-key": "create-idem-1" },
      json: { username: "idem", password: "0123456789ab", roles: ["Viewer"] },
    });
  const a = await send();
  const b = await send();
  assert.is(a.status, 201);
  assert.is(b.status, 201);
  assert.equal(await a.json(), await b.json());
  assert.is((await s.deps.log.readStream(streams.user("idem"))).length, 1);
});

t("role change by an admin takes effect on the next login", async ({ s }) => {
  const admin = await s.login(...DEMO.admin);
  await s.call("/api/v1/users", { method: "POST", token: admin, json: { username: "promote", password: "0123456789ab", roles: ["Viewer"] } });
  const res = await s.call("/api/v1/users/promote/roles", { method: "PUT", token: admin, json: { roles: ["Deployer", "Viewer"] } });
  assert.is(res.status, 200);
  const token = await s.login("promote", "0123456789ab");
  const me = (await (await s.call("/api/v1/authentication/me", { token })).json()) as { roles: string[] };
  assert.equal(me.roles, ["Deployer", "Viewer"]);
});

t("demo credentials in development; docs, health, metrics, request id", async ({ s }) => {
  const demo = await s.call("/api/v1/authentication/demo-credentials");
  assert.is(demo.status, 200);
  assert.is(((await demo.json()) as unknown[]).length, 3);
  const doc = (await (await s.call("/openapi.json")).json()) as { openapi: string; paths: Record<string, unknown> };
  assert.is(doc.openapi, "3.1.0");
  assert.ok(doc.paths["/api/v1/authentication/login"]);
  assert.is((await s.call("/swagger")).status, 200);
  const health = await s.call("/health");
  assert.is(health.status, 200);
  const metrics = await (await s.call("/metrics")).text();
  assert.match(metrics, "http_request_duration_seconds");
  const withId = await s.call("/health", { headers: { "x-request-id": "abc-123" } });
  assert.is(withId.headers.get("x-request-id"), "abc-123");
});

t("production mode refuses to start without the master key that guards the signing key, and hides demo credentials", async () => {
  try {
    loadConfig({ APP_MODE: "production", AGENT_JOIN_TOKEN: "j".repeat(20) });
    assert.unreachable("should have thrown");
  } catch (err) {
    assert.instance(err, ConfigError);
    // the signing key is a managed secret: no JWT_SECRET to demand, its master key instead
    assert.match((err as Error).message, "SECRETS_MASTER_KEY");
  }
  const prod = await startTestServer({ APP_MODE: "production", AGENT_JOIN_TOKEN: "j".repeat(20), SECRETS_MASTER_KEY: "a".repeat(64) });
  try {
    assert.is((await prod.call("/api/v1/authentication/demo-credentials")).status, 404);
    assert.is((await prod.call("/api/v1/authentication/login", { method: "POST", json: { username: "admin", password: "Admin123!" } })).status, 401);
  } finally {
    await prod.stop();
  }
});

t("a bad environment variable is named in the error", () => {
  try {
    loadConfig({ PORT: "seventy" });
    assert.unreachable();
  } catch (err) {
    assert.match((err as Error).message, "PORT");
  }
});

t.run();
