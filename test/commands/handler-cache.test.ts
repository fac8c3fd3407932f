// The command handler keeps the state it last folded per stream, so a command on a long stream
// (a user's logins, a node's years of updates) reads what the stream gained since, not its whole
// history; and whatever it keeps, a command decides on exactly the state a fold of the stream gives.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { z } from "zod";
import { fold, type Decider, type DomainEvent } from "../../src/commands/decider.js";
import { DomainError } from "../../src/commands/errors.js";
import { keptBytes, keptStates, loadAggregate, MAX_KEPT_BYTES, weighOf } from "../../src/commands/aggregate-cache.js";
import { handleCommand, type CommandContext } from "../../src/commands/handler.js";
import { defineEvent } from "../../src/events/catalog/define.js";
import { buildCatalog } from "../../src/events/catalog/index.js";
import { EventLog } from "../../src/events/event-log.js";
import type { ReadStreamOptions } from "../../src/events/store/port.js";
import { SqliteEventStore } from "../../src/events/store/sqlite.js";
import { newEvent } from "../contracts/event-store.js";

const catalog = buildCatalog([defineEvent("Added", z.object({ n: z.number() })), defineEvent("Capped", z.object({ at: z.number() }))]);

interface Tally {
  total: number;
  count: number;
  capped: boolean;
}
type Added = DomainEvent<"Added", { n: number }> | DomainEvent<"Capped", { at: number }>;
type Add = { type: "Add"; n: number; cap?: number };

/** Adds while below the cap; a decision that depends on everything folded before it. */
const tally = (cacheable: boolean): Decider<Tally, Add, Added> => ({
  initialState: { total: 0, count: 0, capped: false },
  evolve: (s, e) => (e.type === "Added" ? { ...s, total: s.total + e.data.n, count: s.count + 1 } : { ...s, capped: true }),
  decide: (c, s) => {
    if (s.capped) throw new DomainError("conflict", "capped");
    if (c.cap !== undefined && s.total + c.n > c.cap) return [{ type: "Capped", data: { at: s.total } }];
    return [{ type: "Added", data: { n: c.n } }];
  },
  ...(cacheable && { cacheable: true as const }),
});
const cached = tally(true);
const uncached = tally(false);

const ctx = (): CommandContext => ({ actor: { kind: "system", id: "test" }, correlationId: "c", now: 0 });

/** the events each stream read returned, counted */
function counting(store: SqliteEventStore): { store: SqliteEventStore; read: () => number } {
  let read = 0;
  const readStream = store.readStream.bind(store);
  store.readStream = async (streamId: string, options?: ReadStreamOptions) => {
    const events = await readStream(streamId, options);
    read += events.length;
    return events;
  };
  return { store, read: () => read };
}

const test = suite<{ dir: string; stores: SqliteEventStore[]; open(): SqliteEventStore }>("command handler: kept states");
test.before.each((ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), "handler-cache-"));
  ctx.stores = [];
  ctx.open = () => {
    const store = new SqliteEventStore({ file: join(ctx.dir, "events.db"), synchronous: "NORMAL", pollIntervalMs: 10 });
    ctx.stores.push(store);
    return store;
  };
});
test.after.each(async (ctx) => {
  for (const s of ctx.stores) await s.close();
  rmSync(ctx.dir, { recursive: true, force: true });
});

test("a command on a long stream reads what the stream gained, not its history", async ({ open }) => {
  const { store, read } = counting(open());
  const log = new EventLog(store, catalog);
  for (let i = 0; i < 300; i++) await handleCommand(log, "tally-1", cached, { type: "Add", n: 1 }, ctx());
  const before = read();
  const r = await handleCommand(log, "tally-1", cached, { type: "Add", n: 1 }, ctx());
  assert.is(r.state.total, 301);
  assert.ok(read() - before <= 1, `read ${read() - before} events for one command`);
  assert.is((await loadAggregate(log, "tally-1", cached)).state.total, 301);
});

