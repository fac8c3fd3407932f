// Time travel (`?at=`) on one SQLite log that grows from 100,000 to 1,000,000 events:
// - cluster time travel (GET /api/v1/clusters/QA?at=) for a 20-node cluster with long node
//   histories, the rest of the log belonging to other streams (other clusters' nodes, deployments);
// - deployment time travel (GET /api/v1/deployments/{id}?at=) on a 100,000-event stream, plain
//   fold versus snapshots (events/snapshots.ts).
// "cold" = the first query with an empty snapshot collection (it stores the snapshots it passes);
// p50/p99 are over later queries at random instants. Events are written raw in batches with
// synchronous NORMAL, so generating the log takes seconds. BENCH_TT_SCALE=0.1 shrinks everything.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deploymentDecider } from "../src/commands/deployment.js";
import { loadDeployment } from "../src/commands/deployments.js";
import { catalog } from "../src/events/catalog/index.js";
import type { NewEvent } from "../src/events/envelope.js";
import { EventLog } from "../src/events/event-log.js";
import { SqliteEventStore } from "../src/events/store/sqlite.js";
import { clusterDetailAt } from "../src/fleet/queries.js";
import { MemoryReadStore } from "../src/projections/store/memory.js";
import { resolveSettings } from "../src/strategies/settings.js";
import { emit } from "./emit.js";
import { sized } from "./quick.js";

const SCALE = sized("BENCH_TT_SCALE", 1, 0.02);
const T0 = Date.parse("2026-01-01T00:00:00.000Z");
const CLUSTER_NODES = 20;
const OTHER_NODES = 200;
const BATCH = 5000;

let seq = 0; // every event gets the next second: occurredAt grows with position
const at = (i: number) => new Date(T0 + i * 1000).toISOString();
const meta = () => ({
  eventId: `00000000-0000-4000-8000-${seq.toString(16).padStart(12, "0")}`,
  occurredAt: at(seq++),
  actor: { kind: "system" as const, id: "bench" },
  correlationId: "bench",
  causationId: "bench",
  schemaVersion: 1,
  tenantId: "default",
});

const dir = mkdtempSync(join(tmpdir(), "tt-bench-"));
const store = new SqliteEventStore({ file: join(dir, "events.db"), synchronous: "NORMAL" });
const log = new EventLog(store, catalog);

async function write(streamId: string, make: () => NewEvent, count: number): Promise<void> {
  for (let done = 0; done < count; done += BATCH) {
    await store.append(streamId, Array.from({ length: Math.min(BATCH, count - done) }, make), "any");
  }
}

const registered = (nodeId: string, environment: string): NewEvent => ({
  type: "NodeRegistered",
  data: { nodeId, environment, hostname: `${nodeId}.example`, capacity: { cpuCores: 4, memoryMb: 8192 }, labels: {}, modules: { kmod: "1.0.0" }, at: at(seq) },
  metadata: meta(),
});
// a node's long history: it flaps and gets modules installed
let flip = 0;
const nodeEvent = (nodeId: string) => (): NewEvent => {
  const t = at(seq);
  const k = flip++ % 3;
  const data =
    k === 0
      ? { nodeId, lastSeenAt: t, reason: "slow heartbeats", at: t }
      : k === 1
        ? { nodeId, previousStatus: "Unhealthy", at: t }
        : { nodeId, moduleName: "kmod", version: `1.0.${flip % 50}`, assignmentId: `a-${seq}`, durationMs: 5, at: t };
  return { type: ["NodeBecameUnhealthy", "NodeRecovered", "ModuleInstalled"][k]!, data, metadata: meta() };
};
const healthCheck = (): NewEvent => ({
  type: "HealthCheckRecorded",
  data: { wave: 0, verdict: { kind: "stable", reason: "ok" }, consecutiveStable: seq % 3, at: at(seq), nextCheckAt: null },
  metadata: meta(),
});

function requested(executionId: string): NewEvent[] {
  const events = deploymentDecider.decide(
    { type: "RequestDeployment", executionId, moduleName: "netfilter-ext", version: "2.0.0", targetEnvironment: "QA", requesterEmail: "b@example.com", requestedBy: "bench", settings: resolveSettings("QA", {}), now: T0 },
    deploymentDecider.initialState,
  );
  return events.map((e) => ({ ...e, metadata: meta() }));
}

/** fills the log up to `total` events: node histories in QA, other nodes, other deployments */
async function grow(total: number, qaNodeEvents: number): Promise<void> {
  const perNode = Math.round(qaNodeEvents / CLUSTER_NODES);
  for (let n = 0; n < CLUSTER_NODES; n++) await write(`node-qa${n}`, nodeEvent(`qa${n}`), perNode);
  let other = 0;
  while (seq < total) {
    const n = Math.min(BATCH, total - seq);
    if (other % 2 === 0) await write(`node-p${other % OTHER_NODES}`, nodeEvent(`p${other % OTHER_NODES}`), n);
    else await write(`deployment-other-${other % 997}`, healthCheck, n);
    other++;
  }
}

