import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ManualClock } from "../../src/platform/clock.js";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";
import { goodMetrics, registerAgent, requestUpdate } from "../fleet/helpers.js";

const clock = new ManualClock(Date.now());
const t = suite<{ s: TestServer; viewer: string; nodes: { nodeId: string; token: string }[] }>("cluster queries");
t.before(async (ctx) => {
  ctx.s = await startTestServer({}, { clock });
  ctx.viewer = await ctx.s.login(...DEMO.viewer);
  ctx.nodes = [];
  for (const [i, color] of [[1, "blue"], [2, "green"], [3, "blue"]] as const) {
    const n = await registerAgent(ctx.s, `stg-${i}`, "Staging", { labels: { color, rack: "r1" } });
    ctx.nodes.push(n);
  }
});
t.after(async (ctx) => ctx.s.stop());

const beat = (s: TestServer, n: { nodeId: string; token: string }, metrics = goodMetrics) =>
  s.call(`/api/v1/agents/${n.nodeId}/heartbeat`, { method: "POST", token: n.token, json: { metrics } });

type Summary = { environment: string; strategy: string; nodeCount: number; healthyCount: number; health: string; modules: { moduleName: string; versions: { version: string; nodeCount: number }[] }[] };

t("GET /clusters: one entry per environment with counts, strategy and module versions", async ({ s, viewer, nodes }) => {
  const { assignmentId } = await requestUpdate(s, { nodeId: nodes[0]!.nodeId, moduleName: "net-filter", toVersion: "1.4.0" });
  const r = await s.call(`/api/v1/agents/${nodes[0]!.nodeId}/reports`, { method: "POST", token: nodes[0]!.token, json: { assignmentId, outcome: "succeeded", durationMs: 5 } });
  const { position } = (await r.json()) as { position: number };
  const res = await s.call(`/api/v1/clusters?minPosition=${position}`, { token: viewer });
  assert.is(res.status, 200);
  const list = (await res.json()) as Summary[];
  assert.equal(list.map((c) => c.environment), ["Development", "QA", "Staging", "Production"]);
  assert.equal(list.map((c) => c.strategy), ["Direct", "Rolling", "BlueGreen", "Canary"]);
  const staging = list[2]!;
  assert.is(staging.nodeCount, 3);
  assert.is(staging.healthyCount, 3);
  assert.is(staging.health, "Healthy");
  assert.equal(staging.modules, [{ moduleName: "net-filter", versions: [{ version: "1.4.0", nodeCount: 1 }] }]);
  assert.is(list[0]!.nodeCount, 0);
  assert.is(list[0]!.health, "Empty");
});

t("GET /clusters/{env}: nodes with status, versions, heartbeat, metrics, labels, color; case-insensitive; 404 unknown", async ({ s, viewer, nodes }) => {
  await beat(s, nodes[1]!, { ...goodMetrics, cpu: 55 });
  const res = await s.call("/api/v1/clusters/sTaGiNg", { token: viewer });
  assert.is(res.status, 200);
  const body = (await res.json()) as { environment: string; nodes: { nodeId: string; hostname: string; status: string; color: string; labels: Record<string, string>; lastHeartbeatAt: string | null; metrics: { cpu: number } | null }[] };
  assert.is(body.environment, "Staging");
  assert.equal(body.nodes.map((n) => n.hostname), ["stg-1", "stg-2", "stg-3"]);
  assert.equal(body.nodes.map((n) => n.color), ["blue", "green", "blue"]);
  const two = body.nodes[1]!;
  assert.is(two.status, "Healthy");
  assert.is(two.metrics?.cpu, 55);
  assert.is(two.lastHeartbeatAt, new Date(clock.now()).toISOString());
  assert.is(two.labels.rack, "r1");
  assert.is(body.nodes[2]!.metrics, null);

  const missing = await s.call("/api/v1/clusters/Moon", { token: viewer });
  assert.is(missing.status, 404);
  assert.match(missing.headers.get("content-type") ?? "", "problem+json");
  assert.is((await s.call("/api/v1/clusters/Staging")).status, 401);
});

t("GET /clusters/{env}: nodes come in pages by hostname (?limit, ?cursor=nextCursor); the counts are the whole cluster's", async ({ s, viewer }) => {
  type Page = { nodeCount: number; healthyCount: number; nodes: { hostname: string }[]; nextCursor: string | null };
  const get = async (q: string) => {
    const res = await s.call(`/api/v1/clusters/Staging${q}`, { token: viewer });
    assert.is(res.status, 200, q);
    return (await res.json()) as Page;
  };
  const all = await get("");
  assert.equal(all.nodes.map((n) => n.hostname), ["stg-1", "stg-2", "stg-3"], "a small cluster: every node in the first page");
  assert.is(all.nextCursor, null);
  const first = await get("?limit=2");
  assert.equal(first.nodes.map((n) => n.hostname), ["stg-1", "stg-2"]);
  assert.type(first.nextCursor, "string");
  const second = await get(`?limit=2&cursor=${encodeURIComponent(first.nextCursor!)}`);
  assert.equal(second.nodes.map((n) => n.hostname), ["stg-3"]);
  assert.is(second.nextCursor, null);
  for (const p of [first, second]) assert.equal([p.nodeCount, p.healthyCount], [3, 3]);
  const past = await get(`?limit=2&at=${encodeURIComponent(new Date(clock.now()).toISOString())}`);
  assert.equal(past.nodes.map((n) => n.hostname), ["stg-1", "stg-2"], "time travel pages alike");
  assert.type(past.nextCursor, "string");
  const list = (await (await s.call("/api/v1/clusters", { token: viewer })).json()) as Record<string, unknown>[];
  for (const c of list) assert.not.ok("nodes" in c, "the cluster list carries counts, not nodes");
  for (const q of ["?cursor=bm90LWEtY3Vyc29y", "?cursor=%%%", "?limit=0", "?limit=1001", "?limit=x"]) {
    const bad = await s.call(`/api/v1/clusters/Staging${q}`, { token: viewer });
    assert.is(bad.status, 400, q);
    assert.match(bad.headers.get("content-type") ?? "", "problem+json");
  }
});

