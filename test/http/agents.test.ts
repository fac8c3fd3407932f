import { suite } from "uvu";
import * as assert from "uvu/assert";
import { streams } from "../../src/events/streams.js";
import { telemetryOf } from "../../src/fleet/telemetry.js";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";
import { goodMetrics, registerAgent, requestUpdate } from "../fleet/helpers.js";

const t = suite<{ s: TestServer }>("agent protocol");
t.before(async (ctx) => {
  ctx.s = await startTestServer();
});
t.after(async (ctx) => ctx.s.stop());

const heartbeat = (s: TestServer, nodeId: string, token: string | undefined, body: unknown) =>
  s.call(`/api/v1/agents/${nodeId}/heartbeat`, { method: "POST", token, json: body });
const report = (s: TestServer, nodeId: string, token: string, body: unknown) =>
  s.call(`/api/v1/agents/${nodeId}/reports`, { method: "POST", token, json: body });
const desired = async (s: TestServer, nodeId: string, token: string, query = "") => {
  const res = await s.call(`/api/v1/agents/${nodeId}/desired-state${query}`, { token });
  assert.is(res.status, 200, await res.clone().text());
  return (await res.json()) as { version: string; changed: boolean; assignments: { assignmentId: string; moduleName: string; toVersion: string | null }[] };
};
// credential events are node-identity.test.ts's subject
const nodeEvents = async (s: TestServer, nodeId: string) =>
  (await s.deps.log.readStream(streams.node(nodeId))).map((e) => e.type).filter((type) => !type.startsWith("NodeCredential"));
const sampleCount = (s: TestServer) => telemetryOf(s.deps.readStore).count();

async function expectProblem(res: Response, status: number, detailPattern?: RegExp) {
  const text = await res.text();
  assert.is(res.status, status, text);
  assert.match(res.headers.get("content-type") ?? "", "application/problem+json");
  if (detailPattern) assert.match(text, detailPattern);
}

t("register: join token required, returns node id and a Node token; same hostname again (with the node secret) is the same node", async ({ s }) => {
  const first = await registerAgent(s, "qa-node-01");
  assert.is(first.status, 201);
  assert.ok(first.created);
  assert.match(first.nodeId, /^qa-[0-9a-f]{16}$/);
  assert.ok(Number(first.body.heartbeatIntervalMs) > 0);
  const me = (await (await s.call("/api/v1/authentication/me", { token: first.token })).json()) as { username: string; roles: string[] };
  assert.equal(me, { username: first.nodeId, roles: ["Node"] });

  const nodeSecret = first.body.nodeSecret;
  const again = await registerAgent(s, "QA-NODE-01", "qa", { nodeSecret });
  assert.is(again.status, 200);
  assert.is(again.nodeId, first.nodeId);
  assert.not.ok(again.created);
  assert.equal(await nodeEvents(s, first.nodeId), ["NodeRegistered"]);

  // a changed label is recorded, still the same node
  const relabelled = await registerAgent(s, "qa-node-01", "QA", { labels: { color: "green" }, nodeSecret });
  assert.is(relabelled.nodeId, first.nodeId);
  assert.equal(await nodeEvents(s, first.nodeId), ["NodeRegistered", "NodeDetailsChanged"]);

  // the same hostname in another cluster is another node
  const other = await registerAgent(s, "qa-node-01", "Staging");
  assert.is(other.status, 201);
  assert.is.not(other.nodeId, first.nodeId);
});

t("register: bad join token 401, unknown environment 404, malformed body 400", async ({ s }) => {
  const body = { joinToken: "wrong", environment: "QA", hostname: "h1", capacity: { cpuCores: 1, memoryMb: 512 } };
  await expectProblem(await s.call("/api/v1/agents/register", { method: "POST", json: body }), 401, /join token/);
  await expectProblem(
    await s.call("/api/v1/agents/register", { method: "POST", json: { ...body, joinToken: "development-join-token", environment: "Moon" } }),
    404,
    /Moon/,
  );
  for (const bad of [
    { ...body, joinToken: "development-join-token", hostname: "bad host!" },
    { ...body, joinToken: "development-join-token", capacity: { cpuCores: -1, memoryMb: 512 } },
    { ...body, joinToken: "development-join-token", extra: 1 },
    { environment: "QA", hostname: "h1", capacity: { cpuCores: 1, memoryMb: 512 } },
  ]) {
    await expectProblem(await s.call("/api/v1/agents/register", { method: "POST", json: bad }), 400);
  }
});

