import { randomUUID } from "node:crypto";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ManualClock } from "../../src/platform/clock.js";
import { MemoryCoordination } from "../../src/platform/coordination/memory.js";
import { KeyedMutex, MutexBusyError } from "../../src/platform/coordination/mutex.js";
import type { Coordination } from "../../src/platform/coordination/port.js";
import { RedisCoordination } from "../../src/platform/coordination/redis.js";
import { startRedisServer } from "../helpers/redis-server.js";

const opts = { holdMs: 10_000, waitMs: 10_000, maxWaiters: 100, pollMs: 5 };

/** a promise with its resolve, for holders the test lets go of */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { opened, open };
}

/** runs `n` callers on one key across the given mutexes and records overlap and order */
async function burst(mutexes: KeyedMutex[], n: number) {
  let active = 0;
  let most = 0;
  const order: number[] = [];
  await Promise.all(
    Array.from({ length: n }, (_, i) =>
      (mutexes[i % mutexes.length] as KeyedMutex).run("k", async () => {
        most = Math.max(most, ++active);
        order.push(i);
        await new Promise((r) => setImmediate(r));
        active--;
      }),
    ),
  );
  return { most, order };
}

test("callers of one key run one at a time, in arrival order; other keys are not held up", async () => {
  const m = new KeyedMutex(new MemoryCoordination(new ManualClock()), opts);
  const { most, order } = await burst([m], 20);
  assert.is(most, 1);
  assert.equal(order, Array.from({ length: 20 }, (_, i) => i));
  const held = gate();
  const first = m.run("a", () => held.opened);
  assert.is(await m.run("b", async () => "b ran"), "b ran");
  held.open();
  await first;
});

test("two instances on one coordination never overlap", async () => {
  const c = new MemoryCoordination(new ManualClock());
  const { most, order } = await burst([new KeyedMutex(c, opts), new KeyedMutex(c, opts)], 20);
  assert.is(most, 1);
  assert.is(order.length, 20);
});

test("a caller that waits too long gives up, and the one after it still waits for the holder", async () => {
  const m = new KeyedMutex(new MemoryCoordination(new ManualClock()), { ...opts, waitMs: 30 });
  const held = gate();
  let holding = true;
  const holder = m.run("k", async () => {
    await held.opened;
    holding = false;
  });
  const err = await m.run("k", async () => "ran").catch((e: unknown) => e);
  assert.instance(err, MutexBusyError);
  const after = m.run("k", async () => holding);
  held.open();
  await holder;
  // waits 30 ms at most, so it may give up as well; if it ran, the holder was done
  const ran = await after.catch((e: unknown) => e);
  if (!(ran instanceof MutexBusyError)) assert.is(ran, false, "never alongside the holder");
});

test("more waiters than maxWaiters are turned away at once; a throwing holder frees the key", async () => {
  const m = new KeyedMutex(new MemoryCoordination(new ManualClock()), { ...opts, maxWaiters: 2 });
  const held = gate();
  const a = m.run("k", () => held.opened);
  const b = m.run("k", async () => "b");
  const err = await m.run("k", async () => "c").catch((e: unknown) => e);
  assert.instance(err, MutexBusyError);
  held.open();
  await a;
  assert.is(await b, "b");
  const thrown = await m.run("k", async () => {
    throw new Error("boom");
  }).catch((e: unknown) => e);
  assert.match((thrown as Error).message, "boom");
  assert.is(await m.run("k", async () => "free"), "free");
});

test("two instances on one Redis never overlap (skipped without redis-server)", async () => {
  const redis = await startRedisServer();
  if (!redis) {
    console.log("SKIPPED: Redis keyed mutex (redis-server not on PATH and REDIS_URL unset)");
    return;
  }
  const prefix = `test:${randomUUID()}:`;
  const handles: Coordination[] = [new RedisCoordination({ url: redis.url, prefix }), new RedisCoordination({ url: redis.url, prefix })];
  try {
    await Promise.all(handles.map((h) => (h as RedisCoordination).ready()));
    const { most, order } = await burst(handles.map((h) => new KeyedMutex(h, opts)), 20);
    assert.is(most, 1);
    assert.is(order.length, 20);
  } finally {
    await Promise.all(handles.map((h) => h.close()));
    await redis.stop();
  }
});

test.run();
