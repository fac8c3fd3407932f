import { Hono } from "hono";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { classifyRequest, rateLimit, type RateLimitOptions } from "../../src/http/rate-limit.js";
import { ManualClock } from "../../src/platform/clock.js";
import type { RateLimitClass } from "../../src/platform/config.js";
import { MemoryCoordination } from "../../src/platform/coordination/memory.js";
import type { Coordination } from "../../src/platform/coordination/port.js";

const limits: Record<RateLimitClass, number> = { auth: 2, deployments: 3, approvals: 5, clusters: 5, agents: 100, global: 4 };

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
  app.get("/api/v1/deployments", (c) => c.json([]));
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
  const other = await app.request("/api/v1/deployments", { headers: { "x-test-user": "user:alice" } });
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
  assert.is(res.headers.get("RateLimit"), "limit=4, remaining=3, reset=60");
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

test("classifyRequest maps paths to classes", () => {
  const cases: [string, RateLimitClass | null][] = [
    ["/api/v1/authentication/login", "auth"],
    ["/api/v1/authentication/me", "auth"],
    ["/api/v1/deployments", "deployments"],
    ["/api/v1/deployments/abc/rollback", "deployments"],
    ["/api/v1/approvals/x/approve", "approvals"],
    ["/api/v1/clusters/Production", "clusters"],
    ["/api/v1/agents/n1/heartbeat", "agents"],
    ["/api/v1/agent/register", "agents"],
    ["/health", null],
    ["/health/ready", null],
    ["/metrics", null],
    ["/openapi.json", null],
    ["/swagger", null],
    ["/swagger/index.html", null],
    ["/api/v1/events", "global"],
    ["/healthz", "global"],
    ["/", "global"],
  ];
  for (const [path, cls] of cases) assert.is(classifyRequest("GET", path), cls, path);
});

test.run();
