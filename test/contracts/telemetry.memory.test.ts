import * as assert from "uvu/assert";
import { RingTelemetry } from "../../src/fleet/telemetry/ring.js";
import { telemetryContract } from "./telemetry.js";

const test = telemetryContract("memory (ring buffers)", async () => {
  const store = new RingTelemetry({ retentionMs: 3_600_000, heartbeatIntervalMs: 5000 });
  return { store, cleanup: () => store.close() };
}, { exactSums: true });

const T0 = Date.parse("2026-06-01T12:00:00.000Z");
const metrics = { cpu: 20, memory: 40, latencyP95Ms: 50, errorRate: 0.001, requestRate: 100 };

test("memory: retention drops old samples, forgets nodes silent that long, keeps the rest", async () => {
  const store = new RingTelemetry({ retentionMs: 60_000, heartbeatIntervalMs: 5000 });
  await store.record({ nodeId: "gone", environment: "QA", at: T0, metrics, modules: null });
  await store.record({ nodeId: "kept", environment: "QA", at: T0, metrics, modules: null });
  await store.record({ nodeId: "kept", environment: "QA", at: T0 + 50_000, metrics, modules: null });
  store.prune(T0 + 60_000);
  assert.is(await store.count("gone"), 0);
  assert.is((await store.liveness(["gone"])).size, 0);
  assert.is(await store.count("kept"), 1);
  assert.is((await store.liveness(["kept"])).get("kept")?.lastSeenAt, T0 + 50_000);
  const [point] = await store.series("QA", T0, T0 + 60_000, 60_000);
  assert.is(point!.sampleCount, 1, "the expired sample is gone from the series too");
  await store.close();
});

test("memory: a heartbeat shared by another instance is recorded (nothing else holds it here)", async () => {
  const store = new RingTelemetry();
  await store.record({ nodeId: "n", environment: "QA", at: T0, metrics, modules: null }, true);
  assert.is(await store.count("n"), 1);
});

test.run();
