import { suite } from "uvu";
import * as assert from "uvu/assert";
import { streams } from "../../src/events/streams.js";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";

interface Ctx {
  s: TestServer;
  admin: string;
  deployer: string;
  viewer: string;
}
const t = suite<Ctx>("secrets over HTTP");
t.before(async (ctx) => {
  ctx.s = await startTestServer();
  ctx.admin = await ctx.s.login(...DEMO.admin);
  ctx.deployer = await ctx.s.login(...DEMO.deployer);
  ctx.viewer = await ctx.s.login(...DEMO.viewer);
});
t.after(async (ctx) => ctx.s.stop());

type Json = Record<string, unknown>;
const json = async (res: Response) => (await res.json()) as Json;
const paths = (body: Json) => ((body.errors as { path: string }[] | undefined) ?? []).map((e) => e.path);

async function eventCount(s: TestServer, name: string) {
  return (await s.deps.log.readStream(streams.secret(name))).length;
}

async function waitRotation(s: TestServer, token: string, name: string, rotationId: string) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const r = await json(await s.call(`/api/v1/secrets/${name}/rotations/${rotationId}`, { token }));
    if (r.status !== "InProgress") return r;
    if (Date.now() > deadline) throw new Error(`rotation still in progress: ${JSON.stringify(r)}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

t("create, read metadata (no value), read the value (audited), rotate, roll back, destroy", async ({ s, admin }) => {
  const created = await s.call("/api/v1/secrets", { method: "POST", token: admin, json: { name: "db-password", kind: "generic", value: "hunter2-but-longer", policy: { intervalDays: "weekly", overlapSeconds: 600 } } });
  assert.is(created.status, 201, await created.clone().text());
  assert.is(created.headers.get("location"), "/api/v1/secrets/db-password");
  const view = await json(created);
  assert.is(view.currentVersion, 1);
  assert.equal((view.policy as Json).intervalDays, 7);
  assert.not.ok(JSON.stringify(view).includes("hunter2"), "metadata never carries the value");
  assert.ok(typeof view.nextRotationAt === "string");

  const list = await json(await s.call("/api/v1/secrets", { token: admin }));
  const names = (list.items as Json[]).map((i) => i.name);
  assert.ok(names.includes("db-password"));
  assert.not.ok(JSON.stringify(list).includes("hunter2"));

  const value = await s.call("/api/v1/secrets/db-password/value", { token: admin });
  assert.is(value.status, 200);
  assert.is(value.headers.get("cache-control"), "no-store");
  assert.equal(await value.json(), { name: "db-password", version: 1, value: "hunter2-but-longer", position: (await s.deps.log.headPosition()) });
  const reads = (await s.deps.log.readStream(streams.secret("db-password"))).filter((e) => e.type === "SecretValueRead");
  assert.is(reads.length, 1);
  assert.equal(reads[0]!.metadata.actor, { kind: "user", id: "admin" });

  const rotate = await s.call("/api/v1/secrets/db-password/rotate", { method: "POST", token: admin, json: { reason: "test" } });
  assert.is(rotate.status, 202);
  const { rotationId } = (await rotate.json()) as { rotationId: string };
  assert.is(rotate.headers.get("location"), `/api/v1/secrets/db-password/rotations/${rotationId}`);
  const rotation = await waitRotation(s, admin, "db-password", rotationId);
  assert.is(rotation.status, "Completed");
  assert.equal((rotation.steps as Json[]).map((x) => x.step), ["create", "install", "test", "finish"]);
  const after = await json(await s.call("/api/v1/secrets/db-password", { token: admin }));
  assert.equal(after.labels, { current: 2, pending: null, previous: 1 });
  const v2 = await json(await s.call("/api/v1/secrets/db-password/value?version=2", { token: admin }));
  assert.match(String(v2.value), /^[A-Za-z0-9_-]{43}$/);

  const rolled = await s.call("/api/v1/secrets/db-password/rollback", { method: "POST", token: admin });
  assert.is(rolled.status, 200);
  assert.equal((await json(rolled)).labels, { current: 1, pending: null, previous: 2 });

  const destroyed = await s.call("/api/v1/secrets/db-password/versions/2", { method: "DELETE", token: admin });
  assert.is(destroyed.status, 200);
  const dv = await json(destroyed);
  assert.equal(dv.labels, { current: 1, pending: null, previous: null });
  assert.ok((dv.versions as Json[]).find((v) => v.version === 2)!.destroyed);
  const gone = await s.call("/api/v1/secrets/db-password/value?version=2", { token: admin });
  assert.is(gone.status, 409);
  assert.equal(paths(await json(gone)), ["query.version"]);
});

t("bad input: 4xx problem+json naming the field, nothing written", async ({ s, admin }) => {
  await s.call("/api/v1/secrets", { method: "POST", token: admin, json: { name: "api-key", kind: "generic", value: "v1-value" } });
  const cases: [string, RequestInit & { json?: unknown }, number, string][] = [
    ["/api/v1/secrets", { method: "POST", json: { name: "x1", kind: "no-such-kind" } }, 400, "json.kind"],
    ["/api/v1/secrets", { method: "POST", json: { name: "api-key", kind: "generic", value: "again" } }, 409, "json.name"],
    ["/api/v1/secrets", { method: "POST", json: { name: "Bad Name", kind: "generic" } }, 400, "json.name"],
    ["/api/v1/secrets", { method: "POST", json: { name: "x2", kind: "generic", policy: { overlapSeconds: -1 } } }, 400, "json.policy.overlapSeconds"],
    ["/api/v1/secrets", { method: "POST", json: { name: "x3", kind: "generic", policy: { notifyBeforeDays: 3 } } }, 400, "json.policy.notifyBeforeDays"],
    ["/api/v1/secrets", { method: "POST", json: { name: "x4", kind: "generic", extra: 1 } }, 400, "json"],
    ["/api/v1/secrets/api-key/versions/1", { method: "DELETE" }, 409, "path.version"],
    ["/api/v1/secrets/api-key/versions/9", { method: "DELETE" }, 404, "path.version"],
    ["/api/v1/secrets/api-key/policy", { method: "PUT", json: { maxVersions: 1 } }, 400, "json.maxVersions"],
    ["/api/v1/secrets/api-key/rotate", { method: "POST", json: { expectedVersion: 7 } }, 409, "json.expectedVersion"],
    ["/api/v1/secrets/api-key/rollback", { method: "POST" }, 409, "path.name"],
    ["/api/v1/secrets/api-key/value?version=abc", { method: "GET" }, 400, "query.version"],
  ];
  for (const [path, init, status, field] of cases) {
    const before = await s.deps.log.headPosition();
    const res = await s.call(path, { ...init, token: admin });
    assert.is(res.status, status, `${init.method} ${path}: ${await res.clone().text()}`);
    assert.match(res.headers.get("content-type") ?? "", /application\/problem\+json/);
    const body = await json(res);
    assert.ok(paths(body).some((p) => p === field || p.startsWith(`${field}.`)), `${path}: ${JSON.stringify(body)} names ${field}`);
    assert.is(await s.deps.log.headPosition(), before, `${path}: nothing written`);
  }
  assert.is(await eventCount(s, "x1"), 0);
});

t("one rotation at a time: a second rotate while one runs is 409", async ({ s, admin }) => {
  await s.call("/api/v1/secrets", { method: "POST", token: admin, json: { name: "busy", kind: "generic", value: "first" } });
  // a rotation held at its first step by stopping the process first
  await s.deps.secrets.runner.stop();
  try {
    const first = await s.call("/api/v1/secrets/busy/rotate", { method: "POST", token: admin });
    assert.is(first.status, 202);
    const second = await s.call("/api/v1/secrets/busy/rotate", { method: "POST", token: admin });
    assert.is(second.status, 409);
    assert.equal(paths(await json(second)), ["path.name"]);
    const view = await json(await s.call("/api/v1/secrets/busy", { token: admin }));
    assert.is(view.status, "Rotating");
    // rolling back abandons it: current untouched
    const rolled = await json(await s.call("/api/v1/secrets/busy/rollback", { method: "POST", token: admin, json: { reason: "changed my mind" } }));
    assert.is(rolled.status, "Active");
    assert.equal(rolled.labels, { current: 1, pending: null, previous: null });
  } finally {
    // the runner is stopped for good in this server; later tests use secrets of their own
  }
});

t("Viewer and Deployer get 403 on every secrets route; no token 401", async ({ s, viewer, deployer }) => {
  const routes: [string, string][] = [
    ["GET", "/api/v1/secrets"],
    ["POST", "/api/v1/secrets"],
    ["GET", "/api/v1/secrets/api-key"],
    ["PUT", "/api/v1/secrets/api-key/policy"],
    ["POST", "/api/v1/secrets/api-key/rotate"],
    ["GET", "/api/v1/secrets/api-key/rotations/00000000-0000-4000-8000-000000000000"],
    ["POST", "/api/v1/secrets/api-key/rollback"],
    ["GET", "/api/v1/secrets/api-key/value"],
    ["DELETE", "/api/v1/secrets/api-key/versions/1"],
    ["GET", "/api/v1/secrets/api-key/events"],
  ];
  for (const [method, path] of routes) {
    for (const token of [viewer, deployer]) {
      const res = await s.call(path, { method, token, ...(method === "POST" || method === "PUT" ? { json: {} } : {}) });
      assert.is(res.status, 403, `${method} ${path}`);
    }
    assert.is((await s.call(path, { method })).status, 401, `${method} ${path} without a token`);
  }
});

t("the SSE feed carries the secret's events without material", async ({ s, admin }) => {
  await s.call("/api/v1/secrets", { method: "POST", token: admin, json: { name: "feed-me", kind: "generic", value: "plain-text-value" } });
  const controller = new AbortController();
  const res = await s.call("/api/v1/secrets/feed-me/events", { token: admin, signal: controller.signal });
  assert.is(res.status, 200);
  const reader = res.body!.getReader();
  let text = "";
  while (!text.includes("SecretLabelsMoved")) text += new TextDecoder().decode((await reader.read()).value);
  controller.abort();
  assert.ok(text.includes("event: SecretCreated"));
  assert.ok(text.includes("event: SecretVersionAdded"));
  assert.not.ok(text.includes("ciphertext"), "material left out");
  assert.not.ok(text.includes("plain-text-value"));
});

t("/metrics and /health report secrets", async ({ s, admin }) => {
  const metrics = await (await s.call("/metrics")).text();
  assert.match(metrics, /secret_age_seconds\{secret="db-password",kind="generic"\}/);
  assert.match(metrics, /secret_rotations_total\{kind="generic",outcome="completed"\} 1/);
  const health = await json(await s.call("/health", { token: admin }));
  assert.equal(health.secrets, { expired: [], failing: [] });
  const anonymous = await json(await s.call("/health"));
  assert.is(anonymous.secrets, undefined);
});

t.run();
