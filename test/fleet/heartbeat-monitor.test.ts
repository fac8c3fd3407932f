import { suite } from "uvu";
import * as assert from "uvu/assert";
import { streams } from "../../src/events/streams.js";
import { ManualClock } from "../../src/platform/clock.js";
import { HeartbeatMonitor, loopWasBlocked, watchedSilence } from "../../src/processes/heartbeat-monitor.js";
import { NODES } from "../../src/projections/nodes.js";
import type { ReadStore } from "../../src/projections/store/port.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { goodMetrics, registerAgent } from "./helpers.js";

// real "now", so tokens issued on this clock are not already expired
const clock = new ManualClock(Date.now());
const t = suite<{ s: TestServer }>("heartbeat monitor");
t.before(async (ctx) => {
  ctx.s = await startTestServer({ HEARTBEAT_UNHEALTHY_SECONDS: "5", HEARTBEAT_OFFLINE_SECONDS: "15" }, { clock });
});
t.after(async (ctx) => ctx.s.stop());

const statusTypes = async (s: TestServer, nodeId: string) =>
  (await s.deps.log.readStream(streams.node(nodeId))).map((e) => e.type).filter((x) => x.startsWith("Node") && x !== "NodeRegistered" && !x.startsWith("NodeCredential"));

async function settle(s: TestServer) {
  await s.deps.projections.waitFor(await s.deps.log.headPosition(), 5000);
}

t("silence makes a node Unhealthy, then Offline; its next heartbeat recovers it; a beating node is left alone", async ({ s }) => {
  const monitor = new HeartbeatMonitor({ log: s.deps.log, readStore: s.deps.readStore, clock, heartbeat: s.deps.config.heartbeat });
  const quiet = await registerAgent(s, "qa-quiet");
  const chatty = await registerAgent(s, "qa-chatty");
  const beat = (n: { nodeId: string; token: string }) => s.call(`/api/v1/agents/${n.nodeId}/heartbeat`, { method: "POST", token: n.token, json: { metrics: goodMetrics } });
  assert.is((await beat(quiet)).status, 202);

  clock.advance(4000);
  await beat(chatty);
  assert.equal(await monitor.tick(), { unhealthy: [], offline: [] });

  clock.advance(1500); // quiet: 5.5 s of silence
  await beat(chatty);
  assert.equal(await monitor.tick(), { unhealthy: [quiet.nodeId], offline: [] });
  await settle(s);
  assert.equal(await monitor.tick(), { unhealthy: [], offline: [] }, "marking is not repeated");
  assert.equal(await statusTypes(s, quiet.nodeId), ["NodeBecameUnhealthy"]);

  clock.advance(10_000); // 15.5 s
  await beat(chatty);
  assert.equal(await monitor.tick(), { unhealthy: [], offline: [quiet.nodeId] });
  await settle(s);
  assert.equal(await monitor.tick(), { unhealthy: [], offline: [] });
  assert.equal(await statusTypes(s, quiet.nodeId), ["NodeBecameUnhealthy", "NodeWentOffline"]);
  assert.equal(await statusTypes(s, chatty.nodeId), []);

  const back = await beat(quiet);
  assert.is(back.status, 202);
  assert.is(((await back.json()) as { status: string }).status, "Healthy");
  assert.equal(await statusTypes(s, quiet.nodeId), ["NodeBecameUnhealthy", "NodeWentOffline", "NodeRecovered"]);
  const recovered = (await s.deps.log.readStream(streams.node(quiet.nodeId))).at(-1)!;
  assert.equal((recovered.data as { previousStatus: string }).previousStatus, "Offline");
  await settle(s);
  const detail = (await (await s.call("/api/v1/clusters/QA", { token: await s.login("viewer", "Viewer123!") })).json()) as { nodes: { nodeId: string; status: string }[] };
  assert.is(detail.nodes.find((n) => n.nodeId === quiet.nodeId)?.status, "Healthy");
});

t("a node silent for the whole offline period is marked Offline directly", async ({ s }) => {
  const monitor = new HeartbeatMonitor({ log: s.deps.log, readStore: s.deps.readStore, clock, heartbeat: s.deps.config.heartbeat });
  const n = await registerAgent(s, "qa-vanished");
  // the monitor walks the nodes read model: the registration must be in it
  await settle(s);
  clock.advance(20_000);
  const r = await monitor.tick();
  assert.ok(r.offline.includes(n.nodeId));
  assert.equal(await statusTypes(s, n.nodeId), ["NodeWentOffline"]);
});

