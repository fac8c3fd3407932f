import { suite } from "uvu";
import * as assert from "uvu/assert";
import { telemetryOf } from "../../src/fleet/telemetry.js";
import { ManualClock } from "../../src/platform/clock.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { goodMetrics, registerAgent, until } from "../fleet/helpers.js";

// Issue 10, finding 9: one node's token must not be able to exhaust the server.

// real "now", so tokens issued on this clock are not already expired
const clock = new ManualClock(Date.now());
const t = suite<{ s: TestServer }>("per-node limits");
t.before(async (ctx) => {
  ctx.s = await startTestServer({ HEARTBEAT_UNHEALTHY_SECONDS: "6" }, { clock });
});
t.after(async (ctx) => ctx.s.stop());

const heartbeat = (s: TestServer, nodeId: string, token: string) =>
  s.call(`/api/v1/agents/${nodeId}/heartbeat`, { method: "POST", token, json: { metrics: goodMetrics } });
const samplesOf = (s: TestServer, nodeId: string) => telemetryOf(s.deps.readStore).count(nodeId);

async function expect429(res: Response) {
  if (res.status !== 429) await res.body?.cancel(); // an accepted stream would never end
  assert.is(res.status, 429);
  await res.text();
  assert.match(res.headers.get("content-type") ?? "", "application/problem+json");
  assert.ok(Number(res.headers.get("retry-after")) >= 1, `Retry-After: ${res.headers.get("retry-after")}`);
}

t("desired state: at most two open streams per node; a third is 429, and a closed one frees its place", async ({ s }) => {
  const a = await registerAgent(s, "qa-streams");
  const b = await registerAgent(s, "qa-streams-other");
  const open = async (n: { nodeId: string; token: string }) => {
    const controller = new AbortController();
    const res = await s.call(`/api/v1/agents/${n.nodeId}/desired-state/stream`, { token: n.token, signal: controller.signal });
    return { res, close: () => controller.abort() };
  };
  const first = await open(a);
  const second = await open(a);
  assert.is(first.res.status, 200);
  assert.is(second.res.status, 200);
  const third = await open(a);
  await expect429(third.res);
  // a parked long-poll is a watcher too; an immediate answer is not
  await expect429(await s.call(`/api/v1/agents/${a.nodeId}/desired-state?after=999999&waitSeconds=30`, { token: a.token }));
  assert.is((await s.call(`/api/v1/agents/${a.nodeId}/desired-state`, { token: a.token })).status, 200);
  // per node: another node is not affected
  const others = await open(b);
  assert.is(others.res.status, 200);
  others.close();

  first.close();
  const reopened = await until("a closed stream to free its place", async () => {
    const next = await open(a);
    if (next.res.status === 200) return next;
    await next.res.body?.cancel();
    return undefined;
  });
  reopened.close();
  second.close();
});

t("heartbeats: more than one per half interval is 429 with Retry-After and not stored; per node; accepted again after the interval", async ({ s }) => {
  const a = await registerAgent(s, "qa-flood");
  const b = await registerAgent(s, "qa-flood-other");
  const halfMs = Math.floor(Number(a.body.heartbeatIntervalMs) / 2);
  assert.ok(halfMs > 0);

  assert.is((await heartbeat(s, a.nodeId, a.token)).status, 202);
  const flood = await Promise.all(Array.from({ length: 20 }, () => heartbeat(s, a.nodeId, a.token)));
  for (const res of flood) await expect429(res);
  assert.is(await samplesOf(s, a.nodeId), 1, "refused heartbeats are not stored");
  assert.is((await heartbeat(s, b.nodeId, b.token)).status, 202, "another node has its own allowance");

  clock.advance(halfMs - 1);
  await expect429(await heartbeat(s, a.nodeId, a.token));
  clock.advance(1);
  assert.is((await heartbeat(s, a.nodeId, a.token)).status, 202);
  assert.is(await samplesOf(s, a.nodeId), 2);
});

t.run();