const pct = (ms: number[], p: number) => [...ms].sort((a, b) => a - b)[Math.min(ms.length - 1, Math.floor(p * ms.length))]!;
async function time(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

async function clusterFigures(): Promise<void> {
  const readStore = new MemoryReadStore({ ttlIntervalMs: 0 });
  const end = T0 + seq * 1000;
  const cold = await time(() => clusterDetailAt(log, readStore, "QA", end));
  const conditions = { logEvents: seq, clusterNodes: CLUSTER_NODES, store: "sqlite", readStore: "memory", targetMs: 50 };
  emit("timeTravel.cluster.cold", cold, "ms", conditions);
  const ms: number[] = [];
  for (let r = 0; r < 30; r++) {
    const instant = r % 3 === 0 ? end : T0 + Math.floor(Math.random() * seq) * 1000;
    ms.push(await time(() => clusterDetailAt(log, readStore, "QA", instant)));
  }
  emit("timeTravel.cluster.p50", pct(ms, 0.5), "ms", { ...conditions, samples: ms.length });
  emit("timeTravel.cluster.p99", pct(ms, 0.99), "ms", { ...conditions, samples: ms.length });
  const sample = await clusterDetailAt(log, readStore, "QA", end);
  if (sample.nodes.length !== CLUSTER_NODES) throw new Error(`expected ${CLUSTER_NODES} nodes, got ${sample.nodes.length}`);
  await readStore.close();
}

try {
  const small = Math.round(100_000 * SCALE);
  const large = Math.round(1_000_000 * SCALE);
  const longStream = Math.round(100_000 * SCALE);
  const thresholds = { maxCpu: 90, maxMemory: 90, maxLatencyP95Ms: 500, maxErrorRate: 0.05, maxErrorRateIncrease: 0.02, maxLatencyIncreaseRatio: 1.5, minSamplesPerNode: 3 };
  await store.append("cluster-QA", [{ type: "ClusterProvisioned", data: { environment: "QA", strategy: "Rolling", thresholds, at: at(seq) }, metadata: meta() }], "no_stream");
  for (let n = 0; n < CLUSTER_NODES; n++) await store.append(`node-qa${n}`, [registered(`qa${n}`, "QA")], "any");
  for (let n = 0; n < OTHER_NODES; n++) await store.append(`node-p${n}`, [registered(`p${n}`, "Production")], "any");
  // 100,000 events: cluster QA with 20 nodes x 1,500 events, the rest elsewhere
  let started = performance.now();
  await grow(small, Math.round(30_000 * SCALE));
  emit("timeTravel.generate", (performance.now() - started) / 1000, "s", { events: seq });
  await clusterFigures();

  // grow to 1,000,000: node histories to 5,000 events each, a 100,000-event deployment, the rest elsewhere
  started = performance.now();
  await store.append("deployment-long", requested("long"), "no_stream");
  await write("deployment-long", healthCheck, longStream);
  await grow(large, Math.round(70_000 * SCALE));
  emit("timeTravel.generate", (performance.now() - started) / 1000, "s", { events: seq });
  await clusterFigures();

  // deployment time travel on the long stream
  const first = (await log.readStream("deployment-long", { maxCount: 1 }))[0]!;
  const last = (await log.readStream("deployment-long", { direction: "backwards", maxCount: 1 }))[0]!;
  const firstS = Date.parse(first.metadata.occurredAt);
  const lastS = Date.parse(last.metadata.occurredAt);
  const randomInstant = () => new Date(firstS + Math.random() * (lastS - firstS)).toISOString();
  const conditions = { streamEvents: last.revision + 1, logEvents: seq, store: "sqlite", targetMs: 50 };
  const plain: number[] = [];
  for (let r = 0; r < 3; r++) plain.push(await time(() => loadDeployment(log, "long", r === 0 ? last.metadata.occurredAt : randomInstant())));
  emit("timeTravel.deployment.noSnapshots.p50", pct(plain, 0.5), "ms", { ...conditions, samples: plain.length });
  const readStore = new MemoryReadStore({ ttlIntervalMs: 0 });
  emit("timeTravel.deployment.snapshots.cold", await time(() => loadDeployment(log, "long", last.metadata.occurredAt, readStore)), "ms", conditions);
  const snap: number[] = [];
  for (let r = 0; r < 50; r++) snap.push(await time(() => loadDeployment(log, "long", randomInstant(), readStore)));
  emit("timeTravel.deployment.snapshots.p50", pct(snap, 0.5), "ms", { ...conditions, samples: snap.length, every: 500 });
  emit("timeTravel.deployment.snapshots.p99", pct(snap, 0.99), "ms", { ...conditions, samples: snap.length, every: 500 });
} finally {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
