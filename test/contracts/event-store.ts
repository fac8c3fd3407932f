// The EventStore contract: every adapter runs this same suite. Each test gets a fresh store from
// the factory and uses stream names and event types unique to the run, so the suite also works
// against a shared server that already holds other events.
import { randomUUID } from "node:crypto";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { z } from "zod";
import { buildCatalog } from "../../src/events/catalog/index.js";
import { defineEvent } from "../../src/events/catalog/define.js";
import { EventMetadataSchema, type EventMetadata, type NewEvent, type RecordedEvent } from "../../src/events/envelope.js";
import { EventLog } from "../../src/events/event-log.js";
import { WrongExpectedRevisionError, type AppendResult, type EventStore, type ExpectedRevision } from "../../src/events/store/port.js";
import { FaultPlan, faultyEventStore } from "../helpers/faults.js";

export interface EventStoreFixture {
  store: EventStore;
  /** closes the store and opens a new one on the same data */
  reopen?: () => Promise<EventStore>;
  cleanup: () => Promise<void>;
}

/** A valid envelope with a fresh event id; `metadata` overrides any field. */
export function newEvent(type: string, data: Record<string, unknown> = {}, metadata: Partial<EventMetadata> = {}): NewEvent {
  return {
    type,
    data,
    metadata: EventMetadataSchema.parse({
      eventId: randomUUID(),
      occurredAt: new Date().toISOString(),
      actor: { kind: "system", id: "contract-test" },
      correlationId: "contract-test",
      causationId: "contract-test",
      schemaVersion: 1,
      tenantId: "default",
      ...metadata,
    }),
  };
}

/** A name no other test or run uses. */
export function unique(prefix: string): string {
  return `${prefix}${randomUUID().slice(0, 8)}-`;
}

export async function waitUntil(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function expectConflict(p: Promise<unknown>, actual: number | "no_stream"): Promise<WrongExpectedRevisionError> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, WrongExpectedRevisionError);
    const e = err as WrongExpectedRevisionError;
    assert.is(e.actual, actual, "actual revision in the conflict");
    return e;
  }
  throw new Error("expected a WrongExpectedRevisionError, but the append succeeded");
}

const revisions = (events: RecordedEvent[]) => events.map((e) => e.revision);
const positions = (events: RecordedEvent[]) => events.map((e) => e.position);

function assertIncreasing(values: number[], what: string): void {
  for (let i = 1; i < values.length; i++) assert.ok(values[i]! > values[i - 1]!, `${what} must increase: ${values.join(",")}`);
}

/** A catalog whose one type is at version 2, so version-1 events must be upcast on read. */
const upcastCatalog = buildCatalog([
  defineEvent("ContractWidgetRenamed", z.object({ name: z.string(), label: z.string() }), {
    version: 2,
    upcasters: [(d) => ({ ...d, label: `label of ${String(d.name)}` })],
  }),
]);

