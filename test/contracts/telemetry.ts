// The behaviour every TelemetryStore adapter must share. Each adapter's test file calls telemetryContract.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Heartbeat, TelemetryStore } from "../../src/fleet/telemetry.js";
import { aggregateSamples, type MetricPoint } from "../../src/fleet/telemetry/aggregate.js";
import type { MetricSample } from "../../src/strategies/health-analysis.js";
import { samplesOf } from "../../src/strategies/sample-runs.js";

export type TelemetryFactory = () => Promise<{ store: TelemetryStore; cleanup(): Promise<void> }>;

const T0 = Date.parse("2026-06-01T12:00:00.000Z");
const metrics = (cpu: number, latencyP95Ms = 50, errorRate = 0.001) => ({ cpu, memory: 40, latencyP95Ms, errorRate, requestRate: 100 });
const beat = (nodeId: string, at: number, m = metrics(20), environment: Heartbeat["environment"] = "QA", modules: Record<string, string> | null = null): Heartbeat => ({
  nodeId,
  environment,
  at,
  metrics: m,
  modules,
});
const sampleOf = (h: Heartbeat): MetricSample => ({ nodeId: h.nodeId, at: h.at, ...h.metrics });

/**
 * Averages as the plain definition takes them may differ from a store that sums in its own order
 * (MongoDB's $sum) in the last bits before rounding, never by more: compared within 1e-9.
 */
function assertSeries(actual: MetricPoint[], expected: MetricPoint[], exact: boolean) {
  if (exact) return assert.equal(actual, expected);
  assert.is(actual.length, expected.length);
  actual.forEach((a, i) => {
    const e = expected[i]!;
    assert.equal({ ...a, cpu: a.cpu?.max, memory: a.memory?.max, errorRate: a.errorRate?.max, latencyP95Ms: a.latencyP95Ms?.p95, requestRate: null }, {
      ...e,
      cpu: e.cpu?.max,
      memory: e.memory?.max,
      errorRate: e.errorRate?.max,
      latencyP95Ms: e.latencyP95Ms?.p95,
      requestRate: null,
    });
    for (const k of ["cpu", "memory", "errorRate", "latencyP95Ms", "requestRate"] as const) {
      const [x, y] = [a[k]?.avg, e[k]?.avg];
      assert.ok(x === y || (x !== undefined && y !== undefined && Math.abs(x - y) <= 1e-9 * Math.max(1, Math.abs(y))), `${k} avg ${x} vs ${y}`);
    }
  });
}

