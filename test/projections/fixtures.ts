// A tiny event catalog and two projections over it, shared by the projection runner's tests.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { buildCatalog } from "../../src/events/catalog/index.js";
import { defineEvent } from "../../src/events/catalog/define.js";
import { EventLog } from "../../src/events/event-log.js";
import type { EventStore } from "../../src/events/store/port.js";
import { SqliteEventStore } from "../../src/events/store/sqlite.js";
import type { ProjectedDoc, Projection } from "../../src/projections/projection.js";
import type { ReadStore } from "../../src/projections/store/port.js";

export const catalog = buildCatalog([
  defineEvent("Ticked", z.object({ n: z.number().int() })),
  defineEvent("Cleared", z.object({})),
  defineEvent("Ignored", z.object({})),
]);

export interface Counter extends ProjectedDoc {
  ticks: number;
  sum: number;
}

/** Ticks per stream (each tick adding n * weight to sum); Cleared deletes the stream's document. */
export const counts = (version = 1, weight = 1): Projection<Counter> => ({
  name: "counts",
  version,
  collection: "counts",
  filter: { eventTypes: ["Ticked", "Cleared"] },
  keys: (e) => [e.streamId],
  apply: (doc, e) => {
    if (e.type === "Cleared") return null;
    const n = (e.data as { n: number }).n;
    return { _id: e.streamId, ticks: (doc?.ticks ?? 0) + 1, sum: (doc?.sum ?? 0) + n * weight };
  },
});

/** A second read model: the total over all streams, in one hot document. */
export const totals: Projection<ProjectedDoc & { sum: number }> = {
  name: "totals",
  version: 1,
  collection: "totals",
  filter: { eventTypes: ["Ticked"] },
  keys: () => ["all"],
  apply: (doc, e) => ({ _id: "all", sum: (doc?.sum ?? 0) + (e.data as { n: number }).n }),
};

/** A log over a fresh SQLite file; `wrap` puts a decorator (fault injection) between the log and the store. */
export async function withLog(
  fn: (log: EventLog, store: SqliteEventStore) => Promise<void>,
  wrap: (store: EventStore) => EventStore = (s) => s,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "runner-test-"));
  const store = new SqliteEventStore({ file: join(dir, "events.db"), synchronous: "NORMAL", pollIntervalMs: 20 });
  try {
    await fn(new EventLog(wrap(store), catalog), store);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export type Ev = { stream: string; type: "Ticked" | "Cleared" | "Ignored"; n?: number };

export async function append(log: EventLog, events: Ev[]): Promise<number> {
  let position = 0;
  for (const e of events) {
    const data = e.type === "Ticked" ? { n: e.n ?? 1 } : {};
    const env = log.envelope([{ type: e.type, data }], () => ({
      actor: { kind: "system", id: "test" },
      correlationId: "c",
      causationId: "c",
    }));
    position = (await log.append(e.stream, env, "any")).position;
  }
  return position;
}

export async function dump(store: ReadStore, collection: string) {
  return store.collection(collection).find({}, { sort: { _id: 1 } });
}