test("a decider that does not ask for it is folded from the whole stream every time", async ({ open }) => {
  const { store, read } = counting(open());
  const log = new EventLog(store, catalog);
  for (let i = 0; i < 20; i++) await handleCommand(log, "tally-1", uncached, { type: "Add", n: 1 }, ctx());
  const before = read();
  await handleCommand(log, "tally-1", uncached, { type: "Add", n: 1 }, ctx());
  assert.is(read() - before, 20);
});

test("what another process appended since is folded in before deciding", async ({ open }) => {
  const mine = new EventLog(open(), catalog);
  const theirs = new EventLog(open(), catalog);
  await handleCommand(mine, "tally-1", cached, { type: "Add", n: 5 }, ctx());
  await handleCommand(theirs, "tally-1", cached, { type: "Add", n: 4 }, ctx());
  // mine kept total 5; the stream says 9, so adding 2 passes the cap of 10 and caps instead
  const r = await handleCommand(mine, "tally-1", cached, { type: "Add", n: 2, cap: 10 }, ctx());
  assert.equal(r.events, [{ type: "Capped", data: { at: 9 } }]);
  const refused = await handleCommand(theirs, "tally-1", cached, { type: "Add", n: 1 }, ctx()).catch((err: unknown) => err);
  assert.instance(refused, DomainError, "theirs read the cap mine appended");
});

test("concurrent commands in one process: each decided on the state before it, none lost", async ({ open }) => {
  const log = new EventLog(open(), catalog);
  await Promise.all(Array.from({ length: 12 }, (_, i) => handleCommand(log, "tally-1", cached, { type: "Add", n: i + 1 }, ctx(), { maxAttempts: 20 })));
  const state = (await loadAggregate(log, "tally-1", cached)).state;
  assert.equal(state, { total: 78, count: 12, capped: false });
  assert.equal(state, fold(cached, (await log.readStream("tally-1")) as never[]));
});

test("events of types this code does not know, appended after the kept state, are skipped and written past", async ({ open }) => {
  const store = open();
  const log = new EventLog(store, catalog);
  await handleCommand(log, "tally-1", cached, { type: "Add", n: 1 }, ctx());
  await store.append("tally-1", [newEvent("FromNewerCode", { x: 1 }), newEvent("FromNewerCode", { x: 2 })], 0);
  const r = await handleCommand(log, "tally-1", cached, { type: "Add", n: 1 }, ctx());
  assert.is(r.state.total, 2);
  assert.is((await handleCommand(log, "tally-1", cached, { type: "Add", n: 1 }, ctx())).state.total, 3);
  assert.equal(
    (await store.readStream("tally-1")).map((e) => e.type),
    ["Added", "FromNewerCode", "FromNewerCode", "Added", "Added"],
  );
});

test("a kept state cannot be changed by whoever was handed it", async ({ open }) => {
  const log = new EventLog(open(), catalog);
  const r = await handleCommand(log, "tally-1", cached, { type: "Add", n: 1 }, ctx());
  const loaded = await loadAggregate(log, "tally-1", cached);
  assert.throws(() => {
    (loaded.state as { total: number }).total = 1000;
  });
  assert.is(r.state.total, 1);
  assert.is((await loadAggregate(log, "tally-1", cached)).state.total, 1);
});

test("the states kept are bounded by weight: a fleet's worth of small ones all stay", async ({ open }) => {
  const log = new EventLog(open(), catalog);
  for (let i = 0; i < 2000; i++) await handleCommand(log, `tally-${i}`, cached, { type: "Add", n: 1 }, ctx());
  // the state kept is the one before the command: load once more to keep each after it
  for (let i = 0; i < 2000; i++) await loadAggregate(log, `tally-${i}`, cached);
  assert.is(keptStates(log), 2000);
  assert.ok(keptBytes(log) <= MAX_KEPT_BYTES);
});

