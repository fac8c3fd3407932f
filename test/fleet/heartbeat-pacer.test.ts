// The agent routes' in-process heartbeat pacing against the plain definition: paceHeartbeat over
// the in-process Coordination's sliding log. Same decisions, same Retry-After, for any timing.
import fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { DomainError } from "../../src/commands/errors.js";
import { HeartbeatPacer, paceHeartbeat } from "../../src/fleet/agent-service.js";
import { ManualClock } from "../../src/platform/clock.js";
import { MemoryCoordination } from "../../src/platform/coordination/memory.js";

const outcome = async (p: Promise<void>) => {
  try {
    await p;
    return "accepted";
  } catch (err) {
    if (!(err instanceof DomainError)) throw err;
    return `${err.code} ${err.message} retry ${String(err.details.retryAfterSeconds)}`;
  }
};

test("HeartbeatPacer decides as paceHeartbeat over MemoryCoordination does", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 5000 }),
      fc.array(fc.record({ node: fc.constantFrom("a", "b", "c", "constructor"), wait: fc.integer({ min: 0, max: 8000 }) }), { maxLength: 60 }),
      async (spacingMs, beats) => {
        const clock = new ManualClock(Date.parse("2026-06-01T00:00:00Z"));
        const coordination = new MemoryCoordination(clock);
        const pacer = new HeartbeatPacer(coordination, clock, spacingMs);
        for (const b of beats) {
          clock.advance(b.wait);
          assert.is(await outcome(pacer.pace(b.node)), await outcome(paceHeartbeat(coordination, b.node, spacingMs)));
        }
      },
    ),
    { numRuns: 300 },
  );
});

test("HeartbeatPacer leaves shared coordination to decide", async () => {
  const clock = new ManualClock(0);
  const inner = new MemoryCoordination(clock);
  const hits: string[] = [];
  const shared = Object.assign(Object.create(inner) as MemoryCoordination, {
    kind: "redis",
    hit: (key: string, limit: number, windowMs: number) => (hits.push(key), inner.hit(key, limit, windowMs)),
  });
  const pacer = new HeartbeatPacer(shared, clock, 1000);
  await pacer.pace("n1");
  assert.equal(hits, ["agent-heartbeat:n1"]);
  assert.match(await outcome(pacer.pace("n1")), "rate_limited");
});

test.run();
