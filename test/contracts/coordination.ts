// The behaviour every Coordination adapter must show. Each adapter's test file calls
// coordinationContract(...) and runs the returned suite.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Coordination } from "../../src/platform/coordination/port.js";

export interface CoordinationFixture {
  coordination: Coordination;
  /** a second handle on the same shared state (another connection for Redis); defaults to `coordination` */
  peer?: Coordination;
  /** moves the adapter's clock; without it the suite waits real (short, bounded) time */
  advance?: (ms: number) => void;
  cleanup(): Promise<void>;
}

/** resolves with the rejection reason; fails the test if `p` resolves (uvu 0.5 has no assert.rejects) */
export async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  assert.unreachable("expected a rejection");
  throw new Error("unreachable");
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** resolves with the first message, or rejects after `ms` so a lost message fails instead of hanging */
function nextMessage(c: Coordination, channel: string, ms = 2000): Promise<{ message: Promise<string>; stop: () => Promise<void> }> {
  let resolve!: (m: string) => void;
  const message = new Promise<string>((res, rej) => {
    resolve = res;
    setTimeout(() => rej(new Error(`no message on ${channel} within ${ms} ms`)), ms).unref();
  });
  return c.subscribe(channel, (m) => resolve(m)).then((stop) => ({ message, stop }));
}