t("the Node role can do nothing but be a node", async ({ s }) => {
  const a = await registerAgent(s, "qa-limited");
  assert.is((await s.call("/api/v1/users", { method: "POST", token: a.token, json: { username: "x1", password: "0123456789ab", roles: ["Viewer"] } })).status, 403);
  assert.is((await s.call("/api/v1/clusters", { token: a.token })).status, 403);
  assert.is((await s.call("/api/v1/deployments", { token: a.token })).status, 403);
  // and human roles may not act as a node
  const viewer = await s.login(...DEMO.viewer);
  assert.is((await heartbeat(s, a.nodeId, viewer, { metrics: goodMetrics })).status, 403);
});

t("heartbeat: accepted and stored as telemetry, not as events", async ({ s }) => {
  const a = await registerAgent(s, "qa-beat");
  const before = await sampleCount(s);
  const res = await heartbeat(s, a.nodeId, a.token, { environment: "qa", metrics: goodMetrics, modules: { "net-filter": "1.0.0" } });
  assert.is(res.status, 202);
  assert.equal(((await res.json()) as { status: string }).status, "Healthy");
  assert.is(await sampleCount(s), before + 1);
  assert.equal(await nodeEvents(s, a.nodeId), ["NodeRegistered"]);
});

t("heartbeat: garbage metrics, wrong node, unknown node, wrong cluster are refused and change nothing", async ({ s }) => {
  const a = await registerAgent(s, "qa-garbage");
  const b = await registerAgent(s, "qa-other");
  const before = await sampleCount(s);
  const bad: unknown[] = [
    { metrics: { ...goodMetrics, cpu: -1 } },
    { metrics: { ...goodMetrics, cpu: 100.5 } },
    { metrics: { ...goodMetrics, memory: 250 } },
    { metrics: { ...goodMetrics, errorRate: 1.5 } },
    { metrics: { ...goodMetrics, latencyP95Ms: -3 } },
    { metrics: { ...goodMetrics, requestRate: "lots" } },
    { metrics: { ...goodMetrics, cpu: "NaN" } },
    { metrics: { ...goodMetrics, cpu: null } },
    { metrics: { cpu: 1 } },
    { metrics: { ...goodMetrics, extra: 1 } },
    { metrics: goodMetrics, modules: { "bad name!": "1" } },
    {},
  ];
  for (const body of bad) {
    const res = await heartbeat(s, a.nodeId, a.token, body);
    const text = await res.text();
    assert.is(res.status, 400, `${JSON.stringify(body)} -> ${text}`);
    assert.match(text, /"errors"/);
  }
  // NaN and Infinity cannot be written in JSON: sent raw, they are malformed (NaN) or too large (1e999 -> Infinity)
  for (const raw of [`{"metrics":{"cpu":NaN,"memory":1,"latencyP95Ms":1,"errorRate":0,"requestRate":1}}`, `{"metrics":{"cpu":1e999,"memory":1,"latencyP95Ms":1,"errorRate":0,"requestRate":1}}`]) {
    const res = await s.call(`/api/v1/agents/${a.nodeId}/heartbeat`, { method: "POST", token: a.token, body: raw, headers: { "content-type": "application/json" } });
    await expectProblem(res, 400);
  }
  await expectProblem(await heartbeat(s, a.nodeId, undefined, { metrics: goodMetrics }), 401);
  await expectProblem(await heartbeat(s, a.nodeId, b.token, { metrics: goodMetrics }), 403, /belongs to node/);
  const ghost = "qa-00000000000000ff";
  const { token: ghostToken } = await s.deps.tokens.issue({ sub: ghost, roles: ["Node"] }, Date.now());
  await expectProblem(await heartbeat(s, ghost, ghostToken, { metrics: goodMetrics }), 404, /not found/);
  await expectProblem(await heartbeat(s, "not-a-node-id", a.token, { metrics: goodMetrics }), 400);
  await expectProblem(await heartbeat(s, a.nodeId, a.token, { environment: "Production", metrics: goodMetrics }), 409, /QA cluster/);
  assert.is(await sampleCount(s), before);
  assert.equal(await nodeEvents(s, a.nodeId), ["NodeRegistered"]);
  assert.equal(await s.deps.log.readStream(streams.node(ghost)), []);
});

