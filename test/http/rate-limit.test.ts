import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Hono } from "hono";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { classifyRequest, rateLimit, type RateLimitOptions } from "../../src/http/rate-limit.js";
import { ManualClock } from "../../src/platform/clock.js";
import { ConfigError, loadConfig, type RateLimitClass } from "../../src/platform/config.js";
import { MemoryCoordination } from "../../src/platform/coordination/memory.js";
import type { Coordination } from "../../src/platform/coordination/port.js";
import { DEMO, startTestServer } from "../helpers/server.js";

const limits: Record<RateLimitClass, number> = { auth: 2, deployments: 3, approvals: 5, clusters: 5, agents: 100, queries: 6, sse: 2, global: 4 };

function setup(over: Partial<RateLimitOptions> = {}) {
  const clock = new ManualClock();
  const coordination = new MemoryCoordination(clock);
  const blocked: RateLimitClass[] = [];
  const warnings: string[] = [];
  const app = new Hono();
  app.use(
    rateLimit({
      coordination,
      config: { enabled: true, failMode: "open", limitsPerMinute: limits },
      classify: (c) => classifyRequest(c.req.method, c.req.path),
      // tests name the caller in a header; the real app uses the authenticated user or the peer address
      identify: (c) => c.req.header("x-test-user") ?? "ip:127.0.0.1",
      onBlocked: (cls) => blocked.push(cls),
      logger: { warn: (_obj, msg) => warnings.push(msg) },
      clock,
      ...over,
    }),
  );
  app.get("/health", (c) => c.text("ok"));
  app.post("/api/v1/authentication/login", (c) => c.json({ ok: true }));
  app.post("/api/v1/deployments", (c) => c.json({}));
  app.get("/api/v1/other", (c) => c.json({}));
  app.get("/api/v1/raw", () => new Response("raw", { headers: { "x-raw": "1" } }));
  return { app, clock, blocked, warnings };
}

const login = (app: Hono, user = "ip:10.0.0.1") => app.request("/api/v1/authentication/login", { method: "POST", headers: { "x-test-user": user } });

test("allows up to the class limit with RateLimit headers, then 429 problem+json with Retry-After", async () => {
  const { app, blocked } = setup();
  const first = await login(app);
  assert.is(first.status, 200);
  assert.is(first.headers.get("RateLimit-Policy"), "2;w=60");
  assert.is(first.headers.get("RateLimit"), "limit=2, remaining=1, reset=60");
  assert.is(first.headers.get("Retry-After"), null);
  const second = await login(app);
  assert.is(second.headers.get("RateLimit"), "limit=2, remaining=0, reset=60");

  const refused = await login(app);
  assert.is(refused.status, 429);
  assert.is(refused.headers.get("Content-Type"), "application/problem+json");
  assert.is(refused.headers.get("Retry-After"), "60");
  assert.is(refused.headers.get("RateLimit-Policy"), "2;w=60");
  assert.is(refused.headers.get("RateLimit"), "limit=2, remaining=0, reset=60");
  const body = (await refused.json()) as Record<string, unknown>;
  assert.is(body.title, "Too Many Requests");
  assert.is(body.status, 429);
  assert.type(body.type, "string");
  assert.type(body.detail, "string");
  assert.equal(blocked, ["auth"]);
});

test("Retry-After counts down with the sliding window and is at least 1 s", async () => {
  const { app, clock } = setup();
  await login(app);
  clock.advance(30_000);
  await login(app);
  clock.advance(29_500);
  const refused = await login(app);
  assert.is(refused.status, 429);
  assert.is(refused.headers.get("Retry-After"), "1", "500 ms rounds up to one second");
  clock.advance(500); // the first hit leaves the window
  const ok = await login(app);
  assert.is(ok.status, 200);
  assert.is(ok.headers.get("RateLimit"), "limit=2, remaining=0, reset=60");
  const again = await login(app);
  assert.is(again.headers.get("Retry-After"), "30", "the second hit (t=30 s) leaves next");
});