export function coordinationContract(name: string, factory: () => Promise<CoordinationFixture>) {
  const s = suite<{ f: CoordinationFixture }>(`coordination contract: ${name}`);
  let f!: CoordinationFixture;
  const peer = () => f.peer ?? f.coordination;
  const elapse = async (ms: number) => {
    if (f.advance) f.advance(ms);
    else await sleep(ms);
  };

  s.before.each(async () => {
    f = await factory();
  });
  s.after.each(async () => {
    await f.cleanup();
  });

  s("ping answers", async () => {
    await f.coordination.ping();
    assert.type(f.coordination.kind, "string");
  });

  s("a lease is exclusive between two owners, and re-acquiring by the holder keeps its token", async () => {
    const a = await f.coordination.acquire("job", "A", 10_000);
    assert.ok(a);
    assert.is(a.owner, "A");
    assert.is(a.key, "job");
    assert.is(await peer().acquire("job", "B", 10_000), null);
    const again = await f.coordination.acquire("job", "A", 10_000);
    assert.ok(again);
    assert.is(again.fencingToken, a.fencingToken);
    assert.ok(again.expiresAt >= a.expiresAt);
    // another key is independent
    assert.ok(await peer().acquire("other-job", "B", 10_000));
  });

  s("after expiry another owner takes over with a larger fencing token; the loser can neither renew nor release", async () => {
    const a = await f.coordination.acquire("job", "A", 150);
    assert.ok(a);
    await elapse(200);
    const b = await peer().acquire("job", "B", 10_000);
    assert.ok(b, "B takes the expired lease");
    assert.ok(b.fencingToken > a.fencingToken, `token ${b.fencingToken} > ${a.fencingToken}`);
    assert.is(await f.coordination.renew(a, 10_000), null);
    await f.coordination.release(a);
    assert.is(await f.coordination.acquire("job", "A", 10_000), null, "B still holds it after A's release");
    const renewed = await peer().renew(b, 20_000);
    assert.ok(renewed);
    assert.is(renewed.fencingToken, b.fencingToken);
  });

  s("renew extends a held lease; release frees it; tokens never go backwards", async () => {
    const a = await f.coordination.acquire("job", "A", 300);
    assert.ok(a);
    const r = await f.coordination.renew(a, 10_000);
    assert.ok(r);
    assert.ok(r.expiresAt > a.expiresAt);
    await elapse(400); // past the first ttl: the renewal is what keeps it
    assert.is(await peer().acquire("job", "B", 10_000), null);
    await f.coordination.release(r);
    assert.is(await f.coordination.renew(r, 10_000), null, "a released lease cannot be renewed");
    const b = await peer().acquire("job", "B", 10_000);
    assert.ok(b);
    assert.ok(b.fencingToken > a.fencingToken);
    // the same owner getting a fresh grant after release also gets a new token
    await peer().release(b);
    const b2 = await peer().acquire("job", "B", 10_000);
    assert.ok(b2);
    assert.ok(b2.fencingToken > b.fencingToken);
    assert.is(await peer().renew(b, 10_000), null, "the old grant object is stale");
  });

  s("concurrent acquires by 20 owners: exactly one winner", async () => {
    const instances = [f.coordination, peer()];
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (instances[i % 2] as Coordination).acquire("race", `owner-${i}`, 10_000)),
    );
    const winners = results.filter((r) => r !== null);
    assert.is(winners.length, 1);
  });

  s("rate limit allows `limit` hits, then denies with retryAfterMs, then allows after the window", async () => {
    const limit = 3;
    const windowMs = 300;
    for (let i = 0; i < limit; i++) {
      const d = await f.coordination.hit("client", limit, windowMs);
      assert.ok(d.allowed, `hit ${i + 1} allowed`);
      assert.is(d.limit, limit);
      assert.is(d.remaining, limit - i - 1);
      assert.is(d.retryAfterMs, 0);
      assert.ok(d.resetMs > 0 && d.resetMs <= windowMs);
    }
    const denied = await peer().hit("client", limit, windowMs);
    assert.not.ok(denied.allowed);
    assert.is(denied.remaining, 0);
    assert.ok(denied.retryAfterMs > 0 && denied.retryAfterMs <= windowMs, `retryAfterMs ${denied.retryAfterMs}`);
    assert.ok(denied.resetMs >= denied.retryAfterMs);
    assert.ok((await f.coordination.hit("other-client", limit, windowMs)).allowed, "keys are independent");
    await elapse(denied.retryAfterMs + 20);
    const after = await f.coordination.hit("client", limit, windowMs);
    assert.ok(after.allowed, "allowed once the oldest hit left the window");
  });

  s("sliding window: retryAfterMs is exact and hits leave one by one (fake clock only)", async () => {
    if (!f.advance) return; // exact figures need a clock we control
    const at = async (ms: number) => f.coordination.hit("k", 3, 1000).then((d) => (f.advance?.(ms), d));
    await at(100); // t=0
    await at(100); // t=100
    await at(650); // t=200
    const d = await f.coordination.hit("k", 3, 1000); // t=850
    assert.not.ok(d.allowed);
    assert.is(d.retryAfterMs, 150);
    assert.is(d.resetMs, 350);
    f.advance(150); // t=1000: the t=0 hit has left
    const ok = await f.coordination.hit("k", 3, 1000);
    assert.ok(ok.allowed);
    assert.is(ok.remaining, 0);
    const no = await f.coordination.hit("k", 3, 1000);
    assert.not.ok(no.allowed);
    assert.is(no.retryAfterMs, 100, "the t=100 hit leaves next");
  });

  s("pub/sub delivers to subscribers on another handle, and not after unsubscribe", async () => {
    const first = await nextMessage(peer(), "events");
    const second = await nextMessage(peer(), "events");
    await f.coordination.publish("events", "hello");
    assert.is(await first.message, "hello");
    assert.is(await second.message, "hello");
    await first.stop();
    await second.stop();

    const gone: string[] = [];
    const stopGone = await peer().subscribe("gone", (m) => gone.push(m));
    await stopGone();
    const barrier = await nextMessage(peer(), "barrier");
    // messages from one publisher arrive in order, so once "barrier" is in, "gone" would have been too
    await f.coordination.publish("gone", "late");
    await f.coordination.publish("barrier", "done");
    assert.is(await barrier.message, "done");
    assert.equal(gone, []);
    await barrier.stop();
  });

  s("a mutex is exclusive, re-entrant for its owner, leaves nothing after unlock, and frees itself after its ttl", async () => {
    assert.ok(await f.coordination.tryLock("login:alice", "A", 10_000));
    assert.not.ok(await peer().tryLock("login:alice", "B", 10_000));
    assert.ok(await f.coordination.tryLock("login:alice", "A", 10_000), "the holder may take it again");
    assert.ok(await peer().tryLock("login:bob", "B", 10_000), "keys are independent");
    await peer().unlock("login:alice", "B"); // not B's: changes nothing
    assert.not.ok(await peer().tryLock("login:alice", "B", 10_000));
    await f.coordination.unlock("login:alice", "A");
    assert.ok(await peer().tryLock("login:alice", "B", 150));
    await elapse(200);
    assert.ok(await f.coordination.tryLock("login:alice", "A", 10_000), "an expired hold is free");
  });

  s("concurrent tryLocks by 20 owners: exactly one holds the mutex", async () => {
    const instances = [f.coordination, peer()];
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (instances[i % 2] as Coordination).tryLock("race", `owner-${i}`, 10_000)),
    );
    assert.is(results.filter(Boolean).length, 1);
  });

  const policy = { maxFailures: 3, windowMs: 60_000, lockMs: 200, maxLockMs: 500 };

  s("lockout: the maxFailures-th failure locks; while locked nothing is counted and a success is refused", async () => {
    const first = await f.coordination.lockoutFailure("k", policy);
    assert.equal(first, { lockedForMs: 0, failures: 1, lockedNow: false, lockouts: 0 });
    assert.is((await peer().lockoutFailure("k", policy)).failures, 2);
    assert.equal(await f.coordination.lockoutStatus("k", policy), { lockedForMs: 0, failures: 2, lockedNow: false, lockouts: 0 });
    const third = await peer().lockoutFailure("k", policy);
    assert.ok(third.lockedNow);
    assert.is(third.failures, 3, "the count that started the lock");
    assert.is(third.lockouts, 1);
    assert.ok(third.lockedForMs > 150 && third.lockedForMs <= 200, `locked for ${third.lockedForMs}`);
    const during = await f.coordination.lockoutFailure("k", policy);
    assert.not.ok(during.lockedNow);
    assert.ok(during.lockedForMs > 0 && during.lockedForMs <= third.lockedForMs);
    assert.is(during.lockouts, 1, "a failure while locked does not lock again");
    const refused = await peer().lockoutSuccess("k");
    assert.ok(refused.lockedForMs > 0, "a success while locked is refused");
    assert.ok((await f.coordination.lockoutStatus("k", policy)).lockedForMs > 0, "and changes nothing");
    assert.equal(await f.coordination.lockoutStatus("other", policy), { lockedForMs: 0, failures: 0, lockedNow: false, lockouts: 0 });
  });

  s("lockout: a repeated lock lasts twice as long, capped; a success clears failures and the doubling", async () => {
    const lockOnce = async () => {
      let last = await f.coordination.lockoutFailure("k", policy);
      for (let i = 1; i < policy.maxFailures; i++) last = await peer().lockoutFailure("k", policy);
      assert.ok(last.lockedNow);
      await elapse(last.lockedForMs + 20);
      return last;
    };
    const durations: number[] = [];
    for (let i = 0; i < 3; i++) durations.push((await lockOnce()).lockedForMs);
    // rounded to the 50 ms the Redis run may lose between its calls
    assert.equal(durations.map((d) => Math.ceil(d / 50) * 50), [200, 400, 500]);
    assert.is((await f.coordination.lockoutStatus("k", policy)).lockedForMs, 0, "unlocked after the wait");
    await f.coordination.lockoutFailure("k", policy);
    const ok = await peer().lockoutSuccess("k");
    assert.equal(ok, { lockedForMs: 0, failures: 0, lockedNow: false, lockouts: 0 });
    assert.equal(await f.coordination.lockoutStatus("k", policy), ok);
    const fresh = await lockOnce();
    assert.is(fresh.lockouts, 1, "the doubling starts over after a success");
  });

  s("lockout: failures leave the window, and the doubling is forgotten maxLockMs after the last lock", async () => {
    // a wide window: the two failures that must share it are back-to-back round trips, which a
    // loaded machine can stall past a short one (150 ms did once, load average 6 on 2 cores)
    const short = { maxFailures: 2, windowMs: 1_000, lockMs: 100, maxLockMs: 200 };
    await f.coordination.lockoutFailure("w", short);
    await elapse(1_050);
    const again = await f.coordination.lockoutFailure("w", short);
    assert.is(again.failures, 1, "the first failure has left the window");
    const locked = await peer().lockoutFailure("w", short);
    assert.ok(locked.lockedNow);
    await elapse(locked.lockedForMs + short.maxLockMs + 50);
    await f.coordination.lockoutFailure("w", short);
    const relocked = await f.coordination.lockoutFailure("w", short);
    assert.ok(relocked.lockedNow);
    assert.is(relocked.lockouts, 1, "a lock long forgotten does not double this one");
  });

  s("lockout: 20 concurrent failures on two handles lock once, after exactly maxFailures counted", async () => {
    const instances = [f.coordination, peer()];
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (instances[i % 2] as Coordination).lockoutFailure("burst", { ...policy, lockMs: 10_000, maxLockMs: 10_000 })),
    );
    assert.is(results.filter((r) => r.lockedNow).length, 1);
    assert.is(results.filter((r) => r.lockedForMs === 0).length, policy.maxFailures - 1);
    assert.equal(results.filter((r) => r.lockedForMs === 0).map((r) => r.failures).sort(), [1, 2]);
  });

  return s;
}
