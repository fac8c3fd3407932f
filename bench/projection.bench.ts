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