test("identities and classes are counted separately", async () => {
  const { app } = setup();
  await login(app, "user:alice");
  await login(app, "user:alice");
  assert.is((await login(app, "user:alice")).status, 429);
  assert.is((await login(app, "user:bob")).status, 200, "another identity has its own window");
  const other = await app.request("/api/v1/deployments", { method: "POST", headers: { "x-test-user": "user:alice" } });
  assert.is(other.status, 200, "another class has its own window");
  assert.is(other.headers.get("RateLimit-Policy"), "3;w=60");
});

test("exempt paths carry no headers and are never refused", async () => {
  const { app } = setup({ config: { enabled: true, failMode: "open", limitsPerMinute: { ...limits, global: 1 } } });
  for (let i = 0; i < 5; i++) {
    const res = await app.request("/health");
    assert.is(res.status, 200);
    assert.is(res.headers.get("RateLimit"), null);
  }
});

test("headers are added to responses a handler builds itself", async () => {
  const { app } = setup();
  const res = await app.request("/api/v1/raw");
  assert.is(await res.text(), "raw");
  assert.is(res.headers.get("x-raw"), "1");
  assert.is(res.headers.get("RateLimit"), "limit=6, remaining=5, reset=60", "a GET counts as a query");
});

test("disabled: no counting, no headers", async () => {
  const { app } = setup({ config: { enabled: false, failMode: "closed", limitsPerMinute: limits } });
  for (let i = 0; i < 4; i++) assert.is((await login(app)).status, 200);
  assert.is((await login(app)).headers.get("RateLimit"), null);
});

const broken: Coordination = Object.assign(new MemoryCoordination(new ManualClock()), {
  hit: async () => {
    throw new Error("redis down");
  },
});

test("coordination failure, fail-open: the request goes through and the outage is logged once per minute", async () => {
  const { app, clock, warnings } = setup({ coordination: broken });
  assert.is((await login(app)).status, 200);
  assert.is((await login(app)).status, 200);
  assert.is((await login(app)).status, 200);
  assert.is(warnings.length, 1);
  clock.advance(60_000);
  await login(app);
  assert.is(warnings.length, 2);
});

test("coordination failure, fail-closed: 503 problem+json", async () => {
  const { app } = setup({ coordination: broken, config: { enabled: true, failMode: "closed", limitsPerMinute: limits } });
  const res = await login(app);
  assert.is(res.status, 503);
  assert.is(res.headers.get("Content-Type"), "application/problem+json");
  const body = (await res.json()) as Record<string, unknown>;
  assert.is(body.status, 503);
  assert.is((await app.request("/health")).status, 200, "exempt paths do not need the limiter");
});

test("classifyRequest: commands by resource, reads as queries, event streams as sse; login and agents keep theirs", () => {
  const cases: [string, string, RateLimitClass | null][] = [
    ["POST", "/api/v1/authentication/login", "auth"],
    ["POST", "/api/v1/authentication/logout", "auth"],
    ["POST", "/api/v1/authentication/password", "auth"],
    ["GET", "/api/v1/authentication/me", "queries"],
    ["POST", "/api/v1/deployments", "deployments"],
    ["POST", "/api/v1/deployments/abc/rollback", "deployments"],
    ["GET", "/api/v1/deployments", "queries"],
    ["GET", "/api/v1/deployments/abc", "queries"],
    ["HEAD", "/api/v1/deployments/abc", "queries"],
    ["GET", "/api/v1/deployments/abc/history", "queries"],
    ["GET", "/api/v1/deployments/events", "sse"],
    ["GET", "/api/v1/deployments/abc/events", "sse"],
    ["GET", "/api/v1/secrets/db/events", "sse"],
    ["POST", "/api/v1/approvals/deployments/x/approve", "approvals"],
    ["GET", "/api/v1/approvals/pending", "queries"],
    ["POST", "/api/v1/clusters/Production/nodes/n1/reset-credential", "clusters"],
    ["GET", "/api/v1/clusters/Production", "queries"],
    ["GET", "/api/v1/audit-logs", "queries"],
    ["POST", "/api/v1/agents/register", "agents"],
    ["POST", "/api/v1/agents/n1/heartbeat", "agents"],
    ["GET", "/api/v1/agents/n1/desired-state", "agents"],
    ["GET", "/api/v1/agents/n1/desired-state/stream", "sse"],
    ["POST", "/api/v1/agent/register", "agents"],
    ["POST", "/api/v1/users", "global"],
    ["PUT", "/api/v1/users/bob/roles", "global"],
    ["DELETE", "/api/v1/events", "global"],
    ["GET", "/health", null],
    ["GET", "/health/ready", null],
    ["GET", "/metrics", null],
    ["GET", "/openapi.json", null],
    ["GET", "/swagger", null],
    ["GET", "/swagger/index.html", null],
    ["POST", "/healthz", "global"],
    ["GET", "/healthz", "queries"],
    ["GET", "/", "queries"],
  ];
  for (const [method, path, cls] of cases) assert.is(classifyRequest(method, path), cls, `${method} ${path}`);
});

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "korch-ratelimit-"));
  dirs.push(dir);
  return dir;
};
test.after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

