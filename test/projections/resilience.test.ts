// The projection runner under store faults: a read store that fails for a while is retried with
// capped backoff (counted, and reported as retrying) until it answers; a checkpoint that cannot
// be written is retried too; only the projection's own code failing stops a projection.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ManualClock } from "../../src/platform/clock.js";
import type { Sleep } from "../../src/platform/sleep.js";
import type { Projection } from "../../src/projections/projection.js";
import { ProjectionFollower } from "../../src/projections/follower.js";
import { CHECKPOINTS, ProjectionRunner, type ProjectionRunnerOptions } from "../../src/projections/runner.js";
import { MemoryReadStore } from "../../src/projections/store/memory.js";
import { FaultPlan, faultyEventStore, faultyReadStore, seededRandom } from "../helpers/faults.js";
import { append, counts, dump, totals, withLog } from "./fixtures.js";

/** A sleep that moves the clock instead of waiting, and yields a turn so the test can look in between. */
function clockSleep(clock: ManualClock, delays: number[] = []): Sleep {
  return async (ms) => {
    delays.push(ms);
    clock.advance(ms);
    await new Promise((resolve) => setImmediate(resolve));
  };
}

/** Counts what the runner reports to metrics. */
function recorder() {
  const retries = new Map<string, number>();
  return {
    retries,
    metrics: { projectionRetry: (projection: string) => void retries.set(projection, (retries.get(projection) ?? 0) + 1) },
  };
}

const backoff = { baseMs: 100, maxMs: 2_000, random: seededRandom(7) };

/** Turns of the event loop until `condition` holds (no wall-clock waiting; bounded). */
async function until(what: string, condition: () => boolean): Promise<void> {
  for (let i = 0; i < 10_000; i++) {
    if (condition()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`${what}: never happened`);
}

function runner(options: ProjectionRunnerOptions): ProjectionRunner {
  return new ProjectionRunner({ batchSize: 1, ...options });
}

test("a read store failing for ten seconds is retried with capped backoff; the projection catches up and is not failed", () =>
  withLog(async (log) => {
    const pos = await append(log, [
      { stream: "s-a", type: "Ticked", n: 2 },
      { stream: "s-b", type: "Ticked", n: 3 },
      { stream: "s-a", type: "Ticked", n: 4 },
    ]);
    const clock = new ManualClock();
    const delays: number[] = [];
    const plan = new FaultPlan({ clock, rules: [{ target: "readStore", collections: ["counts"], window: { from: clock.now(), to: clock.now() + 10_000 } }] });
    const store = new MemoryReadStore({ ttlIntervalMs: 0 });
    const { retries, metrics } = recorder();
    const r = runner({ log, store: faultyReadStore(store, plan), projections: [counts(), totals], retry: { backoff, sleep: clockSleep(clock, delays) }, metrics });
    await r.start();
    assert.equal(r.failures(), []);
    assert.is(r.position(), pos);
    assert.equal(await store.collection("counts").get("s-a"), { _id: "s-a", ticks: 2, sum: 6, lastPosition: 3 });
    assert.is((await store.collection("totals").get("all"))?.sum, 9);
    assert.ok(plan.hits.length > 0, "the store did fail");
    assert.ok(clock.now() >= Date.parse("2026-01-01T00:00:10.000Z"), "the runner waited the outage out");
    assert.ok((retries.get("counts") ?? 0) > 0, "retries are counted per projection");
    assert.ok(Math.max(...delays) <= backoff.maxMs, "no delay exceeds the cap");
    assert.ok(delays.length < 40, `backoff grows: ${delays.length} retries for 10 s`);
    assert.equal(r.retrying(), [], "nothing is retrying once the store answers");
    await r.stop();
  }));

test("while a store call is being retried the runner says so; once it answers, that clears", () =>
  withLog(async (log) => {
    const clock = new ManualClock();
    let down = false;
    const plan = new FaultPlan({ rules: [{ target: "readStore", collections: ["counts"], ops: ["putMany"], when: () => down }] });
    const store = new MemoryReadStore({ ttlIntervalMs: 0 });
    const r = runner({ log, store: faultyReadStore(store, plan), projections: [counts()], retry: { backoff, sleep: clockSleep(clock) } });
    await r.start();
    down = true;
    const pos = await append(log, [{ stream: "s-a", type: "Ticked", n: 5 }]);
    await until("retrying reported", () => r.retrying().length > 0);
    const [retry] = r.retrying();
    assert.is(retry!.projection, "counts");
    assert.ok(retry!.attempts >= 1);
    assert.match(retry!.error, /injected fault/);
    assert.equal(r.failures(), [], "retrying is not failed");
    down = false;
    assert.is(await r.waitFor(pos, 5000), true);
    assert.equal(r.retrying(), []);
    assert.equal(await dump(store, "counts"), [{ _id: "s-a", ticks: 1, sum: 5, lastPosition: pos }]);
    await r.stop();
  }));

test("a checkpoint write that fails three times neither ends the subscription nor rejects unhandled", () =>
  withLog(async (log) => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => void unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      const clock = new ManualClock();
      const plan = new FaultPlan();
      const store = new MemoryReadStore({ ttlIntervalMs: 0 });
      const r = runner({ log, store: faultyReadStore(store, plan), projections: [counts()], retry: { backoff, sleep: clockSleep(clock) } });
      await r.start();
      plan.add({ target: "readStore", collections: [CHECKPOINTS], ops: ["put"], times: 3 });
      const first = await append(log, [{ stream: "s-a", type: "Ticked", n: 1 }]);
      assert.is(await r.waitFor(first, 5000), true, "the event after the failed writes is applied");
      const later = await append(log, [{ stream: "s-a", type: "Ticked", n: 1 }]);
      assert.is(await r.waitFor(later, 5000), true, "and the subscription still follows the log");
      assert.is(plan.hits.length, 3);
      assert.equal(await store.collection(CHECKPOINTS).get("counts"), { _id: "counts", position: later, version: 1 });
      await r.stop();
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(unhandled, []);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  }));

