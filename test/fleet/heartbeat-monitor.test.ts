import { suite } from "uvu";
import * as assert from "uvu/assert";
import { streams } from "../../src/events/streams.js";
import { ManualClock } from "../../src/platform/clock.js";
import { HeartbeatMonitor } from "../../src/processes/heartbeat-monitor.js";
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

t.run();