t("GET /clusters/{env}?at= answers from the past", async ({ s, viewer }) => {
  const before = new Date(clock.now() - 60_000).toISOString();
  const res = await s.call(`/api/v1/clusters/Staging?at=${encodeURIComponent(before)}`, { token: viewer });
  assert.is(res.status, 200);
  const body = (await res.json()) as { nodes: unknown[]; at: string };
  assert.is(body.nodes.length, 0);
  assert.is(body.at, before);
  const now = (await (await s.call(`/api/v1/clusters/Staging?at=${encodeURIComponent(new Date(clock.now()).toISOString())}`, { token: viewer })).json()) as { nodes: unknown[] };
  assert.is(now.nodes.length, 3);
  assert.is((await s.call(`/api/v1/clusters/Staging?at=yesterday`, { token: viewer })).status, 400);
});

t("GET /clusters/{env}?at= in the future is 400 problem+json naming at, as for deployments", async ({ s, viewer }) => {
  const future = [new Date(clock.now() + 60_000).toISOString(), String(clock.now() + 60_000), "2999-01-01T00:00:00Z"];
  for (const at of future) {
    const res = await s.call(`/api/v1/clusters/Staging?at=${encodeURIComponent(at)}`, { token: viewer });
    assert.is(res.status, 400, at);
    assert.match(res.headers.get("content-type") ?? "", "problem+json");
    const body = (await res.json()) as { status: number; detail: string; errors?: { path: string }[] };
    assert.is(body.status, 400);
    assert.match(body.detail, "future");
    assert.equal(body.errors?.map((e) => e.path), ["query.at"], at);
  }
});

t("GET /clusters/{env}?at= answers only what the log holds: no live metrics or heartbeat presented as the past", async ({ s, viewer, nodes }) => {
  await beat(s, nodes[0]!, { ...goodMetrics, cpu: 77 });
  const live = (await (await s.call("/api/v1/clusters/Staging", { token: viewer })).json()) as { nodes: Record<string, unknown>[] };
  assert.is((live.nodes[0]!.metrics as { cpu: number }).cpu, 77, "the present view has the telemetry");
  const at = new Date(clock.now()).toISOString();
  const res = await s.call(`/api/v1/clusters/Staging?at=${encodeURIComponent(at)}`, { token: viewer });
  assert.is(res.status, 200);
  const past = (await res.json()) as { asOf: string; position: number; nodes: Record<string, unknown>[] };
  assert.is(past.asOf, at);
  assert.type(past.position, "number");
  assert.is(past.nodes.length, 3);
  for (const node of past.nodes) {
    for (const telemetry of ["metrics", "lastHeartbeatAt", "reportedModules"]) assert.not.ok(telemetry in node, `${telemetry} is not in the log`);
    assert.is(node.status, "Healthy", "status is: its changes are events");
  }
});

t("GET /clusters/{env}/metrics: buckets per step with avg/max, p95 latency, error rate, node count", async ({ s, viewer, nodes }) => {
  // start after the earlier tests' heartbeats
  const start = clock.now() + 1;
  // two steps of 10 s: the first with two nodes, the second with one degraded node
  clock.set(start + 1000);
  await beat(s, nodes[0]!, { ...goodMetrics, cpu: 10, latencyP95Ms: 100 });
  await beat(s, nodes[1]!, { ...goodMetrics, cpu: 30, latencyP95Ms: 300 });
  clock.set(start + 12_000);
  await beat(s, nodes[0]!, { ...goodMetrics, errorRate: 0.4, latencyP95Ms: 900 });
  clock.set(start + 30_000);
  const res = await s.call(`/api/v1/clusters/staging/metrics?from=${start}&to=${start + 30_000}&step=10s`, { token: viewer });
  assert.is(res.status, 200, await res.clone().text());
  const body = (await res.json()) as { stepMs: number; points: { nodeCount: number; sampleCount: number; cpu: { avg: number; max: number } | null; latencyP95Ms: { p95: number } | null; errorRate: { max: number } | null }[] };
  assert.is(body.stepMs, 10_000);
  assert.is(body.points.length, 3);
  assert.is(body.points[0]!.nodeCount, 2);
  assert.equal(body.points[0]!.cpu, { avg: 20, max: 30 });
  assert.is(body.points[0]!.latencyP95Ms!.p95, 300);
  assert.is(body.points[1]!.nodeCount, 1);
  assert.is(body.points[1]!.errorRate!.max, 0.4);
  assert.is(body.points[2]!.nodeCount, 0);
  assert.is(body.points[2]!.cpu, null);

  for (const q of ["from=abc", `from=${start}&to=${start - 1}`, "step=fast", `from=${start}&to=${start + 86_400_000}&step=1s`]) {
    const bad = await s.call(`/api/v1/clusters/Staging/metrics?${q}`, { token: viewer });
    assert.ok(bad.status === 400 || bad.status === 422, `${q}: ${bad.status}`);
    assert.match(bad.headers.get("content-type") ?? "", "problem+json");
  }
  assert.is((await s.call(`/api/v1/clusters/Nowhere/metrics`, { token: viewer })).status, 404);
});

t.run();