t("desired state: long-poll answers as soon as an assignment arrives; times out unchanged otherwise", async ({ s }) => {
  const a = await registerAgent(s, "qa-poll");
  const initial = await desired(s, a.nodeId, a.token);
  assert.equal(initial.assignments, []);
  assert.is(initial.version, "0");

  const waiting = desired(s, a.nodeId, a.token, `?after=${initial.version}&waitSeconds=30`);
  await new Promise((r) => setTimeout(r, 100));
  const { assignmentId } = await requestUpdate(s, { nodeId: a.nodeId, moduleName: "net-filter", toVersion: "1.2.0" });
  const changed = await waiting;
  assert.ok(changed.changed);
  assert.is(changed.assignments.length, 1);
  assert.is(changed.assignments[0]!.assignmentId, assignmentId);
  assert.is(changed.assignments[0]!.toVersion, "1.2.0");
  assert.ok(Number(changed.version) > 0);

  const quiet = await desired(s, a.nodeId, a.token, `?after=${changed.version}&waitSeconds=1`);
  assert.not.ok(quiet.changed);
  assert.is(quiet.version, changed.version);
  // an older token answers at once
  assert.ok((await desired(s, a.nodeId, a.token, `?after=0&waitSeconds=30`)).changed);
  await expectProblem(await s.call(`/api/v1/agents/${a.nodeId}/desired-state?after=abc`, { token: a.token }), 400);
  await expectProblem(await s.call(`/api/v1/agents/${a.nodeId}/desired-state?waitSeconds=9999`, { token: a.token }), 400);
});

