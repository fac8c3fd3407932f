// A dropped store subscription (connection lost, election, a failed poll) is resubscribed by the
// EventLog from the last position it passed, with capped backoff: consumers see every event once,
// in order, and only their own handler's failure ends the subscription.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { z } from "zod";
import { defineEvent } from "../../src/events/catalog/define.js";
import { buildCatalog } from "../../src/events/catalog/index.js";
import { EventLog } from "../../src/events/event-log.js";
import { backoffDelay } from "../../src/events/resubscribing.js";
import type { EventStore, Subscription } from "../../src/events/store/port.js";
import { SqliteEventStore } from "../../src/events/store/sqlite.js";
import { newEvent, waitUntil } from "../contracts/event-store.js";
import { FaultPlan, faultyEventStore } from "../helpers/faults.js";

const catalog = buildCatalog([defineEvent("Added", z.object({ n: z.number() }))]);
/** no waiting between attempts: the tests check what happens, not how long it takes */
const immediate = { baseMs: 1, maxMs: 1, random: () => 0 };

const test = suite<{ dir: string; store: SqliteEventStore }>("EventLog: resubscription after a dropped subscription");
test.before.each((ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), "resubscribe-"));
  ctx.store = new SqliteEventStore({ file: join(ctx.dir, "events.db"), synchronous: "NORMAL", pollIntervalMs: 10 });
});
test.after.each(async (ctx) => {
  await ctx.store.close();
  rmSync(ctx.dir, { recursive: true, force: true });
});

const added = (n: number) => newEvent("Added", { n });

/** Fails the test instead of hanging it. */
async function within<T>(what: string, p: Promise<T>, ms = 5_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

test("drops in history and live: every event once, in order, each drop observed", async ({ store }) => {
  for (let i = 0; i < 10; i++) await store.append(`s-${i % 3}`, [added(i)], "any");
  const plan = new FaultPlan({ rules: [{ ops: ["deliver"], nth: [3, 4, 9, 15, 16, 17] }] });
  const log = new EventLog(faultyEventStore(store, plan), catalog, { backoff: immediate });
  const drops: unknown[] = [];
  log.observe({ subscriptionDropped: (err) => drops.push(err) });
  const seen: number[] = [];
  const sub = log.subscribe({}, (e) => {
    seen.push((e.data as { n: number }).n);
  });
  await waitUntil(() => seen.length >= 10);
  for (let i = 10; i < 20; i++) await store.append(`s-${i % 3}`, [added(i)], "any");
  await waitUntil(() => seen.length >= 20);
  await within("stop", sub.stop());
  assert.equal(seen, Array.from({ length: 20 }, (_, i) => i));
  assert.is(drops.length, 6, "each injected drop was reported");
  assert.ok(plan.hits.length === 6);
});

test("after a drop it resumes after the last position passed, unknown types included", async ({ store }) => {
  await store.append("s", [added(0), newEvent("FutureThingHappened"), newEvent("FutureThingHappened"), added(3)], "no_stream");
  // the 3rd delivery is the second unknown event: the resubscription must start after the first
  const plan = new FaultPlan({ rules: [{ ops: ["deliver"], nth: [3] }] });
  const faulty = faultyEventStore(store, plan);
  const afters: (number | undefined)[] = [];
  const spied: EventStore = Object.assign(Object.create(faulty) as EventStore, {
    subscribe: (...args: Parameters<EventStore["subscribe"]>) => {
      afters.push(args[0].after);
      return faulty.subscribe(...args);
    },
  });
  const positions: number[] = [];
  const log = new EventLog(spied, catalog, { backoff: immediate });
  const sub = log.subscribe({}, (e) => {
    positions.push(e.position);
  });
  await waitUntil(() => positions.length >= 2);
  await sub.stop();
  assert.equal(positions, [1, 4]);
  assert.equal(afters, [undefined, 2]);
});

test("a handler's own failure still ends the subscription, with its error", async ({ store }) => {
  await store.append("s", [added(0), added(1)], "no_stream");
  const log = new EventLog(store, catalog, { backoff: immediate });
  const drops: unknown[] = [];
  log.observe({ subscriptionDropped: (err) => drops.push(err) });
  const sub = log.subscribe({}, (e) => {
    if ((e.data as { n: number }).n === 1) throw new Error("handler broke");
  });
  try {
    await within("done", sub.done);
    assert.unreachable("done should reject");
  } catch (err) {
    assert.is((err as Error).message, "handler broke");
  }
  assert.equal(drops, [], "not a drop: no resubscription");
});

test("stop() during a long backoff returns at once, and from inside the handler it does not hang", async ({ store }) => {
  await store.append("s", [added(0), added(1)], "no_stream");
  const plan = new FaultPlan({ rules: [{ ops: ["deliver"], nth: [1] }] });
  const slow = { baseMs: 3_600_000, maxMs: 3_600_000, random: () => 0.99 };
  const log = new EventLog(faultyEventStore(store, plan), catalog, { backoff: slow });
  let dropped = false;
  log.observe({ subscriptionDropped: () => (dropped = true) });
  const sub = log.subscribe({}, () => undefined);
  await waitUntil(() => dropped);
  await within("stop during backoff", sub.stop());
  await within("done after stop", sub.done);

  let inside: Subscription | undefined;
  const seen: number[] = [];
  inside = new EventLog(store, catalog).subscribe({}, async (e) => {
    seen.push(e.position);
    await inside!.stop();
  });
  await within("done after a stop from inside", inside.done);
  assert.equal(seen, [1]);

  // after an await, through the handler's control, across a store wrapper that awaits before
  // calling the handler (so the store's own synchronous check cannot see it)
  const late: number[] = [];
  const viaControl = new EventLog(faultyEventStore(store, new FaultPlan({ rules: [] })), catalog).subscribe({}, async (e, control) => {
    late.push(e.position);
    await new Promise((r) => setImmediate(r));
    await control.stop();
  });
  await within("done after a stop through the control", viaControl.done);
  assert.equal(late, [1]);
});

test("a store whose subscribe() throws is tried again", async ({ store }) => {
  await store.append("s", [added(0)], "no_stream");
  let calls = 0;
  const flaky: EventStore = Object.assign(Object.create(store) as EventStore, {
    subscribe: (...args: Parameters<EventStore["subscribe"]>) => {
      if (++calls <= 2) throw new Error("not connected");
      return store.subscribe(...args);
    },
  });
  const seen: number[] = [];
  const sub = new EventLog(flaky, catalog, { backoff: immediate }).subscribe({}, (e) => {
    seen.push(e.position);
  });
  await waitUntil(() => seen.length === 1);
  await sub.stop();
  assert.is(calls, 3);
});

test("backoff: grows exponentially to the cap, with full jitter below it", () => {
  const top = { baseMs: 100, maxMs: 5_000, random: () => 0.999999 };
  assert.equal(
    [0, 1, 2, 3, 4, 5, 6, 40].map((a) => backoffDelay(top, a)),
    [99, 199, 399, 799, 1599, 3199, 4999, 4999],
  );
  assert.is(backoffDelay({ ...top, random: () => 0 }, 10), 0);
});

test.run();
