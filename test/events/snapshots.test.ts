import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { z } from "zod";
import { deploymentDecider } from "../../src/commands/deployment.js";
import { loadDeployment } from "../../src/commands/deployments.js";
import { buildCatalog, catalog } from "../../src/events/catalog/index.js";
import { defineEvent } from "../../src/events/catalog/define.js";
import type { NewEvent, RecordedEvent } from "../../src/events/envelope.js";
import { EventLog } from "../../src/events/event-log.js";
import { loadStream, SNAPSHOT_ENTRIES_PER_EVENT, SNAPSHOTS, snapshotId, type SnapshotDoc, type StreamFold } from "../../src/events/snapshots.js";
import { SqliteEventStore } from "../../src/events/store/sqlite.js";
import { clusterDetailAt } from "../../src/fleet/queries.js";
import { CLUSTERS, clustersProjection, type ClusterDoc } from "../../src/projections/clusters.js";
import { NODES, nodesProjection, type NodeDoc } from "../../src/projections/nodes.js";
import { replayInto } from "../../src/projections/runner.js";
import { MemoryReadStore } from "../../src/projections/store/memory.js";
import { resolveSettings } from "../../src/strategies/settings.js";

const dir = mkdtempSync(join(tmpdir(), "snapshots-test-"));
const store = new SqliteEventStore({ file: join(dir, "events.db"), synchronous: "OFF" });
const T0 = Date.parse("2026-01-01T00:00:00.000Z");
let seq = 0;
const meta = (atMs: number) => ({
  eventId: `00000000-0000-4000-8000-${(seq++).toString(16).padStart(12, "0")}`,
  occurredAt: new Date(atMs).toISOString(),
  actor: { kind: "system" as const, id: "test" },
  correlationId: "t",
  causationId: "t",
  schemaVersion: 1,
  tenantId: "default",
});

// an order-sensitive fold: starting from the wrong state or skipping an event shows in `recent`
const testLog = new EventLog(store, buildCatalog([defineEvent("Added", z.object({ n: z.number() }))]));
const sumFold: StreamFold<{ sum: number; count: number; recent: number[] }> = {
  name: "sum@1",
  initial: { sum: 0, count: 0, recent: [] },
  evolve: (s, e) => {
    const n = (e.data as { n: number }).n;
    return { sum: s.sum + n, count: s.count + 1, recent: [...s.recent.slice(-2), n] };
  },
};
const fullFold = (events: RecordedEvent[]) => events.reduce(sumFold.evolve, sumFold.initial);

let streamNo = 0;
test("property: for any stream and any sequence of instants, snapshot + suffix == full fold", async () => {
  await fc.assert(
    fc.asyncProperty(
      // mostly forward in time, sometimes out of order (occurredAt is the writer's clock)
      fc.array(fc.record({ n: fc.integer({ min: -50, max: 50 }), dt: fc.integer({ min: -4, max: 6 }) }), { maxLength: 40 }),
      // instants around the stream's span, and "now" (undefined), which stores the most snapshots
      fc.array(fc.option(fc.integer({ min: -5, max: 100 }), { nil: undefined, freq: 3 }), { minLength: 1, maxLength: 8 }),
      fc.integer({ min: 2, max: 7 }),
      async (steps, instants, every) => {
        const streamId = `s-${streamNo++}`;
        let t = T0;
        const events: NewEvent[] = steps.map(({ n, dt }) => ({ type: "Added", data: { n }, metadata: meta((t += dt * 1000)) }));
        if (events.length) await store.append(streamId, events, "no_stream");
        const readStore = new MemoryReadStore({ ttlIntervalMs: 0 });
        // one read store across the queries: later ones start from snapshots earlier ones stored
        for (const offset of instants) {
          const untilTime = offset === undefined ? undefined : new Date(T0 + offset * 1000).toISOString();
          const expected = await testLog.readStream(streamId, untilTime ? { untilTime } : undefined);
          const got = await loadStream(testLog, streamId, sumFold, { untilTime, readStore, every });
          assert.equal(got.state, fullFold(expected));
          assert.is(got.position, expected.at(-1)?.position ?? null);
        }
        await readStore.close();
      },
    ),
    { numRuns: 300 },
  );
});