t("watchedSilence is the time since a node was seen less what the monitor could not watch; a timer a second late means a blocked loop", () => {
  assert.is(watchedSilence(100, 1000, []), 900);
  assert.is(watchedSilence(100, 1000, [{ from: -Infinity, to: 400 }]), 600);
  assert.is(watchedSilence(100, 1000, [{ from: 200, to: 300 }, { from: 900, to: 2000 }]), 700);
  assert.is(watchedSilence(500, 1000, [{ from: 0, to: 400 }]), 500, "before the node was seen: nothing to take off");
  assert.ok(!loopWasBlocked(0, 1999, 1000));
  assert.ok(loopWasBlocked(0, 2000, 1000));
});

const beatOf = (s: TestServer) => (n: { nodeId: string; token: string }) => s.call(`/api/v1/agents/${n.nodeId}/heartbeat`, { method: "POST", token: n.token, json: { metrics: goodMetrics } });

t("a stretch the server could not watch (its event loop blocked) is not counted as the nodes' silence", async ({ s }) => {
  const monitor = new HeartbeatMonitor({ log: s.deps.log, readStore: s.deps.readStore, clock, heartbeat: s.deps.config.heartbeat });
  const n = await registerAgent(s, "qa-behind-a-stall");
  assert.is((await beatOf(s)(n)).status, 202);
  await settle(s);
  clock.advance(6000);
  // the last 4 s the loop was blocked: heartbeats sent then wait unread behind the monitor's timer
  monitor.lostSight(clock.now() - 4000);
  assert.not.ok((await monitor.tick()).unhealthy.includes(n.nodeId), "2 s of silence in sight");
  clock.advance(3500);
  assert.ok((await monitor.tick()).unhealthy.includes(n.nodeId), "5.5 s in sight");
});

t("after a tick failed (a store outage, which may have refused heartbeats too) the next good one does not blame nodes for the time since the last good one", async ({ s }) => {
  const monitor = new HeartbeatMonitor({ log: s.deps.log, readStore: s.deps.readStore, clock, heartbeat: s.deps.config.heartbeat });
  const n = await registerAgent(s, "qa-behind-an-outage");
  await settle(s);
  clock.advance(5500);
  assert.is((await beatOf(s)(n)).status, 202);
  assert.not.ok((await monitor.tick()).unhealthy.includes(n.nodeId));
  const store = s.deps.readStore as { collection: ReadStore["collection"] };
  const collection = store.collection;
  store.collection = ((name: string) => {
    if (name === NODES) throw new Error("store down");
    return collection.call(s.deps.readStore, name);
  }) as ReadStore["collection"];
  clock.advance(2000);
  try {
    await monitor.tick().then(
      () => assert.unreachable("the tick read a store that is down"),
      (err: unknown) => assert.match(String(err), "store down"),
    );
  } finally {
    store.collection = collection;
  }
  clock.advance(4000); // 6 s since the node's heartbeat, all of it since the last good tick
  assert.not.ok((await monitor.tick()).unhealthy.includes(n.nodeId));
  clock.advance(5000);
  assert.ok((await monitor.tick()).unhealthy.includes(n.nodeId), "5 s in sight since the store came back");
});

t("the server's own monitor notices its event loop was blocked, and does not mark nodes whose heartbeats waited behind the block", async ({ s }) => {
  const n = await registerAgent(s, "qa-behind-a-blocked-loop");
  assert.is((await beatOf(s)(n)).status, 202);
  await settle(s);
  clock.advance(6000);
  // the loop blocked for 2.5 s (this clock stands still), so the monitor's timer (every second
  // here) comes over a second late, before anything queued meanwhile is read
  const until = performance.now() + 2500;
  while (performance.now() < until);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  assert.equal(await statusTypes(s, n.nodeId), [], "the blocked time is not the node's silence");
  // 6 s more in sight (however late the timer came): the node is silent past the 5 s, and the
  // monitor, still ticking, says so
  clock.advance(6000);
  const deadline = Date.now() + 10_000;
  while ((await statusTypes(s, n.nodeId)).length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(await statusTypes(s, n.nodeId), ["NodeBecameUnhealthy"]);
});

t.run();
