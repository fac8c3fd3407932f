// The stall rule of live streams: only the client's lack of progress counts, never the server's own lateness.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { StallCheck } from "../../src/http/stall.js";

const test = suite("stall check");
const TICK = 1000;
const TIMEOUT = 5000;

test("a client that reads nothing while blocked is stalled once the timeout has passed", () => {
  const check = new StallCheck(TICK, TIMEOUT, 0);
  const blockedSince = 500;
  let stalledAt = -1;
  for (let now = TICK; now <= 10 * TICK && stalledAt < 0; now += TICK) if (check.tick(now, blockedSince, [100, 50])) stalledAt = now;
  assert.is(stalledAt, 6 * TICK, "0.5 s of the first tick, then whole ticks until past 5 s");
});

test("a tick late because the server's loop was blocked adds one period, not the whole delay", () => {
  const check = new StallCheck(TICK, TIMEOUT, 0);
  assert.not.ok(check.tick(TICK, 900, [100, 50]));
  // the loop was blocked for a minute: the client had no chance to drain
  assert.not.ok(check.tick(61_000, 900, [100, 50]));
  assert.not.ok(check.tick(62_000, 900, [100, 50]));
});

test("a client draining slowly is never stalled; a drain resets the count", () => {
  const check = new StallCheck(TICK, TIMEOUT, 0);
  let pending = 10_000;
  for (let now = TICK; now <= 60 * TICK; now += TICK) {
    pending -= now % (3 * TICK) === 0 ? 1 : 0;
    assert.not.ok(check.tick(now, 1, [pending, 0]), `at ${now}`);
  }
  // libuv's queue shrinking is progress too, though the stream buffer stays
  const fresh = new StallCheck(TICK, TIMEOUT, 0);
  for (let now = TICK; now <= 20 * TICK; now += TICK) assert.not.ok(fresh.tick(now, 1, [pending, 1000 - now / TICK]), `queue shrinking at ${now}`);
  // writable again: nothing counts
  assert.not.ok(fresh.tick(21 * TICK, 0, [0, 0]));
  for (let now = 22 * TICK; now <= 26 * TICK; now += TICK) assert.not.ok(fresh.tick(now, 21_500, [5, 5]));
  assert.ok(fresh.tick(27 * TICK, 21_500, [5, 5]));
});

test.run();