/** A state as heavy as its pad: a few of them reach the bound. */
const heavy = (padChars: number): Decider<{ n: number; pad: string }, Add, Added> => ({
  initialState: { n: 0, pad: "" },
  evolve: (s, e) => (e.type === "Added" ? { n: s.n + e.data.n, pad: "x".repeat(padChars) } : s),
  decide: (c) => [{ type: "Added", data: { n: c.n } }],
  cacheable: true,
});

test("heavy states push the oldest out, and those still load right from the log", async ({ open }) => {
  const log = new EventLog(open(), catalog);
  // each a little over a quarter of the bound by weight: three fit, not twelve
  const decider = heavy(MAX_KEPT_BYTES / 8);
  assert.ok(weighOf(fold(decider, [{ type: "Added", data: { n: 1 } }])) >= MAX_KEPT_BYTES / 4);
  for (let i = 0; i < 12; i++) {
    await handleCommand(log, `heavy-${i}`, decider, { type: "Add", n: i }, ctx());
    await loadAggregate(log, `heavy-${i}`, decider);
  }
  assert.ok(keptBytes(log) <= MAX_KEPT_BYTES, `${keptBytes(log)} bytes kept`);
  assert.is(keptStates(log), 3, `${keptStates(log)} kept`);
  assert.is((await loadAggregate(log, "heavy-0", decider)).state.n, 0);
  assert.is((await loadAggregate(log, "heavy-11", decider)).state.n, 11);
  assert.ok(keptBytes(log) <= MAX_KEPT_BYTES);
});

test("a state heavier than the whole bound is not kept, and pushes nothing out", async ({ open }) => {
  const log = new EventLog(open(), catalog);
  await handleCommand(log, "tally-1", cached, { type: "Add", n: 1 }, ctx());
  await loadAggregate(log, "tally-1", cached);
  const before = keptBytes(log);
  const huge = heavy(MAX_KEPT_BYTES);
  await handleCommand(log, "huge", huge, { type: "Add", n: 1 }, ctx());
  assert.is((await loadAggregate(log, "huge", huge)).state.n, 1);
  assert.is(keptStates(log), 1);
  assert.is(keptBytes(log), before);
});

test("weighOf: grows with what a state holds", () => {
  assert.ok(weighOf({ a: "x".repeat(100) }) > weighOf({ a: "x" }));
  assert.ok(weighOf({ a: { b: 1, c: 2 } }) > weighOf({ a: {} }));
  assert.ok(weighOf(new Map([["k", "v".repeat(50)]])) > weighOf(new Map()));
  assert.ok(weighOf([1, 2, 3]) > weighOf([]));
});

test("property: two processes' commands, interleaved at random, decide as a fresh fold of the stream would", async ({ open }) => {
  const logs = [new EventLog(open(), catalog), new EventLog(open(), catalog)];
  let run = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.record({ by: fc.integer({ min: 0, max: 1 }), n: fc.integer({ min: 1, max: 9 }), cap: fc.option(fc.integer({ min: 5, max: 80 }), { nil: undefined }), stream: fc.integer({ min: 0, max: 2 }) }), { minLength: 1, maxLength: 40 }),
      async (commands) => {
        const prefix = `run${run++}-`;
        for (const c of commands) {
          const streamId = `${prefix}${c.stream}`;
          const log = logs[c.by]!;
          const expected = fold(uncached, (await log.readStream(streamId)) as never[]);
          let want: unknown;
          try {
            want = uncached.decide({ type: "Add", n: c.n, cap: c.cap }, expected);
          } catch (err) {
            want = (err as Error).message;
          }
          let got: unknown;
          try {
            got = (await handleCommand(log, streamId, cached, { type: "Add", n: c.n, cap: c.cap }, ctx())).events;
          } catch (err) {
            got = (err as Error).message;
          }
          assert.equal(got, want);
        }
        for (const log of logs) {
          for (let s = 0; s <= 2; s++) {
            const streamId = `${prefix}${s}`;
            assert.equal((await loadAggregate(log, streamId, cached)).state, fold(uncached, (await log.readStream(streamId)) as never[]));
          }
        }
      },
    ),
    { numRuns: 40 },
  );
});

test.run();