test("reads that fold past `every` events store snapshots, and later reads fold only the rest", async () => {
  const streamId = "s-snapshots-used";
  await store.append(streamId, Array.from({ length: 23 }, (_, i) => ({ type: "Added", data: { n: i }, metadata: meta(T0 + i * 1000) })), "no_stream");
  const readStore = new MemoryReadStore({ ttlIntervalMs: 0 });
  const first = await loadStream(testLog, streamId, sumFold, { readStore, every: 5 });
  assert.is(first.events.length, 23);
  assert.equal((await readStore.collection<SnapshotDoc>(SNAPSHOTS).find({}, { sort: { _id: 1 } })).map((s) => s.revision), [4, 9, 14, 19]);
  const again = await loadStream(testLog, streamId, sumFold, { readStore, every: 5 });
  assert.equal(again.events.map((e) => e.revision), [20, 21, 22]);
  assert.equal(again.state, first.state);
  const past = await loadStream(testLog, streamId, sumFold, { readStore, every: 5, untilTime: new Date(T0 + 12_000).toISOString() });
  assert.equal(past.events.map((e) => e.revision), [10, 11, 12]);
  assert.equal(past.state, fullFold(await testLog.readStream(streamId, { untilTime: new Date(T0 + 12_000).toISOString() })));
});

test("a large state is snapshotted as far apart as it weighs: what snapshots hold stays in proportion to the stream", async () => {
  const streamId = "s-weighted";
  await store.append(streamId, Array.from({ length: 60 }, (_, i) => ({ type: "Added", data: { n: i }, metadata: meta(T0 + i * 1000) })), "no_stream");
  // a state that grows with every event (a deployment's nodes), weighing as many entries as it holds
  const growing: StreamFold<{ items: number[] }> = {
    name: "growing@1",
    initial: { items: [] },
    evolve: (s, e) => ({ items: [...s.items, (e.data as { n: number }).n] }),
    weight: (s) => s.items.length,
  };
  const readStore = new MemoryReadStore({ ttlIntervalMs: 0 });
  const first = await loadStream(testLog, streamId, growing, { readStore, every: 5 });
  const stored = await readStore.collection<SnapshotDoc>(SNAPSHOTS).find({ streamId }, { sort: { _id: 1 } });
  // at least 5 apart, or a quarter of the state's entries: 4, 9, 14, 19, then 25/4 -> 24+7=31, ...
  assert.equal(stored.map((s) => s.revision), [4, 9, 14, 19, 24, 31, 39, 49]);
  const held = stored.reduce((n, s) => n + (s.state as { items: number[] }).items.length, 0);
  assert.ok(held <= SNAPSHOT_ENTRIES_PER_EVENT * 60, `snapshots hold ${held} items for a stream of 60 events`);
  // and they still answer every instant as a full fold does
  for (const sec of [3, 12, 25, 47, 59]) {
    const untilTime = new Date(T0 + sec * 1000).toISOString();
    const got = await loadStream(testLog, streamId, growing, { readStore, every: 5, untilTime });
    assert.equal(got.state, (await testLog.readStream(streamId, { untilTime })).reduce(growing.evolve, growing.initial));
  }
  assert.equal(first.state.items.length, 60);
});

test("a snapshot that does not match the log (log replaced under a kept read store) is dropped, not trusted", async () => {
  const streamId = "s-stale";
  await store.append(streamId, Array.from({ length: 8 }, (_, i) => ({ type: "Added", data: { n: i + 1 }, metadata: meta(T0 + i * 1000) })), "no_stream");
  const readStore = new MemoryReadStore({ ttlIntervalMs: 0 });
  const snapshots = readStore.collection<SnapshotDoc>(SNAPSHOTS);
  await snapshots.put({ _id: snapshotId("sum@1", streamId, 4), fold: "sum@1", streamId, revision: 4, position: 1, occurredAt: new Date(T0).toISOString(), state: { sum: 999, count: 5, recent: [] } });
  const got = await loadStream(testLog, streamId, sumFold, { readStore, every: 100 });
  assert.equal(got.state, fullFold(await testLog.readStream(streamId)));
  assert.is(await snapshots.count({ streamId }), 0);
});

test("loadDeployment with a read store equals the plain fold at every instant, on a stream longer than the snapshot interval", async () => {
  const log = new EventLog(store, catalog);
  const executionId = "long-deployment";
  const requested = deploymentDecider.decide(
    { type: "RequestDeployment", executionId, moduleName: "netfilter-ext", version: "2.0.0", targetEnvironment: "QA", requesterEmail: "t@example.com", requestedBy: "t", settings: resolveSettings("QA", {}), now: T0 },
    deploymentDecider.initialState,
  );
  await store.append(`deployment-${executionId}`, requested.map((e, i) => ({ ...e, metadata: meta(T0 + i) })), "no_stream");
  const checks = Array.from({ length: 1300 }, (_, i) => ({
    type: "HealthCheckRecorded",
    data: { wave: 0, verdict: { kind: "stable", reason: `ok ${i}` }, consecutiveStable: i % 3, at: new Date(T0 + (i + 1) * 1000).toISOString(), nextCheckAt: null },
    metadata: meta(T0 + (i + 1) * 1000),
  }));
  await store.append(`deployment-${executionId}`, checks, "any");
  const readStore = new MemoryReadStore({ ttlIntervalMs: 0 });
  for (const s of [1300, 700, 1300, 3, 1000, 499, 501, 0]) {
    const at = new Date(T0 + s * 1000).toISOString();
    const plain = await loadDeployment(log, executionId, at);
    const snap = await loadDeployment(log, executionId, at, readStore);
    assert.equal(snap.state, JSON.parse(JSON.stringify(plain.state)), `at +${s}s`);
    assert.is(snap.position, plain.position);
  }
  assert.ok((await readStore.collection(SNAPSHOTS).count()) >= 2);
});