export function eventStoreContract(name: string, factory: () => Promise<EventStoreFixture>) {
  const test = suite<{ fx: EventStoreFixture; store: EventStore }>(`EventStore contract: ${name}`);

  test.before.each(async (ctx) => {
    ctx.fx = await factory();
    ctx.store = ctx.fx.store;
  });
  test.after.each(async (ctx) => {
    await ctx.fx.cleanup();
  });

  test("no_stream: creates a stream, refuses an existing one", async ({ store }) => {
    const s = unique("contract-");
    const r = await store.append(s, [newEvent("Happened"), newEvent("Happened")], "no_stream");
    assert.is(r.nextRevision, 1);
    assert.ok(r.position > 0);
    const read = await store.readStream(s);
    assert.is(read.at(-1)?.position, r.position, "the result's position is the last event's");
    const e = await expectConflict(store.append(s, [newEvent("Happened")], "no_stream"), 1);
    assert.is(e.expected, "no_stream");
    assert.is(e.streamId, s);
    assert.is((await store.readStream(s)).length, 2);
  });

  test("stream_exists: refuses a missing stream, appends to an existing one", async ({ store }) => {
    const s = unique("contract-");
    await expectConflict(store.append(s, [newEvent("Happened")], "stream_exists"), "no_stream");
    assert.equal(await store.readStream(s), []);
    await store.append(s, [newEvent("Happened")], "no_stream");
    const r = await store.append(s, [newEvent("Happened")], "stream_exists");
    assert.is(r.nextRevision, 1);
  });

  test("any: appends whatever the stream looks like", async ({ store }) => {
    const s = unique("contract-");
    assert.is((await store.append(s, [newEvent("Happened")], "any")).nextRevision, 0);
    assert.is((await store.append(s, [newEvent("Happened"), newEvent("Happened")], "any")).nextRevision, 2);
  });

  test("exact revision: appends only on the expected last revision", async ({ store }) => {
    const s = unique("contract-");
    await expectConflict(store.append(s, [newEvent("Happened")], 0), "no_stream");
    await store.append(s, [newEvent("Happened")], "no_stream");
    assert.is((await store.append(s, [newEvent("Happened")], 0)).nextRevision, 1);
    const e = await expectConflict(store.append(s, [newEvent("Happened")], 0), 1);
    assert.is(e.expected, 0);
    await expectConflict(store.append(s, [newEvent("Happened")], 5), 1);
    assert.equal(revisions(await store.readStream(s)), [0, 1]);
  });

  test("concurrent appenders on one stream: exactly one wins", async ({ store }) => {
    const s = unique("contract-");
    await store.append(s, [newEvent("Created")], "no_stream");
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => store.append(s, [newEvent("Raced", { writer: i })], 0)),
    );
    const won = results.filter((r) => r.status === "fulfilled");
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    assert.is(won.length, 1);
    for (const l of lost) assert.instance(l.reason, WrongExpectedRevisionError);
    assert.equal(revisions(await store.readStream(s)), [0, 1]);
  });

  // Adapters may commit concurrent appends together (group commit); from outside, each append
  // must still look as if it had run alone, in some order.
  test("many concurrent appends: each caller gets exactly its own result, conflicts stay per stream", async ({ store }) => {
    const p = unique("contract-group-");
    const head0 = await store.headPosition();
    const contested = `${p}contested`;
    await store.append(contested, [newEvent("Created")], "no_stream");
    const retried = [newEvent("Retried", { n: 1 }), newEvent("Retried", { n: 2 })];

    type Call = { stream: string; events: NewEvent[]; expected: ExpectedRevision; kind: "own" | "race" | "stale" | "retry" };
    const calls: Call[] = [];
    for (let i = 0; i < 40; i++) {
      // different streams, batches of 1-3 events, every expected-revision form
      const events = Array.from({ length: 1 + (i % 3) }, (_, k) => newEvent("Grouped", { i, k }));
      calls.push({ stream: `${p}own-${i}`, events, expected: i % 2 ? "no_stream" : "any", kind: "own" });
      // eight racers on one stream: exactly one may win
      if (i % 5 === 0) calls.push({ stream: contested, events: [newEvent("Raced", { i })], expected: 0, kind: "race" });
      // an append that must fail on its own stream, between others that must not
      if (i % 10 === 3) calls.push({ stream: `${p}own-${i}`, events: [newEvent("Stale")], expected: 7, kind: "stale" });
    }
    // the same batch twice at once: one writes it, the other is answered as a retry
    calls.push({ stream: `${p}retried`, events: retried, expected: "no_stream", kind: "retry" });
    calls.push({ stream: `${p}retried`, events: retried, expected: "no_stream", kind: "retry" });

    const settled = await Promise.allSettled(calls.map((c) => store.append(c.stream, c.events, c.expected)));

    const raceWins = settled.filter((r, i) => calls[i]!.kind === "race" && r.status === "fulfilled");
    assert.is(raceWins.length, 1, "exactly one racer wins");
    const all = await store.readAll({ after: head0, filter: { streamPrefixes: [p] } });
    const byId = new Map(all.map((e) => [e.metadata.eventId, e]));
    settled.forEach((r, i) => {
      const c = calls[i]!;
      if (c.kind === "own" || c.kind === "retry") {
        assert.is(r.status, "fulfilled", `${c.kind} append ${i} succeeds`);
        const result = (r as PromiseFulfilledResult<AppendResult>).value;
        const mine = c.events.map((e) => byId.get(e.metadata.eventId));
        assert.ok(mine.every((e) => e?.streamId === c.stream), `append ${i}: its events are in its stream`);
        // the answer is about this caller's events, not a neighbour's in the same commit
        assert.is(result.position, mine.at(-1)!.position, `append ${i}: position of its own last event`);
        assert.is(result.nextRevision, mine.at(-1)!.revision, `append ${i}: revision of its own last event`);
        assert.equal(revisions(mine as RecordedEvent[]), c.events.map((_, k) => result.nextRevision - (c.events.length - 1) + k));
      } else if (r.status === "rejected") {
        assert.instance(r.reason, WrongExpectedRevisionError, `append ${i} fails with the typed conflict`);
        assert.is((r.reason as WrongExpectedRevisionError).streamId, c.stream);
        assert.ok(c.events.every((e) => !byId.has(e.metadata.eventId)), `append ${i}: nothing of a refused append is written`);
      } else {
        assert.is(c.kind, "race", `only a racer may win: append ${i}`);
      }
    });
    const retriedResults = settled.filter((_, i) => calls[i]!.kind === "retry").map((r) => (r as PromiseFulfilledResult<AppendResult>).value);
    assert.equal(retriedResults[0], retriedResults[1], "the concurrent retry gets the same answer");
    assert.equal(revisions(await store.readStream(contested)), [0, 1]);
    assert.equal(revisions(await store.readStream(`${p}retried`)), [0, 1]);
    const expectedCount = calls.filter((c) => c.kind === "own").reduce((n, c) => n + c.events.length, 0) + 1 + 1 + retried.length;
    assert.is(all.length, expectedCount, "every successful append's events, once");
    assertIncreasing(positions(all), "global positions");
  });

  test("idempotent retry with the same event ids: same answer, no duplicate", async ({ store }) => {
    const s = unique("contract-");
    const batch = [newEvent("Happened", { n: 1 }), newEvent("Happened", { n: 2 })];
    const first = await store.append(s, batch, "no_stream");
    const retry = await store.append(s, batch, "no_stream");
    assert.equal(retry, first);
    assert.is((await store.readStream(s)).length, 2);
    // a batch that only partly repeats an earlier one is not a retry
    const partial = [batch[1]!, newEvent("Happened", { n: 3 })];
    let refused = false;
    await store.append(s, partial, "no_stream").catch(() => (refused = true));
    assert.ok(refused, "a partial repeat must be refused");
    assert.equal(revisions(await store.readStream(s)), [0, 1]);
  });

  test("read one stream: forwards, backwards, from a revision, max count, up to a time or position", async ({ store }) => {
    const s = unique("contract-");
    const t0 = Date.parse("2026-01-01T00:00:00.000Z");
    const events = Array.from({ length: 5 }, (_, i) =>
      newEvent("Counted", { i }, { occurredAt: new Date(t0 + i * 1000).toISOString() }),
    );
    await store.append(s, events.slice(0, 3), "no_stream");
    await store.append(unique("contract-other-"), [newEvent("Elsewhere")], "no_stream");
    await store.append(s, events.slice(3), 2);

    const all = await store.readStream(s);
    assert.equal(revisions(all), [0, 1, 2, 3, 4]);
    assert.equal(
      all.map((e) => e.data),
      events.map((e) => e.data),
    );
    assert.equal(
      all.map((e) => e.metadata),
      events.map((e) => e.metadata),
      "metadata comes back unchanged",
    );
    assert.ok(all.every((e) => e.streamId === s && e.type === "Counted"));
    assertIncreasing(positions(all), "positions within a stream");

    assert.equal(revisions(await store.readStream(s, { direction: "backwards" })), [4, 3, 2, 1, 0]);
    assert.equal(revisions(await store.readStream(s, { fromRevision: 2 })), [2, 3, 4]);
    assert.equal(revisions(await store.readStream(s, { direction: "backwards", fromRevision: 2 })), [2, 1, 0]);
    assert.equal(revisions(await store.readStream(s, { maxCount: 2 })), [0, 1]);
    assert.equal(revisions(await store.readStream(s, { direction: "backwards", maxCount: 2 })), [4, 3]);
    assert.equal(revisions(await store.readStream(s, { untilTime: new Date(t0 + 2000).toISOString() })), [0, 1, 2]);
    assert.equal(revisions(await store.readStream(s, { untilTime: "2026-01-01T00:00:02Z" })), [0, 1, 2], "any ISO spelling");
    assert.equal(revisions(await store.readStream(s, { untilPosition: all[1]!.position })), [0, 1]);
    assert.equal(
      revisions(await store.readStream(s, { direction: "backwards", untilPosition: all[3]!.position })),
      [3, 2, 1, 0],
    );
    assert.equal(await store.readStream(unique("contract-missing-")), []);
  });

  test("read all from a position", async ({ store }) => {
    const p = unique("contract-all-");
    const head0 = await store.headPosition();
    await store.append(`${p}a`, [newEvent("One"), newEvent("Two")], "no_stream");
    await store.append(`${p}b`, [newEvent("Three")], "no_stream");
    const last = await store.append(`${p}a`, [newEvent("Four")], 1);
    assert.ok((await store.headPosition()) >= last.position);

    const mine = { streamPrefixes: [p] };
    const all = await store.readAll({ after: head0, filter: mine });
    assert.equal(
      all.map((e) => e.type),
      ["One", "Two", "Three", "Four"],
    );
    assertIncreasing(positions(all), "global positions");
    assert.is(all.at(-1)!.position, last.position);
    const rest = await store.readAll({ after: all[1]!.position, filter: mine });
    assert.equal(
      rest.map((e) => e.type),
      ["Three", "Four"],
    );
    assert.equal(
      (await store.readAll({ after: head0, filter: mine, maxCount: 3 })).map((e) => e.type),
      ["One", "Two", "Three"],
    );
    assert.equal(await store.readAll({ after: last.position, filter: mine }), []);
  });

  test("filters by stream prefix and event type in readAll", async ({ store }) => {
    const p = unique("contract-filter-");
    const typeX = `X${p.replace(/-/g, "")}`;
    const head0 = await store.headPosition();
    await store.append(`${p}deployment-1`, [newEvent(typeX), newEvent("Other")], "no_stream");
    await store.append(`${p}node-1`, [newEvent(typeX)], "no_stream");
    await store.append(`${p}cluster-1`, [newEvent("Other")], "no_stream");

    const byPrefix = await store.readAll({ after: head0, filter: { streamPrefixes: [`${p}deployment-`, `${p}node-`] } });
    assert.equal(
      byPrefix.map((e) => e.streamId),
      [`${p}deployment-1`, `${p}deployment-1`, `${p}node-1`],
    );
    const byType = await store.readAll({ after: head0, filter: { eventTypes: [typeX] } });
    assert.equal(
      byType.map((e) => e.streamId),
      [`${p}deployment-1`, `${p}node-1`],
    );
    const both = await store.readAll({ after: head0, filter: { streamPrefixes: [`${p}node-`], eventTypes: [typeX] } });
    assert.equal(
      both.map((e) => e.streamId),
      [`${p}node-1`],
    );
    assert.equal(await store.readAll({ after: head0, filter: { streamPrefixes: [] } }), []);
  });

  test("catch-up subscription turns live without gap or duplicate while appends race it", async ({ store }) => {
    const p = unique("contract-sub-");
    const head0 = await store.headPosition();
    // history before the subscription starts
    for (let i = 0; i < 20; i++) await store.append(`${p}${i % 3}`, [newEvent("Before", { i })], "any");

    const delivered: RecordedEvent[] = [];
    const sub = store.subscribe({ after: head0, filter: { streamPrefixes: [p] } }, async (e) => {
      delivered.push(e);
      // a slow handler, so that appends overtake it
      if (delivered.length % 7 === 0) await new Promise((r) => setTimeout(r, 1));
    });
    // concurrent writers, single events and batches, while the subscription catches up
    const writers = Array.from({ length: 4 }, async (_, w) => {
      for (let i = 0; i < 15; i++) {
        const batch = i % 5 === 0 ? [newEvent("Live"), newEvent("Live"), newEvent("Live")] : [newEvent("Live")];
        await store.append(`${p}w${w}`, batch, "any");
        if (i % 4 === 0) await new Promise((r) => setImmediate(r));
      }
    });
    await Promise.all(writers);
    const expected = await store.readAll({ after: head0, filter: { streamPrefixes: [p] } });
    assert.is(expected.length, 20 + 4 * (12 + 3 * 3));
    await waitUntil(() => delivered.length >= expected.length);
    // one more append after it has gone live
    const tail = await store.append(`${p}tail`, [newEvent("After")], "no_stream");
    await waitUntil(() => delivered.length >= expected.length + 1);
    await sub.stop();

    assert.equal(positions(delivered), [...positions(expected), tail.position]);
    assert.is(new Set(delivered.map((e) => e.metadata.eventId)).size, delivered.length, "no duplicate");
  });

  test("subscription filters by stream prefix and by event type", async ({ store }) => {
    const p = unique("contract-subfilter-");
    const typeX = `X${p.replace(/-/g, "")}`;
    const head0 = await store.headPosition();
    const byPrefix: RecordedEvent[] = [];
    const byType: RecordedEvent[] = [];
    const a = store.subscribe({ after: head0, filter: { streamPrefixes: [`${p}node-`] } }, (e) => {
      byPrefix.push(e);
    });
    const b = store.subscribe({ after: head0, filter: { eventTypes: [typeX] } }, (e) => {
      byType.push(e);
    });
    await store.append(`${p}node-1`, [newEvent("Other"), newEvent(typeX)], "no_stream");
    await store.append(`${p}deployment-1`, [newEvent(typeX)], "no_stream");
    await store.append(`${p}node-2`, [newEvent("Other")], "no_stream");
    await waitUntil(() => byPrefix.length >= 3 && byType.length >= 2);
    // a last event that matches both, so anything wrongly let through would have arrived before it
    await store.append(`${p}node-3`, [newEvent(typeX)], "no_stream");
    await waitUntil(() => byPrefix.length >= 4 && byType.length >= 3);
    await Promise.all([a.stop(), b.stop()]);
    assert.equal(
      byPrefix.map((e) => e.streamId),
      [`${p}node-1`, `${p}node-1`, `${p}node-2`, `${p}node-3`],
    );
    assert.equal(
      byType.map((e) => e.streamId),
      [`${p}node-1`, `${p}deployment-1`, `${p}node-3`],
    );
  });

  test("subscription: stop ends it, a throwing handler ends `done` with its error", async ({ store }) => {
    const p = unique("contract-stop-");
    const head0 = await store.headPosition();
    await store.append(`${p}1`, [newEvent("One"), newEvent("Two"), newEvent("Three")], "no_stream");

    const seen: string[] = [];
    const sub = store.subscribe({ after: head0, filter: { streamPrefixes: [p] } }, async (e) => {
      seen.push(e.type);
      if (e.type === "Two") await sub.stop(); // stopping from inside the handler must not hang
    });
    await sub.done;
    assert.equal(seen, ["One", "Two"]);

    const failing = store.subscribe({ after: head0, filter: { streamPrefixes: [p] } }, (e) => {
      if (e.type === "Two") throw new Error("handler broke");
    });
    try {
      await failing.done;
      assert.unreachable("done should reject");
    } catch (err) {
      assert.is((err as Error).message, "handler broke");
    }
    await failing.stop();
  });

  test("subscription: the handler's own control stops it after an await without waiting on itself", async ({ store }) => {
    const p = unique("contract-control-");
    const head0 = await store.headPosition();
    await store.append(`${p}1`, [newEvent("One"), newEvent("Two"), newEvent("Three")], "no_stream");
    const seen: string[] = [];
    let stopped = false;
    const sub = store.subscribe({ after: head0, filter: { streamPrefixes: [p] } }, async (e, control) => {
      seen.push(e.type);
      await new Promise((r) => setImmediate(r));
      if (e.type === "Two") {
        await control.stop();
        stopped = true;
      }
    });
    await sub.done;
    assert.ok(stopped, "control.stop() returned inside the handler");
    assert.equal(seen, ["One", "Two"]);
  });

  test("subscription: stop() from outside returns only after the handler in flight has finished", async ({ store }) => {
    const p = unique("contract-stopwait-");
    const head0 = await store.headPosition();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let entered = false;
    let finished = false;
    const sub = store.subscribe({ after: head0, filter: { streamPrefixes: [p] } }, async () => {
      entered = true;
      await gate;
      finished = true;
    });
    await store.append(`${p}1`, [newEvent("One"), newEvent("Two")], "no_stream");
    await waitUntil(() => entered);
    let stopped = false;
    const stopping = sub.stop().then(() => (stopped = true));
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    assert.not.ok(stopped, "stop() must wait for the handler");
    release();
    await stopping;
    assert.ok(finished, "the handler had finished when stop() returned");
  });

  test("readAll by event type matches the type exactly, not as a prefix", async ({ store }) => {
    const p = unique("contract-exact-");
    const typeX = `X${p.replace(/-/g, "")}`;
    const head0 = await store.headPosition();
    await store.append(`${p}1`, [newEvent(typeX), newEvent(`${typeX}Longer`), newEvent(typeX)], "no_stream");
    const read = await store.readAll({ after: head0, filter: { eventTypes: [typeX] } });
    assert.equal(
      read.map((e) => e.type),
      [typeX, typeX],
    );
    assert.equal((await store.readAll({ after: head0, filter: { eventTypes: [typeX] }, maxCount: 1 })).length, 1);
  });

  test("EventLog resubscribes after the adapter's subscription drops: no gap, no duplicate, unknown types skipped", async ({ store }) => {
    const p = unique("contract-drop-");
    const head0 = await store.headPosition();
    for (let i = 0; i < 6; i++) await store.append(`${p}${i % 2}`, [newEvent(i % 3 === 2 ? "ContractFutureThing" : "ContractWidgetRenamed", { name: `n${i}`, label: "l" })], "any");
    // drops in history, then live; an adapter that is a real server sees a new subscription each time
    const plan = new FaultPlan({ rules: [{ ops: ["deliver"], nth: [2, 3, 8] }] });
    const log = new EventLog(faultyEventStore(store, plan), upcastCatalog, { backoff: { baseMs: 1, maxMs: 1, random: () => 0 } });
    let drops = 0;
    log.observe({ subscriptionDropped: () => drops++ });
    const delivered: RecordedEvent[] = [];
    const sub = log.subscribe({ after: head0, filter: { streamPrefixes: [p] } }, (e) => {
      delivered.push(e);
    });
    await waitUntil(() => delivered.length >= 4);
    for (let i = 6; i < 12; i++) await store.append(`${p}${i % 2}`, [newEvent(i % 3 === 2 ? "ContractFutureThing" : "ContractWidgetRenamed", { name: `n${i}`, label: "l" })], "any");
    await waitUntil(() => delivered.length >= 8);
    await sub.stop();
    const expected = (await store.readAll({ after: head0, filter: { streamPrefixes: [p] } })).filter((e) => e.type === "ContractWidgetRenamed");
    assert.equal(positions(delivered), positions(expected));
    assert.is(drops, 3);
    assert.ok((log.unknownTypes().get("ContractFutureThing") ?? 0) >= 4);
  });

  test("old schema versions are upcast on read through EventLog", async ({ store }) => {
    const s = unique("contract-upcast-");
    const log = new EventLog(store, upcastCatalog);
    await store.append(s, [newEvent("ContractWidgetRenamed", { name: "old" }, { schemaVersion: 1 })], "no_stream");
    const [current] = log.envelope([{ type: "ContractWidgetRenamed", data: { name: "new", label: "given" } }], () => ({
      actor: { kind: "user", id: "alice" },
      correlationId: "c1",
      causationId: "c1",
    }));
    await log.append(s, [current!], 0);

    const read = await log.readStream(s);
    assert.equal(
      read.map((e) => e.data),
      [
        { name: "old", label: "label of old" },
        { name: "new", label: "given" },
      ],
    );
    assert.equal(
      read.map((e) => e.metadata.schemaVersion),
      [2, 2],
    );
    // the log itself is never rewritten
    const raw = await store.readStream(s);
    assert.equal(raw[0]!.data, { name: "old" });
    assert.is(raw[0]!.metadata.schemaVersion, 1);
    const viaAll = await log.readAll({ after: raw[0]!.position - 1, filter: { streamPrefixes: [s] } });
    assert.equal(viaAll[0]!.data, { name: "old", label: "label of old" });
  });

  test("data survives closing and reopening the store", async (ctx) => {
    if (!ctx.fx.reopen) return;
    const s = unique("contract-reopen-");
    const written = [newEvent("Kept", { n: 1 }), newEvent("Kept", { n: 2 })];
    const r = await ctx.store.append(s, written, "no_stream");
    const reopened = await ctx.fx.reopen();
    ctx.store = reopened;
    const read = await reopened.readStream(s);
    assert.equal(
      read.map((e) => e.metadata.eventId),
      written.map((e) => e.metadata.eventId),
    );
    assert.is(read.at(-1)!.position, r.position);
    assert.ok((await reopened.headPosition()) >= r.position);
    // the expected-revision check still sees the reopened history
    await expectConflict(reopened.append(s, [newEvent("Kept")], "no_stream"), 1);
    await reopened.ping();
  });

  return test;
}