test("a projection whose own code throws is stopped and reported at once, never retried; the others go on", () =>
  withLog(async (log) => {
    const bomb: Projection = {
      name: "bomb",
      version: 1,
      collection: "bomb",
      keys: (e) => [e.streamId],
      apply: (_doc, e) => {
        if (e.position === 2) throw new Error("boom");
        return { _id: e.streamId };
      },
    };
    const { retries, metrics } = recorder();
    const store = new MemoryReadStore({ ttlIntervalMs: 0 });
    const pos = await append(log, [{ stream: "s-a", type: "Ticked" }, { stream: "s-b", type: "Ticked" }, { stream: "s-c", type: "Ticked" }]);
    const r = runner({ log, store, projections: [bomb, counts()], retry: { backoff, sleep: clockSleep(new ManualClock()) }, metrics });
    await r.start();
    assert.is(r.position(), pos);
    assert.equal(r.failures().map((f) => [f.projection, f.position]), [["bomb", 2]]);
    assert.is(retries.size, 0);
    assert.equal((await store.collection(CHECKPOINTS).get("bomb"))?.failed, { position: 2, message: "boom" });
    await r.stop();
  }));

test("stop() returns while the store is down: the backoff is abandoned", () =>
  withLog(async (log) => {
    const plan = new FaultPlan();
    const store = new MemoryReadStore({ ttlIntervalMs: 0 });
    // real timers here: the backoff must be cut short by stop, not run out
    const r = runner({ log, store: faultyReadStore(store, plan), projections: [counts()], retry: { backoff: { baseMs: 60_000, maxMs: 60_000, random: () => 0.99 } } });
    await r.start();
    plan.add({ target: "readStore" });
    await append(log, [{ stream: "s-a", type: "Ticked" }]);
    await until("retrying", () => r.retrying().length > 0);
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<string>((resolve) => (timer = setTimeout(() => resolve("stop hung"), 10_000)));
    assert.is(await Promise.race([r.stop().then(() => "stopped"), bound]), "stopped");
    clearTimeout(timer);
  }));

test("a dropped event subscription is resumed; the read model misses nothing and counts nothing twice", async () => {
  const plan = new FaultPlan({ rules: [{ target: "eventStore", ops: ["deliver"], nth: [2, 5] }] });
  // nothing else holds this process open: the wait before resubscribing must (a server still
  // starting has nothing else pending either, and used to exit silently here)
  await withLog(
    async (log) => {
      const store = new MemoryReadStore({ ttlIntervalMs: 0 });
      const pos = await append(log, Array.from({ length: 6 }, (_, i) => ({ stream: i % 2 ? "s-a" : "s-b", type: "Ticked" as const, n: i })));
      const r = runner({ log, store, projections: [counts(), totals] });
      await r.start();
      assert.is(r.position(), pos);
      assert.is(plan.hits.length, 2);
      assert.is((await store.collection("totals").get("all"))?.sum, 15);
      assert.equal(r.failures(), []);
      await r.stop();
    },
    (s) => faultyEventStore(s, plan),
  );
});

test("a follower whose checkpoint reads fail says it is retrying, and clears once they answer", () =>
  withLog(async (log) => {
    let down = false;
    const plan = new FaultPlan({ rules: [{ target: "readStore", collections: [CHECKPOINTS], when: () => down }] });
    const silentLogger = { info() {}, warn() {}, error() {} };
    const f = new ProjectionFollower({ log, store: faultyReadStore(new MemoryReadStore({ ttlIntervalMs: 0 }), plan), projections: [counts()], logger: silentLogger, pollMs: 5 });
    await f.start();
    assert.equal(f.retrying(), []);
    down = true;
    const polled = async (ok: () => boolean) => {
      // the follower polls on a real timer; bounded
      for (let i = 0; i < 1_000 && !ok(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
    };
    await polled(() => f.retrying().length > 0);
    assert.is(f.retrying()[0]!.op, "read checkpoints");
    down = false;
    await polled(() => f.retrying().length === 0);
    assert.equal(f.retrying(), []);
    await f.stop();
  }));

test.run();