// Cluster time travel reads only the cluster's stream and its nodes' streams; the reference is
// the old way: every node and cluster event up to the instant replayed into a scratch store.
let fleetNo = 0;
test("property: cluster time travel from its own streams equals a replay of the whole fleet log", async () => {
  const envs = ["QA", "Staging"] as const;
  const nodeStep = fc.record({
    kind: fc.constantFrom("register", "register", "deregister", "unhealthy", "recover", "install"),
    node: fc.integer({ min: 0, max: 4 }),
    env: fc.constantFrom(...envs),
    version: fc.constantFrom("1.0.0", "2.0.0"),
    dt: fc.integer({ min: -2, max: 5 }),
  });
  await fc.assert(
    fc.asyncProperty(fc.array(nodeStep, { maxLength: 30 }), fc.array(fc.integer({ min: -2, max: 120 }), { minLength: 1, maxLength: 4 }), async (steps, instants) => {
      const fleet = `f${fleetNo++}`;
      const log = new EventLog(store, catalog);
      const thresholds = { maxCpu: 90, maxMemory: 90, maxLatencyP95Ms: 500, maxErrorRate: 0.05, maxErrorRateIncrease: 0.02, maxLatencyIncreaseRatio: 1.5, minSamplesPerNode: 1 };
      let t = T0;
      const iso = () => new Date(t).toISOString();
      const written: RecordedEvent[] = [];
      const write = async (streamId: string, type: string, data: Record<string, unknown>) => {
        const [e] = log.envelope([{ type, data }], [{ ...meta(t), actor: { kind: "system", id: "t" } }]);
        const r = await log.append(streamId, [e!], "any");
        written.push({ ...e!, streamId, revision: r.nextRevision, position: r.position });
      };
      // node ids are per run; the clusters are shared by all runs, and both sides see all of them
      await write(`cluster-QA`, "ClusterProvisioned", { environment: "QA", strategy: "Rolling", thresholds, at: iso() });
      for (const st of steps) {
        t += st.dt * 1000;
        const nodeId = `${fleet}-n${st.node}`;
        const d = { nodeId, at: iso() };
        if (st.kind === "register") await write(`node-${nodeId}`, "NodeRegistered", { ...d, environment: st.env, hostname: `h${st.node}`, capacity: { cpuCores: 2, memoryMb: 1024 }, labels: {}, modules: {} });
        else if (st.kind === "deregister") await write(`node-${nodeId}`, "NodeDeregistered", { ...d, reason: "gone" });
        else if (st.kind === "unhealthy") await write(`node-${nodeId}`, "NodeBecameUnhealthy", { ...d, lastSeenAt: iso(), reason: "slow" });
        else if (st.kind === "recover") await write(`node-${nodeId}`, "NodeRecovered", { ...d, previousStatus: "Unhealthy" });
        else await write(`node-${nodeId}`, "ModuleInstalled", { ...d, moduleName: "kmod", version: st.version, assignmentId: `${nodeId}-${t}`, durationMs: 1 });
      }
      const readStore = new MemoryReadStore({ ttlIntervalMs: 0 });
      for (const offset of instants) {
        const at = T0 + offset * 1000;
        for (const env of envs) {
          const got = await clusterDetailAt(log, readStore, env, at);
          const scratch = new MemoryReadStore({ ttlIntervalMs: 0 });
          const everything = await log.readAll({ filter: { streamPrefixes: ["node-", `cluster-`] } });
          await replayInto(scratch, everything.filter((e) => Date.parse(e.metadata.occurredAt) <= at), [nodesProjection, clustersProjection]);
          const want = (await scratch.collection<NodeDoc>(NODES).find({ environment: env }, { sort: { hostname: 1, _id: 1 } })).filter((n) => n.nodeId.startsWith(`${fleet}-`));
          const mine = got.nodes.filter((n) => n.nodeId.startsWith(`${fleet}-`));
          assert.equal(
            mine.map((n) => [n.nodeId, n.status, n.statusSince, n.modules]),
            want.map((n) => [n.nodeId, n.status, n.statusSince, n.modules]),
            `${env} at +${offset}s`,
          );
          const cluster = await scratch.collection<ClusterDoc>(CLUSTERS).get(env);
          assert.is(got.strategy, cluster?.strategy ?? null);
        }
      }
    }),
    { numRuns: 60 },
  );
});

test.after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

test.run();