/** `exactSums`: averages equal the plain definition's bit for bit (stores that add in the canonical order). */
export function telemetryContract(name: string, factory: TelemetryFactory, options: { exactSums: boolean }) {
  const test = suite(`TelemetryStore contract: ${name}`);

  async function withStore(fn: (store: TelemetryStore) => Promise<void>): Promise<void> {
    const { store, cleanup } = await factory();
    try {
      await fn(store);
    } finally {
      await cleanup();
    }
  }

  test("a heartbeat is a sample and the node's liveness: last seen, last heartbeat, metrics, reported modules", () =>
    withStore(async (store) => {
      await store.record(beat("n1", T0, metrics(21.5), "QA", { "net-filter": "1.0.0" }));
      await store.record(beat("n1", T0 + 10_000, metrics(30), "QA", { "net-filter": "1.1.0" }));
      const live = (await store.liveness(["n1", "nobody"])).get("n1");
      assert.equal(live, { nodeId: "n1", environment: "QA", lastSeenAt: T0 + 10_000, lastHeartbeatAt: T0 + 10_000, metrics: metrics(30), reportedModules: { "net-filter": "1.1.0" } });
      assert.is((await store.liveness(["nobody"])).size, 0);
      assert.is(await store.count("n1"), 2);
      assert.is(await store.count(), 2);
    }));

  test("a registration is a sign of life that keeps the last heartbeat; an older heartbeat arriving late does not replace a newer one", () =>
    withStore(async (store) => {
      await store.signOfLife("fresh", "Staging", T0);
      assert.equal((await store.liveness(["fresh"])).get("fresh"), { nodeId: "fresh", environment: "Staging", lastSeenAt: T0, lastHeartbeatAt: null, metrics: null, reportedModules: null });
      await store.record(beat("n1", T0 + 5000, metrics(50)));
      await store.signOfLife("n1", "QA", T0 + 9000);
      await store.record(beat("n1", T0 + 1000, metrics(10)));
      const live = (await store.liveness(["n1"])).get("n1")!;
      assert.is(live.lastSeenAt, T0 + 9000);
      assert.is(live.lastHeartbeatAt, T0 + 5000);
      assert.equal(live.metrics, metrics(50));
      assert.is(await store.count("n1"), 2, "the late heartbeat is still a sample");
    }));

  test("silentAmong: the nodes asked about that were not seen after the cutoff, never seen ones too; forget ends a node's liveness", () =>
    withStore(async (store) => {
      await store.record(beat("old", T0));
      await store.record(beat("new", T0 + 60_000));
      await store.signOfLife("registered", "QA", T0 + 30_000);
      const all = ["registered", "never", "new", "old"];
      assert.equal(await store.silentAmong(all, T0 + 10_000), ["never", "old"]);
      assert.equal(await store.silentAmong(all, T0 + 60_000), all);
      assert.equal(await store.silentAmong(["new"], T0 + 10_000), []);
      await store.forget("new");
      assert.equal(await store.silentAmong(all, T0 + 10_000), ["never", "new", "old"]);
      assert.is((await store.liveness(["new"])).size, 0);
    }));

  test("samplesSince: the environment's samples at or after `since`, grouped by node in time order, exactly as recorded", () =>
    withStore(async (store) => {
      const all = [
        beat("b", T0 + 2000, metrics(0.1 + 0.2, 12.345, 0.0123)),
        beat("a", T0 + 3000, metrics(1 / 3)),
        beat("a", T0 + 1000, metrics(99.999)),
        beat("b", T0 + 500, metrics(7)),
        beat("c", T0 + 2500, metrics(5), "Production"),
        beat("a", T0 + 500, metrics(3)),
      ];
      for (const h of all) await store.record(h);
      const runs = await store.samplesSince("QA", T0 + 1000);
      const got = samplesOf(runs);
      const byNode = new Map<string, MetricSample[]>();
      for (const s of got) byNode.set(s.nodeId, [...(byNode.get(s.nodeId) ?? []), s]);
      assert.equal([...byNode.keys()].sort(), ["a", "b"]);
      assert.equal(byNode.get("a"), [sampleOf(all[2]!), sampleOf(all[1]!)]);
      assert.equal(byNode.get("b"), [sampleOf(all[0]!)]);
      // each node's samples together: one run a node
      assert.equal(runs.runs.map((r) => r.nodeId).sort(), ["a", "b"]);
    }));

  test("the same node and instant recorded twice is one sample, the later values", () =>
    withStore(async (store) => {
      await store.record(beat("n1", T0, metrics(10)));
      await store.record(beat("n1", T0, metrics(90)));
      assert.is(await store.count("n1"), 1);
      assert.equal(samplesOf(await store.samplesSince("QA", T0)).map((s) => s.cpu), [90]);
    }));

  test("series: the plain definition (aggregateSamples) over what was recorded, empty steps kept", () =>
    withStore(async (store) => {
      const hs: Heartbeat[] = [];
      for (let i = 0; i < 12; i++) {
        for (const node of ["n1", "n2", "n3"]) {
          if (node === "n3" && i > 4) continue;
          hs.push(beat(node, T0 + i * 5000 + node.charCodeAt(1) * 10, metrics(10 + ((i * 7 + node.charCodeAt(1)) % 80) + 0.1, 20 + ((i * 13) % 97) * 1.5, (i % 5) / 100)));
        }
      }
      hs.push(beat("elsewhere", T0 + 1000, metrics(99), "Production"));
      for (const h of hs) await store.record(h);
      const samples = hs.filter((h) => h.environment === "QA").map(sampleOf);
      for (const [from, to, step] of [
        [T0, T0 + 60_000, 10_000],
        [T0 - 20_000, T0 + 90_000, 7_000],
        [T0 + 12_345, T0 + 30_000, 1_000],
      ] as const) {
        assertSeries(await store.series("QA", from, to, step), aggregateSamples(samples, from, to, step), options.exactSums);
      }
      const quiet = await store.series("Development", T0, T0 + 20_000, 10_000);
      assert.equal(quiet.map((p) => [p.nodeCount, p.sampleCount, p.cpu]), [[0, 0, null], [0, 0, null]]);
    }));

  return test;
}
