// Event types written by newer code (a rolling upgrade) are skipped by this code's reads and
// subscriptions, counted, and never an error; they still count as history for positions,
// revisions and maxCount.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { z } from "zod";
import { handleCommand } from "../../src/commands/handler.js";
import type { Decider } from "../../src/commands/decider.js";
import { defineEvent } from "../../src/events/catalog/define.js";
import { buildCatalog } from "../../src/events/catalog/index.js";
import type { RecordedEvent } from "../../src/events/envelope.js";
import { EventLog } from "../../src/events/event-log.js";
import { SqliteEventStore } from "../../src/events/store/sqlite.js";
import { WrongExpectedRevisionError } from "../../src/events/store/port.js";
import { newEvent, waitUntil } from "../contracts/event-store.js";

const catalog = buildCatalog([defineEvent("Added", z.object({ n: z.number() }))]);

const test = suite<{ dir: string; store: SqliteEventStore; log: EventLog }>("EventLog: unknown event types");
test.before.each((ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), "unknown-types-"));
  ctx.store = new SqliteEventStore({ file: join(ctx.dir, "events.db"), synchronous: "NORMAL", pollIntervalMs: 10 });
  ctx.log = new EventLog(ctx.store, catalog);
});
test.after.each(async (ctx) => {
  await ctx.store.close();
  rmSync(ctx.dir, { recursive: true, force: true });
});

const added = (n: number) => newEvent("Added", { n });
const future = (n: number) => newEvent("FutureThingHappened", { n, nested: { x: [1, 2] } });
const ns = (events: RecordedEvent[]) => events.map((e) => (e.data as { n: number }).n);

test("a stream read skips unknown types and counts them", async ({ store, log }) => {
  await store.append("s", [added(0), future(1), added(2), future(3)], "no_stream");
  assert.equal(ns(await log.readStream("s")), [0, 2]);
  assert.equal(ns(await log.readAll()), [0, 2]);
  assert.equal(log.unknownTypes().get("FutureThingHappened"), 4, "each skip counted, per read");
});

test("maxCount counts known events: reads go on past unknown ones, both directions and in readAll", async ({ store, log }) => {
  await store.append("s", [added(0), future(1), future(2), added(3), future(4), added(5), future(6)], "no_stream");
  assert.equal(ns(await log.readStream("s", { maxCount: 2 })), [0, 3]);
  assert.equal(ns(await log.readStream("s", { direction: "backwards", maxCount: 1 })), [5]);
  assert.equal(ns(await log.readStream("s", { direction: "backwards", maxCount: 3 })), [5, 3, 0]);
  assert.equal(ns(await log.readStream("s", { fromRevision: 1, maxCount: 1 })), [3]);
  assert.equal(ns(await log.readAll({ maxCount: 2 })), [0, 3]);
  assert.equal(ns(await log.readAll({ after: 4, maxCount: 1 })), [5], "positions are 1-based: added(3) is at 4");
  assert.equal(await log.readAll({ after: 6, maxCount: 1 }), [], "only unknown events ahead: nothing known is ahead");
});

test("a subscription skips unknown types and keeps delivering what follows", async ({ store, log }) => {
  const seen: number[] = [];
  const counted: [string, number][] = [];
  await store.append("s", [future(0)], "no_stream");
  log.observe({ unknownType: (type, n) => counted.push([type, n]) });
  const sub = log.subscribe({}, (e) => {
    seen.push((e.data as { n: number }).n);
  });
  await store.append("s", [added(1), future(2)], 0);
  await store.append("other", [future(3), added(4)], "no_stream");
  await waitUntil(() => seen.length >= 2);
  await sub.stop();
  assert.equal(seen, [1, 4]);
  assert.equal(log.unknownTypes().get("FutureThingHappened"), 3);
  assert.equal(counted, [
    ["FutureThingHappened", 1],
    ["FutureThingHappened", 1],
    ["FutureThingHappened", 1],
  ]);
  // an observer that arrives later first hears the counts so far
  const late: [string, number][] = [];
  log.observe({ unknownType: (type, n) => late.push([type, n]) });
  assert.equal(late, [["FutureThingHappened", 3]]);
});

test("an append expecting the last known revision goes through when only unknown events follow it", async ({ store, log }) => {
  await store.append("s", [added(0), future(1), future(2)], "no_stream");
  const known = await log.readStream("s");
  const r = await log.append("s", [added(3)], known.at(-1)!.revision);
  assert.is(r.nextRevision, 3);
  // a stream holding nothing but unknown events is "no stream" to this code
  await store.append("t", [future(0)], "no_stream");
  assert.is((await log.append("t", [added(1)], "no_stream")).nextRevision, 1);
  // but a known event in between is a real conflict
  await store.append("s", [future(4), added(5)], 3);
  try {
    await log.append("s", [added(6)], 3);
    assert.unreachable("a known event was missed: that must conflict");
  } catch (err) {
    assert.instance(err, WrongExpectedRevisionError);
  }
});

test("a known type at a newer schemaVersion: read by this code's schema when it fits (new fields dropped), else skipped and counted", async ({ store, log }) => {
  await store.append(
    "s",
    [
      newEvent("Added", { n: 1, unit: "items" }, { schemaVersion: 2 }),
      newEvent("Added", { amount: 2 }, { schemaVersion: 3 }),
      added(3),
    ],
    "no_stream",
  );
  const read = await log.readStream("s");
  assert.equal(
    read.map((e) => e.data),
    [{ n: 1 }, { n: 3 }],
  );
  assert.equal([...log.unknownTypes()], [["Added@v3", 1]]);
});

test("odd type names share one label, so skipped events cannot grow metrics without bound", async ({ store, log }) => {
  await store.append("s", [newEvent("has space"), newEvent("__proto__x\n"), newEvent("Fine.Name_1")], "no_stream");
  assert.equal(await log.readStream("s"), []);
  assert.equal([...log.unknownTypes()].sort(), [
    ["Fine.Name_1", 1],
    ["other", 2],
  ]);
});

// A decider that knows only "Added": the command handler folds, decides and appends on a stream
// whose newest events are of a type it does not know.
type State = { total: number };
const counter: Decider<State, { type: "Add"; add: number }, { type: "Added"; data: { n: number } }> = {
  initialState: { total: 0 },
  evolve: (s, e) => ({ total: s.total + e.data.n }),
  decide: (c) => [{ type: "Added", data: { n: c.add } }],
};

test("the command handler decides on the known events and appends after unknown ones", async ({ store, log }) => {
  await store.append("counter-1", [added(2), future(100), future(200)], "no_stream");
  const ctx = { actor: { kind: "system" as const, id: "test" }, correlationId: "c", now: Date.parse("2026-01-01T00:00:00Z") };
  const result = await handleCommand(log, "counter-1", counter, { type: "Add", add: 3 }, ctx);
  assert.equal(result.state, { total: 5 });
  assert.equal(ns(await log.readStream("counter-1")), [2, 3]);
  assert.is((await store.readStream("counter-1")).length, 4, "the unknown events stay in the log");
});

test.run();