t("desired state over SSE: the current state, then each change", async ({ s }) => {
  const a = await registerAgent(s, "qa-sse");
  const controller = new AbortController();
  const res = await s.call(`/api/v1/agents/${a.nodeId}/desired-state/stream`, { token: a.token, signal: controller.signal });
  assert.is(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", "text/event-stream");
  const reader = res.body!.getReader();
  let buffer = "";
  const nextEvent = async () => {
    for (;;) {
      const end = buffer.indexOf("\n\n");
      if (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block.split("\n").find((l) => l.startsWith("data:"));
        if (data) return JSON.parse(data.slice(5)) as { version: string; assignments: { toVersion: string }[] };
        continue;
      }
      const { value, done } = await reader.read();
      if (done) throw new Error("stream ended");
      buffer += new TextDecoder().decode(value);
    }
  };
  const first = await nextEvent();
  assert.equal(first.assignments, []);
  await requestUpdate(s, { nodeId: a.nodeId, moduleName: "net-filter", toVersion: "3.0.0" });
  const second = await nextEvent();
  assert.is(second.assignments[0]!.toVersion, "3.0.0");
  controller.abort();
});

t("reports: the current assignment only; success, retry, conflict, stale, unknown, failure, removal", async ({ s }) => {
  const a = await registerAgent(s, "qa-report");
  const b = await registerAgent(s, "qa-report-other");
  const first = await requestUpdate(s, { nodeId: a.nodeId, moduleName: "net-filter", toVersion: "2.0.0" });

  await expectProblem(await report(s, a.nodeId, a.token, { assignmentId: "nope", outcome: "succeeded", durationMs: 10 }), 404, /unknown/);
  await expectProblem(await report(s, a.nodeId, b.token, { assignmentId: first.assignmentId, outcome: "succeeded", durationMs: 10 }), 403);
  await expectProblem(await report(s, b.nodeId, b.token, { assignmentId: first.assignmentId, outcome: "succeeded", durationMs: 10 }), 404);
  await expectProblem(await report(s, a.nodeId, a.token, { assignmentId: first.assignmentId, outcome: "failed", durationMs: 10 }), 400, /error/);
  await expectProblem(await report(s, a.nodeId, a.token, { assignmentId: first.assignmentId, outcome: "succeeded", durationMs: -1 }), 400);
  await expectProblem(await report(s, a.nodeId, a.token, { assignmentId: first.assignmentId, outcome: "maybe", durationMs: 1 }), 400);
  await expectProblem(await report(s, a.nodeId, a.token, { environment: "Staging", assignmentId: first.assignmentId, outcome: "succeeded", durationMs: 1 }), 409);
  assert.equal(await nodeEvents(s, a.nodeId), ["NodeRegistered"]);

  const ok = await report(s, a.nodeId, a.token, { assignmentId: first.assignmentId, outcome: "succeeded", durationMs: 42 });
  assert.is(ok.status, 200);
  const okBody = (await ok.json()) as { recorded: boolean; modules: Record<string, string> };
  assert.ok(okBody.recorded);
  assert.equal(okBody.modules, { "net-filter": "2.0.0" });
  const events = await s.deps.log.readStream(streams.node(a.nodeId));
  assert.equal(events.at(-1)!.type, "ModuleInstalled");
  assert.equal(events.at(-1)!.data, {
    nodeId: a.nodeId,
    moduleName: "net-filter",
    version: "2.0.0",
    assignmentId: first.assignmentId,
    durationMs: 42,
    at: events.at(-1)!.metadata.occurredAt,
  });
  assert.equal(events.at(-1)!.metadata.actor, { kind: "node", id: a.nodeId });

  // the same report again: accepted, nothing new; a contradicting one: 409
  const retry = await report(s, a.nodeId, a.token, { assignmentId: first.assignmentId, outcome: "succeeded", durationMs: 42 });
  assert.is(retry.status, 200);
  assert.not.ok(((await retry.json()) as { recorded: boolean }).recorded);
  await expectProblem(await report(s, a.nodeId, a.token, { assignmentId: first.assignmentId, outcome: "failed", durationMs: 1, error: "x" }), 409, /already reported/);

  // a newer assignment for the module makes the old one stale
  const second = await requestUpdate(s, { nodeId: a.nodeId, moduleName: "net-filter", toVersion: "2.1.0-broken.1", fromVersion: "2.0.0" });
  await expectProblem(await report(s, a.nodeId, a.token, { assignmentId: first.assignmentId, outcome: "succeeded", durationMs: 1 }), 409, /stale/);
  const failed = await report(s, a.nodeId, a.token, { assignmentId: second.assignmentId, outcome: "failed", durationMs: 5, error: "checksum mismatch" });
  assert.is(failed.status, 200);
  const last = (await s.deps.log.readStream(streams.node(a.nodeId))).at(-1)!;
  assert.is(last.type, "ModuleInstallFailed");
  assert.is((last.data as { error: string }).error, "checksum mismatch");

  const removal = await requestUpdate(s, { nodeId: a.nodeId, moduleName: "net-filter", toVersion: null, kind: "remove", fromVersion: "2.0.0" });
  const removed = await report(s, a.nodeId, a.token, { assignmentId: removal.assignmentId, outcome: "succeeded", durationMs: 3 });
  assert.equal(((await removed.json()) as { modules: Record<string, string> }).modules, {});
  assert.is((await nodeEvents(s, a.nodeId)).at(-1), "ModuleRemoved");
});

t("deregister: the node is refused until it registers again", async ({ s }) => {
  const a = await registerAgent(s, "qa-leaving");
  const admin = await s.login(...DEMO.admin);
  const viewer = await s.login(...DEMO.viewer);
  const update = await requestUpdate(s, { nodeId: a.nodeId, moduleName: "net-filter", toVersion: "2.0.0" });
  // the routes have read the node (and keep what they read of it); a heartbeat now would pace the one below
  assert.is((await desired(s, a.nodeId, a.token)).assignments[0]!.assignmentId, update.assignmentId);
  await expectProblem(await report(s, a.nodeId, a.token, { assignmentId: "nope", outcome: "succeeded", durationMs: 1 }), 404, /unknown/);
  await expectProblem(await s.call(`/api/v1/agents/${a.nodeId}`, { method: "DELETE", token: viewer }), 403);
  const res = await s.call(`/api/v1/agents/${a.nodeId}`, { method: "DELETE", token: admin });
  assert.is(res.status, 200);
  await s.deps.projections.waitFor(((await res.json()) as { position: number }).position, 5_000);
  await expectProblem(await heartbeat(s, a.nodeId, a.token, { metrics: goodMetrics }), 409, /deregistered/);
  await expectProblem(await s.call(`/api/v1/agents/${a.nodeId}/desired-state`, { token: a.token }), 409, /deregistered/);
  await expectProblem(await report(s, a.nodeId, a.token, { assignmentId: update.assignmentId, outcome: "succeeded", durationMs: 1 }), 409, /deregistered/);
  const back = await registerAgent(s, "qa-leaving");
  assert.is(back.status, 201);
  assert.is(back.nodeId, a.nodeId);
  assert.is((await heartbeat(s, a.nodeId, back.token, { metrics: goodMetrics })).status, 202);
});

t("the agent routes are in the OpenAPI document", async ({ s }) => {
  const doc = (await (await s.call("/openapi.json")).json()) as { paths: Record<string, unknown> };
  for (const p of ["/api/v1/agents/register", "/api/v1/agents/{nodeId}/heartbeat", "/api/v1/agents/{nodeId}/desired-state", "/api/v1/agents/{nodeId}/reports"]) {
    assert.ok(doc.paths[p], p);
  }
});

t.run();
