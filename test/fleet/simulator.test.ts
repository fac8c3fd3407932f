import { suite } from "uvu";
import * as assert from "uvu/assert";
import { streams } from "../../src/events/streams.js";
import { Simulator } from "../../src/fleet/simulator.js";
import { versionFault } from "../../src/fleet/sim-node.js";
import { mulberry32 } from "../../src/fleet/random.js";
import { HeartbeatMonitor } from "../../src/processes/heartbeat-monitor.js";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";
import { requestUpdate, until } from "./helpers.js";

type Detail = { nodeCount: number; healthyCount: number; nodes: { nodeId: string; hostname: string; color: string; status: string; modules: Record<string, string>; metrics: { errorRate: number; latencyP95Ms: number } | null }[] };

const t = suite<{ s: TestServer; viewer: string }>("simulator");
t.before(async (ctx) => {
  ctx.s = await startTestServer({
    SIMULATOR: "true",
    SIMULATOR_CLUSTER_SIZES: "Development:3,QA:2",
    SIMULATOR_SEED: "7",
    HEARTBEAT_UNHEALTHY_SECONDS: "3",
    HEARTBEAT_OFFLINE_SECONDS: "6",
  });
  ctx.viewer = await ctx.s.login(...DEMO.viewer);
});
t.after(async (ctx) => ctx.s.stop());

const detail = async (s: TestServer, token: string, env: string) => (await (await s.call(`/api/v1/clusters/${env}`, { token })).json()) as Detail;

t("the seeded PRNG is deterministic and the fault convention reads the pre-release", () => {
  const a = mulberry32(42);
  const b = mulberry32(42);
  const xs = [a(), a(), a()];
  assert.equal(xs, [b(), b(), b()]);
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  assert.is(versionFault("2.0.0-faulty.1"), "faulty");
  assert.is(versionFault("2.0.0-broken"), "broken");
  assert.is(versionFault("2.0.0"), null);
  assert.is(versionFault("not-semver"), null);
});

t("simulated clusters register through the protocol and show healthy, with alternating colors and metrics", async ({ s, viewer }) => {
  const clusters = await until("simulated nodes heartbeating", async () => {
    const list = (await (await s.call("/api/v1/clusters", { token: viewer })).json()) as { environment: string; nodeCount: number; healthyCount: number }[];
    const dev = await detail(s, viewer, "Development");
    return list[0]!.nodeCount === 3 && list[1]!.nodeCount === 2 && dev.nodes.every((n) => n.metrics) ? list : undefined;
  });
  assert.equal(clusters.map((c) => [c.environment, c.nodeCount, c.healthyCount]), [["Development", 3, 3], ["QA", 2, 2], ["Staging", 0, 0], ["Production", 0, 0]]);
  const dev = await detail(s, viewer, "Development");
  assert.equal(dev.nodes.map((n) => n.color), ["blue", "green", "blue"]);
  assert.ok(dev.nodes.every((n) => n.metrics!.errorRate < 0.05));
});

t("installs land; a faulty version degrades the node; a broken one fails to install", async ({ s, viewer }) => {
  const [good, faulty, broken] = (await detail(s, viewer, "Development")).nodes;
  await requestUpdate(s, { nodeId: good!.nodeId, moduleName: "net-filter", toVersion: "1.1.0" });
  await requestUpdate(s, { nodeId: faulty!.nodeId, moduleName: "net-filter", toVersion: "2.0.0-faulty.1" });
  await requestUpdate(s, { nodeId: broken!.nodeId, moduleName: "net-filter", toVersion: "2.0.0-broken.1" });
  const last = async (nodeId: string) => (await s.deps.log.readStream(streams.node(nodeId))).at(-1)?.type;
  await until("outcomes reported", async () => (await last(good!.nodeId)) === "ModuleInstalled" && (await last(faulty!.nodeId)) === "ModuleInstalled" && (await last(broken!.nodeId)) === "ModuleInstallFailed");
  const degraded = await until("faulty node degrading", async () => {
    const n = (await detail(s, viewer, "Development")).nodes.find((x) => x.nodeId === faulty!.nodeId)!;
    return n.metrics && n.metrics.errorRate >= 0.2 ? n : undefined;
  });
  assert.equal(degraded.modules, { "net-filter": "2.0.0-faulty.1" });
  const nodes = (await detail(s, viewer, "Development")).nodes;
  assert.ok(nodes.find((x) => x.nodeId === good!.nodeId)!.metrics!.errorRate < 0.05);
  assert.equal(nodes.find((x) => x.nodeId === broken!.nodeId)!.modules, {});
});

t("a stopped agent process leaves its nodes to go Unhealthy, then Offline", async ({ s }) => {
  // a separate simulator speaking real HTTP to the server, like `npm run agent`
  const sim = new Simulator({ baseUrl: s.url, fetch: (r) => fetch(r), joinToken: "development-join-token", clusterSizes: { production: 2 }, seed: 1, hostnamePrefix: "remote-" });
  await sim.start();
  const ids = sim.nodes.map((n) => n.nodeId!);
  await sim.stop();
  const monitor = new HeartbeatMonitor({ log: s.deps.log, readStore: s.deps.readStore, clock: { now: () => Date.now() - 60_000 }, heartbeat: s.deps.config.heartbeat });
  const unhealthy = await monitor.tick(Date.now() + 4000);
  assert.equal(unhealthy.unhealthy.filter((id) => ids.includes(id)).sort(), [...ids].sort());
  const offline = await monitor.tick(Date.now() + 7000);
  assert.equal(offline.offline.filter((id) => ids.includes(id)).sort(), [...ids].sort());
});

t.run();