test("RATE_LIMITS sets queries and sse like the other classes; production keeps the reference limits for commands", () => {
  const prod = { APP_MODE: "production", JWT_SECRET: "s".repeat(40), AGENT_JOIN_TOKEN: "j".repeat(20), SECRETS_MASTER_KEY: "a".repeat(64) };
  const defaults = loadConfig({ ...prod, DATA_DIR: tempDir() }).rateLimit.limitsPerMinute;
  assert.equal([defaults.auth, defaults.deployments, defaults.approvals, defaults.clusters], [5, 10, 30, 60]);
  assert.ok(defaults.queries >= 60 && defaults.sse >= 10, "reads and stream connects have budgets of their own");
  const set = loadConfig({ ...prod, DATA_DIR: tempDir(), RATE_LIMITS: '{"queries":7,"sse":3}' }).rateLimit.limitsPerMinute;
  assert.is(set.queries, 7);
  assert.is(set.sse, 3);
  assert.is(set.deployments, 10);
  for (const bad of ['{"queries":0}', '{"reads":5}', '{"sse":"many"}']) {
    let error: unknown;
    try {
      loadConfig({ ...prod, DATA_DIR: tempDir(), RATE_LIMITS: bad });
    } catch (err) {
      error = err;
    }
    assert.instance(error, ConfigError, bad);
    assert.match((error as Error).message, "RATE_LIMITS", bad);
  }
});

test("over HTTP: reads of a deployment do not use up the deployments budget; the 11th command is 429; stream connects count as sse", async () => {
  const s = await startTestServer({ RATE_LIMIT_ENABLED: "true", RATE_LIMITS: '{"deployments":10,"sse":2,"queries":50}' });
  try {
    const token = await s.login(...DEMO.deployer);
    const deploy = () =>
      s.call("/api/v1/deployments", {
        method: "POST",
        token,
        json: { moduleName: "ratelimited", version: "1.0.0", targetEnvironment: "Development", requesterEmail: "dev@example.com" },
      });
    const first = await deploy();
    assert.is(first.status, 202);
    const { executionId, position } = (await first.json()) as { executionId: string; position: number };
    for (let i = 1; i <= 11; i++) {
      // read-your-writes: the read model may not have applied the request yet
      const read = await s.call(`/api/v1/deployments/${executionId}?minPosition=${position}`, { token });
      assert.is(read.status, 200, `read ${i}`);
      await read.body?.cancel();
    }
    for (let i = 2; i <= 10; i++) assert.is((await deploy()).status, 202, `command ${i}`);
    const refused = await deploy();
    assert.is(refused.status, 429, "the 11th command");
    assert.ok(Number(refused.headers.get("retry-after")) >= 1);
    assert.match(refused.headers.get("content-type") ?? "", "problem+json");
    assert.match(((await refused.json()) as { detail: string }).detail, "deployments");
    assert.is((await s.call(`/api/v1/deployments/${executionId}`, { token })).status, 200, "reads still served");

    const streams: Response[] = [];
    for (let i = 1; i <= 2; i++) {
      const stream = await s.call(`/api/v1/deployments/${executionId}/events`, { token });
      assert.is(stream.status, 200, `stream ${i}`);
      streams.push(stream);
    }
    const third = await s.call("/api/v1/deployments/events", { token });
    assert.is(third.status, 429, "the third stream connect in a minute");
    assert.match(((await third.json()) as { detail: string }).detail, "sse");
    for (const stream of streams) await stream.body?.cancel();
  } finally {
    await s.stop();
  }
});

test.run();
