// Projection replay throughput into the in-memory ReadStore: 200,000 events over 1,000 streams,
// two read models (one document per stream, and one hot document touched by every event).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { defineEvent } from "../src/events/catalog/define.js";
import { buildCatalog } from "../src/events/catalog/index.js";
import { EventLog } from "../src/events/event-log.js";
import { SqliteEventStore } from "../src/events/store/sqlite.js";
import type { ProjectedDoc, Projection } from "../src/projections/projection.js";
import { ProjectionRunner, replayInto } from "../src/projections/runner.js";
import { MemoryReadStore } from "../src/projections/store/memory.js";
import { emit } from "./emit.js";
import { sized } from "./quick.js";

const EVENTS = sized("BENCH_EVENTS", 200_000, 10_000);
const STREAMS = 1_000;
const PER_APPEND = 50;

const catalog = buildCatalog([defineEvent("Ticked", z.object({ n: z.number().int() }))]);

const perStream: Projection<ProjectedDoc & { ticks: number; sum: number }> = {
  name: "per-stream",
  version: 1,
  collection: "per_stream",
  keys: (e) => [e.streamId],
  apply: (doc, e) => ({ _id: e.streamId, ticks: (doc?.ticks ?? 0) + 1, sum: (doc?.sum ?? 0) + (e.data as { n: number }).n }),
};
const hot: Projection<ProjectedDoc & { sum: number }> = {
  name: "hot",
  version: 1,
  collection: "hot",
  keys: () => ["all"],
  apply: (doc, e) => ({ _id: "all", sum: (doc?.sum ?? 0) + (e.data as { n: number }).n }),
};
const projections = [perStream, hot];

const dir = mkdtempSync(join(tmpdir(), "projection-bench-"));
const events = new SqliteEventStore({ file: join(dir, "events.db"), synchronous: "OFF" });
const log = new EventLog(events, catalog);
try {
  const meta = () => ({ actor: { kind: "system" as const, id: "bench" }, correlationId: "bench", causationId: "bench" });
  for (let i = 0; i < EVENTS / PER_APPEND; i++) {
    const batch = Array.from({ length: PER_APPEND }, (_, j) => ({ type: "Ticked", data: { n: j } }));
    await log.append(`s-${i % STREAMS}`, log.envelope(batch, meta), "any");
  }
  const all = await log.readAll();
  const conditions = { events: all.length, streams: STREAMS, projections: projections.length, store: "memory" };

  for (const batchSize of [1, 500]) {
    const started = performance.now();
    await replayInto(new MemoryReadStore({ ttlIntervalMs: 0 }), all, projections, batchSize);
    const secs = (performance.now() - started) / 1000;
    emit("projection.replayInto", all.length / secs, "events/s", { ...conditions, batchSize, source: "array" });
  }

  for (const batchSize of [1, 500]) {
    const store = new MemoryReadStore({ ttlIntervalMs: 0 });
    const runner = new ProjectionRunner({ log, store, projections, batchSize });
    const started = performance.now();
    await runner.start();
    const secs = (performance.now() - started) / 1000;
    await runner.stop();
    emit("projection.runner.catchUp", all.length / secs, "events/s", { ...conditions, batchSize, source: "sqlite+EventLog" });
  }
} finally {
  await events.close();
  rmSync(dir, { recursive: true, force: true });
}

// The deployments list page (newest first, 21 summaries, a frozen projection, as GET
// /api/v1/deployments?limit=20 reads it) from the memory store, read alone and read with one
// deployment rewritten before each read, as a projection does during a rollout: the store keeps the
// order of a sort it was asked for as documents change, so a write does not make the next page dearer.
{
  const DEPLOYMENTS = sized("BENCH_LIST_DEPLOYMENTS", 10_000, 2_000);
  const READS = sized("BENCH_LIST_READS", 2_000, 500);
  const store = new MemoryReadStore({ ttlIntervalMs: 0 });
  const deployments = store.collection("deployments");
  const projection = Object.freeze({ executionId: 1, moduleName: 1, version: 1, status: 1, progress: 1, "waves.index": 1, "waves.status": 1, createdAt: 1, updatedAt: 1 });
  const doc = (i: number, position: number) => ({
    _id: `d-${(i * 7919) % 1_000_003}`.padEnd(12, "0"),
    executionId: `d-${i}`,
    moduleName: `module-${i % 50}`,
    version: `1.${i % 10}.0`,
    status: position % 3 ? "Running" : "Succeeded",
    progress: position % 101,
    waves: [0, 1, 2].map((index) => ({ index, status: "Pending", nodeIds: [`n-${i}-${index}`] })),
    createdAt: new Date(1_780_000_000_000 + i * 1000).toISOString(),
    updatedAt: new Date(1_780_000_000_000 + position * 1000).toISOString(),
    lastPosition: position,
  });
  let position = 0;
  for (let i = 0; i < DEPLOYMENTS; i++) await deployments.put(doc(i, ++position));
  const list = () => deployments.find({}, { sort: { createdAt: -1, _id: -1 }, limit: 21, projection });
  /** CPU (us) per round, and the wall time (us) of the reads alone per round */
  const rounds = async (write: boolean, read: boolean) => {
    let readWall = 0;
    const cpu0 = process.cpuUsage();
    for (let r = 0; r < READS; r++) {
      if (write) await deployments.put(doc((r * 31) % DEPLOYMENTS, ++position));
      if (read) {
        const t = performance.now();
        await list();
        readWall += performance.now() - t;
      }
    }
    const cpu = process.cpuUsage(cpu0);
    return { cpuUs: (cpu.user + cpu.system) / READS, readUs: (readWall * 1000) / READS };
  };
  await rounds(true, true); // warm: the first rounds measured ran several times slower than the same rounds later
  const before = await rounds(false, true);
  const writesBefore = await rounds(true, false);
  const interleaved = await rounds(true, true);
  const writesAfter = await rounds(true, false);
  const after = await rounds(false, true);
  // reads alone and writes alone measured before and after the interleaved rounds, mean, so a machine
  // getting busier moves both sides (and a collection of the old generation, which lands in one phase
  // or another and moved writes alone between ~10 and ~25 us here, is spread over two)
  const readsAlone = { cpuUs: (before.cpuUs + after.cpuUs) / 2, readUs: (before.readUs + after.readUs) / 2 };
  const writesAlone = { cpuUs: (writesBefore.cpuUs + writesAfter.cpuUs) / 2 };
  emit("projection.memory.deployments_list.interleaved_writes", interleaved.readUs, "us", {
    deployments: DEPLOYMENTS,
    reads: READS,
    meaning: "wall time of one list page read (21 of the newest, frozen projection) when one deployment was rewritten before each read",
    readAloneUs: Number(readsAlone.readUs.toFixed(1)),
    ratioToReadAlone: Number((interleaved.readUs / readsAlone.readUs).toFixed(2)),
    cpuUsPerWriteAndRead: Number(interleaved.cpuUs.toFixed(1)),
    cpuUsPerWriteAlone: Number(writesAlone.cpuUs.toFixed(1)),
    cpuUsPerReadAlone: Number(readsAlone.cpuUs.toFixed(1)),
  });
  await store.close();
}
