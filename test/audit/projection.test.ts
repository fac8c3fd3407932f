// The audit read model obeys the projection contract (DESIGN.md section 5): apply is a pure
// function of (document, event), so it needs no keys() call before it, gives the same answer on
// any instance in any order, and a read model built in any batch split, replayed after a crash
// between a batch write and its checkpoint, or repaired after a partial bulk write equals one
// built from scratch.
import fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { RecordedEvent } from "../../src/events/envelope.js";
import { auditProjections } from "../../src/projections/audit.js";
import type { ProjectedDoc, Projection } from "../../src/projections/projection.js";
import { replayInto } from "../../src/projections/runner.js";
import { MemoryReadStore } from "../../src/projections/store/memory.js";

const T0 = Date.parse("2026-03-01T00:00:00.000Z");
const ENVS = ["Development", "QA", "Staging", "Production"] as const;

/** One step of a synthetic history: which stream family, which aggregate, and a choice of type. */
const StepArb = fc.record({ family: fc.constantFrom("user", "deployment", "node", "cluster"), id: fc.integer({ min: 0, max: 3 }), pick: fc.nat(), env: fc.constantFrom(...ENVS) });
type Step = typeof StepArb extends fc.Arbitrary<infer T> ? T : never;

/** A log of events across user, deployment, node and cluster streams, positions 1..n. */
function history(steps: Step[]): RecordedEvent[] {
  const revisions = new Map<string, number>();
  return steps.map((s, i) => {
    const streamId = `${s.family}-${s.family === "cluster" ? s.env : `a${s.id}`}`;
    const revision = (revisions.get(streamId) ?? -1) + 1;
    revisions.set(streamId, revision);
    const [type, data] = eventFor(s, revision);
    return {
      type,
      data,
      streamId,
      revision,
      position: i + 1,
      metadata: {
        eventId: `00000000-0000-4000-8000-${String(i + 1).padStart(12, "0")}`,
        occurredAt: new Date(T0 + i * 1000).toISOString(),
        actor: { kind: "user", id: `u${s.id}` },
        correlationId: `c${i}`,
        causationId: `c${i}`,
        schemaVersion: 1,
        tenantId: "default",
      },
    };
  });
}

function eventFor(s: Step, revision: number): [string, Record<string, unknown>] {
  switch (s.family) {
    case "deployment":
      // the first event names the environment, later ones do not (it is carried along the stream)
      if (revision === 0) return ["DeploymentRequested", { requestedBy: `u${s.id}`, moduleName: "m", version: "1.0.0", targetEnvironment: s.env, strategy: "Direct" }];
      return [["WaveStarted", "StageStarted", "ApprovalGranted"][s.pick % 3]!, { wave: 1, stage: "Plan", by: "admin", nodeIds: ["n1"] }];
    case "node":
      if (revision === 0) return ["NodeRegistered", { nodeId: `a${s.id}`, environment: s.env, hostname: "h" }];
      return ["NodeMarkedUnhealthy", { nodeId: `a${s.id}` }];
    case "cluster":
      return ["ClusterSettingsChanged", { environment: s.env, strategy: "Rolling" }];
    default:
      return [["UserLoggedIn", "UserLoginFailed"][s.pick % 2]!, { username: `u${s.id}` }];
  }
}

async function dump(store: MemoryReadStore, projections: Projection[]) {
  const out: Record<string, unknown[]> = {};
  for (const p of projections) out[p.collection] = await store.collection(p.collection).find({}, { sort: { _id: 1 } });
  return out;
}

async function build(events: RecordedEvent[], batchSize: number) {
  const store = new MemoryReadStore({ ttlIntervalMs: 0 });
  const projections = auditProjections();
  await replayInto(store, events, projections, batchSize);
  return { store, projections };
}

test("apply is a pure function of (document, event): no keys() first, any instance, any order", () => {
  const events = history([
    { family: "deployment", id: 1, pick: 0, env: "Staging" },
    { family: "user", id: 2, pick: 0, env: "QA" },
    { family: "deployment", id: 1, pick: 2, env: "QA" },
    { family: "node", id: 3, pick: 0, env: "Production" },
  ]);
  for (const [i, p] of auditProjections().entries()) {
    const other = auditProjections()[i]!;
    // every (document, event) pair, the events taken backwards on one instance and forwards on another
    const backwards = [...events].reverse().flatMap((e) => p.keys(e).length ? [[e.position, p.apply(null, e)] as const] : []);
    const forwards = events.flatMap((e) => (other.keys(e).length ? [[e.position, other.apply(null, e)] as const] : []));
    assert.equal(new Map(backwards), new Map(forwards), p.name);
    // and apply without a keys() call for that event on a fresh instance
    const fresh = auditProjections()[i]!;
    for (const [position, doc] of forwards) assert.equal(fresh.apply(null, events[position - 1]!), doc, `${p.name} at ${position}`);
  }
});

test("every document is the one its key names", () => {
  const events = history([{ family: "deployment", id: 0, pick: 0, env: "QA" }, { family: "node", id: 1, pick: 0, env: "QA" }]);
  for (const p of auditProjections()) {
    for (const e of events) for (const key of p.keys(e)) assert.is(p.apply(null, e)?._id, key, `${p.name} ${e.type}`);
  }
});

test("property: a read model built in any batch split equals one built in a single batch", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(StepArb, { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 7 }), async (steps, batchSize) => {
      const events = history(steps);
      const whole = await build(events, events.length);
      const split = await build(events, batchSize);
      assert.equal(await dump(split.store, split.projections), await dump(whole.store, whole.projections));
    }),
    { numRuns: 60 },
  );
});

test("property: a crash after some documents of a batch were written (a partial bulk write) is repaired by replaying the batch", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(StepArb, { minLength: 2, maxLength: 40 }),
      fc.nat(),
      fc.nat(),
      fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }),
      async (steps, a, b, keep) => {
        const events = history(steps);
        const checkpoint = a % events.length;
        const written = checkpoint + 1 + (b % (events.length - checkpoint));
        const expected = await build(events, events.length);
        // the batch after the checkpoint was applied and only some of its documents reached the store
        // the batch after the checkpoint was applied and only some of its documents reached the store:
        // each touched document is either its new version or still the one from before the batch
        const before = await build(events.slice(0, checkpoint), events.length);
        const { store, projections } = await build(events.slice(0, written), events.length);
        let i = 0;
        for (const p of projections) {
          const c = store.collection<ProjectedDoc>(p.collection);
          for (const doc of await c.find({ lastPosition: { $gt: checkpoint } })) {
            if (keep[i++ % keep.length]) continue;
            const old = await before.store.collection<ProjectedDoc>(p.collection).get(doc._id);
            // put never moves a document back to an older position, so the older one goes in afresh
            await c.delete(doc._id);
            if (old) await c.put(old);
          }
        }
        // the runner resumes from the checkpoint: the batch again, then the rest
        await replayInto(store, events.slice(checkpoint), projections, 3);
        assert.equal(await dump(store, projections), await dump(expected.store, expected.projections));
      },
    ),
    { numRuns: 60 },
  );
});

test.run();
