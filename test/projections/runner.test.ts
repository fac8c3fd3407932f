import fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { RecordedEvent } from "../../src/events/envelope.js";
import type { Projection } from "../../src/projections/projection.js";
import { rebuildProjection } from "../../src/projections/rebuild.js";
import { CHECKPOINTS, ProjectionRunner, replayInto, unionFilter } from "../../src/projections/runner.js";
import { MemoryReadStore } from "../../src/projections/store/memory.js";
import { append, counts, dump, totals, withLog, type Ev } from "./fixtures.js";

test("catches up on start, then follows live appends; waitFor gives read-your-writes", () =>
  withLog(async (log) => {
    await append(log, [
      { stream: "s-a", type: "Ticked", n: 2 },
      { stream: "s-b", type: "Ticked", n: 3 },
      { stream: "s-a", type: "Ticked", n: 4 },
    ]);
    const store = new MemoryReadStore({ ttlIntervalMs: 0 });
    const runner = new ProjectionRunner({ log, store, projections: [counts(), totals], batchSize: 2 });
    await runner.start();
    assert.is(runner.position(), 3);
    assert.equal(await store.collection("counts").get("s-a"), { _id: "s-a", ticks: 2, sum: 6, lastPosition: 3 });
    assert.is((await store.collection("totals").get("all"))?.sum, 9);

    const progress: number[] = [];
    const off = runner.onProgress((p) => progress.push(p));
    const pos = await append(log, [
      { stream: "s-b", type: "Ticked", n: 10 },
      { stream: "s-a", type: "Cleared" },
    ]);
    assert.is(await runner.waitFor(pos, 5000), true);
    assert.ok(runner.position() >= pos);
    assert.is(await store.collection("counts").get("s-a"), null);
    assert.equal(await store.collection("counts").get("s-b"), { _id: "s-b", ticks: 2, sum: 13, lastPosition: 4 });
    assert.ok(progress.length > 0 && progress[progress.length - 1]! >= pos);
    off();
    assert.equal(await store.collection(CHECKPOINTS).get("counts"), { _id: "counts", position: runner.position(), version: 1 });
    await runner.stop();
  }));

test("waitFor passes events no projection subscribes to, and answers false on timeout", () =>
  withLog(async (log) => {
    await append(log, [{ stream: "s-a", type: "Ticked" }]);
    const store = new MemoryReadStore({ ttlIntervalMs: 0 });
    const runner = new ProjectionRunner({ log, store, projections: [counts()] });
    await runner.start();
    const pos = await append(log, [
      { stream: "s-a", type: "Ignored" },
      { stream: "s-b", type: "Ignored" },
    ]);
    assert.is(await runner.waitFor(pos, 5000), true);
    assert.is(await runner.waitFor(pos + 100, 30), false);
    await runner.stop();
  }));

test("start resolves when every event up to the head is filtered out", () =>
  withLog(async (log) => {
    const head = await append(log, [{ stream: "s-a", type: "Ignored" }, { stream: "s-a", type: "Ignored" }]);
    const runner = new ProjectionRunner({ log, store: new MemoryReadStore({ ttlIntervalMs: 0 }), projections: [counts()] });
    await runner.start();
    assert.is(runner.position(), head);
    await runner.stop();
  }));

test("a version bump rebuilds the read model from position 0; an unchanged version resumes", () =>
  withLog(async (log) => {
    await append(log, [
      { stream: "s-a", type: "Ticked", n: 1 },
      { stream: "s-a", type: "Ticked", n: 1 },
    ]);
    const store = new MemoryReadStore({ ttlIntervalMs: 0 });
    let runner = new ProjectionRunner({ log, store, projections: [counts(1)] });
    await runner.start();
    await runner.stop();
    // Corrupt the stored model: only a rebuild repairs it.
    await store.collection("counts").put({ _id: "s-a", ticks: 99, sum: 99, lastPosition: 2 });
    await store.collection("counts").put({ _id: "stale", ticks: 1, sum: 1, lastPosition: 1 });

    runner = new ProjectionRunner({ log, store, projections: [counts(1)] });
    await runner.start();
    assert.is((await store.collection("counts").get("s-a"))?.ticks, 99, "same version: no rebuild");
    await runner.stop();

    runner = new ProjectionRunner({ log, store, projections: [counts(2)] });
    await runner.start();
    assert.equal(await dump(store, "counts"), [{ _id: "s-a", ticks: 2, sum: 2, lastPosition: 2 }]);
    assert.equal((await store.collection(CHECKPOINTS).get("counts"))?.version, 2);
    await runner.stop();
  }));

test("a projection that throws is stopped and reported; the others keep going", () =>
  withLog(async (log) => {
    const bomb: Projection = {
      name: "bomb",
      version: 1,
      collection: "bomb",
      keys: (e) => [e.streamId],
      apply: (doc, e) => {
        if (e.position === 2) throw new Error("boom");
        return { _id: e.streamId };
      },
    };
    const store = new MemoryReadStore({ ttlIntervalMs: 0 });
    const errors: object[] = [];
    const logger = { info() {}, warn() {}, error: (o: object) => void errors.push(o) };
    await append(log, [{ stream: "s-a", type: "Ticked" }, { stream: "s-b", type: "Ticked" }, { stream: "s-c", type: "Ticked" }]);
    const runner = new ProjectionRunner({ log, store, projections: [bomb, counts()], logger, batchSize: 1 });
    await runner.start();
    const pos = await append(log, [{ stream: "s-d", type: "Ticked" }]);
    assert.is(await runner.waitFor(pos, 5000), true);
    assert.is(await store.collection("counts").count(), 4);
    const failures = runner.failures();
    assert.is(failures.length, 1);
    assert.is(failures[0]!.projection, "bomb");
    assert.is(failures[0]!.position, 2);
    assert.is((failures[0]!.error as Error).message, "boom");
    assert.is(runner.positionOf("bomb"), 1, "the failed projection keeps the checkpoint before the bad event");
    assert.ok(errors.some((e) => (e as { projection?: string }).projection === "bomb"));
    await runner.stop();
  }));

test("a projection that throws on a document its batch already holds (applied without a read) is stopped alone", () =>
  withLog(async (log) => {
    // one hot document: after its first read, events reach it without a store call
    const bomb: Projection = {
      name: "bomb",
      version: 1,
      collection: "bomb",
      keys: () => ["hot"],
      apply: (doc, e) => {
        if (e.position === 3) throw new Error("boom");
        return { _id: "hot", seen: [...((doc?.seen as number[]) ?? []), e.position] };
      },
    };
    const store = new MemoryReadStore({ ttlIntervalMs: 0 });
    await append(log, [{ stream: "s-a", type: "Ticked" }, { stream: "s-b", type: "Ticked" }, { stream: "s-c", type: "Ticked" }, { stream: "s-d", type: "Ticked" }]);
    const runner = new ProjectionRunner({ log, store, projections: [counts(), bomb, totals], batchSize: 100 });
    await runner.start();
    assert.equal(runner.failures().map((f) => [f.projection, f.position, (f.error as Error).message]), [["bomb", 3, "boom"]]);
    assert.is(await store.collection("counts").count(), 4);
    assert.is((await store.collection("totals").get("all"))?.sum, 4);
    await runner.stop();
  }));

test("a document an event makes alone is written without a read, and a replay leaves the model as it was", async () => {
  const entries: Projection = {
    name: "entries",
    version: 1,
    collection: "entries",
    keys: (e) => [`e${e.position}`],
    madeByEventAlone: () => true,
    apply: (doc, e) => doc ?? { _id: `e${e.position}`, type: e.type },
  };
  const store = new MemoryReadStore({ ttlIntervalMs: 0 });
  const reads: string[] = [];
  const counted = new Proxy(store, {
    get(target, prop, receiver) {
      if (prop !== "collection") return Reflect.get(target, prop, receiver);
      return (name: string) => {
        const c = target.collection(name);
        return new Proxy(c, { get: (t, p, r) => (p === "get" ? (id: string) => (reads.push(`${name}/${id}`), t.get(id)) : Reflect.get(t, p, r)) });
      };
    },
  });
  const events = recorded([{ stream: "s-a", type: "Ticked" }, { stream: "s-b", type: "Cleared" }, { stream: "s-a", type: "Ticked" }]);
  await replayInto(counted, events, [entries, counts()], 2);
  assert.equal(reads.filter((r) => r.startsWith("entries/")), []);
  assert.ok(reads.some((r) => r.startsWith("counts/")), "the other projection still reads");
  const once = await dump(store, "entries");
  await replayInto(counted, [...events.slice(1), ...events], [entries, counts()], 2);
  assert.equal(await dump(store, "entries"), once);
  assert.equal(once.map((d) => d._id), ["e1", "e2", "e3"]);
});

/** Every event a projection was handed, in order, in one hot document: the order the runner applies them in. */
const order: Projection = {
  name: "order",
  version: 1,
  collection: "order",
  keys: () => ["seen"],
  apply: (doc, e) => ({ _id: "seen", positions: [...((doc?.positions as number[]) ?? []), e.position] }),
};

test("property: events appended while the runner runs, in bursts, give the model of one replay, each applied once, in order", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.array(evArb, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 6 }), fc.integer({ min: 1, max: 5 }), async (bursts, batchSize) => {
      await withLog(async (log) => {
        const store = new MemoryReadStore({ ttlIntervalMs: 0 });
        const runner = new ProjectionRunner({ log, store, projections: [counts(), order, totals], batchSize });
        await runner.start();
        let head = 0;
        for (const burst of bursts) {
          // a burst is appended without waiting for the projections: some events meet a batch that holds their documents
          head = Math.max(head, ...(await Promise.all(burst.map((e) => append(log, [e])))));
          if (burst.length % 2) assert.is(await runner.waitFor(head, 5000), true);
        }
        assert.is(await runner.waitFor(head, 5000), true);
        await runner.stop();
        const all = await log.readAll();
        assert.equal({ counts: await dump(store, "counts"), totals: await dump(store, "totals") }, await model(all));
        assert.equal((await store.collection("order").get("seen"))?.positions, all.map((e) => e.position));
      });
    }),
    { numRuns: 25 },
  );
});

test("rebuildProjection replays the whole log and sets the checkpoint", () =>
  withLog(async (log) => {
    const head = await append(log, [
      { stream: "s-a", type: "Ticked", n: 5 },
      { stream: "s-b", type: "Ticked", n: 6 },
      { stream: "s-b", type: "Ignored" },
    ]);
    const store = new MemoryReadStore({ ttlIntervalMs: 0 });
    await store.collection("counts").put({ _id: "junk", ticks: 0, sum: 0, lastPosition: 0 });
    const result = await rebuildProjection(log, store, counts(), 1);
    assert.equal(result, { projection: "counts", events: 2, position: head });
    assert.equal((await dump(store, "counts")).map((d) => d._id), ["s-a", "s-b"]);
    assert.equal(await store.collection(CHECKPOINTS).get("counts"), { _id: "counts", position: head, version: 1 });
  }));

test("unionFilter only merges filters along one dimension", () => {
  assert.equal(unionFilter([counts(), totals]), { eventTypes: ["Ticked", "Cleared"] });
  assert.is(unionFilter([counts(), { ...totals, filter: undefined }]), undefined);
  assert.is(unionFilter([counts(), { ...totals, filter: { streamPrefixes: ["s-"] } }]), undefined);
});

// ---- idempotence, as a property ----

const evArb: fc.Arbitrary<Ev> = fc.record({
  stream: fc.constantFrom("s-a", "s-b", "s-c"),
  type: fc.constantFrom("Ticked", "Ticked", "Ticked", "Cleared", "Ignored") as fc.Arbitrary<Ev["type"]>,
  n: fc.integer({ min: -5, max: 5 }),
});

function recorded(events: Ev[]): RecordedEvent[] {
  const revisions = new Map<string, number>();
  return events.map((e, i) => {
    const revision = revisions.get(e.stream) ?? 0;
    revisions.set(e.stream, revision + 1);
    return {
      streamId: e.stream,
      revision,
      position: i + 1,
      type: e.type,
      data: e.type === "Ticked" ? { n: e.n ?? 1 } : {},
      metadata: {
        eventId: "00000000-0000-4000-8000-000000000000",
        occurredAt: "2026-01-01T00:00:00.000Z",
        actor: { kind: "system", id: "t" },
        correlationId: "c",
        causationId: "c",
        schemaVersion: 1,
        tenantId: "default",
      },
    };
  });
}

async function model(events: Iterable<RecordedEvent>, batchSize?: number) {
  const store = new MemoryReadStore({ ttlIntervalMs: 0 });
  await replayInto(store, events, [counts(), totals], batchSize);
  return { counts: await dump(store, "counts"), totals: await dump(store, "totals") };
}

test("property: re-delivering events (rewinds, as after a crash with a lagging checkpoint) changes nothing", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(evArb, { maxLength: 40 }),
      fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 4 }),
      fc.integer({ min: 1, max: 7 }),
      async (evs, rewinds, batchSize) => {
        const events = recorded(evs);
        // Deliver in order, but after some event jump back to an earlier one and go on from there.
        const delivered: RecordedEvent[] = [];
        let from = 0;
        for (const [a, b] of rewinds) {
          if (events.length === 0) break;
          const to = a % events.length;
          if (to < from) continue;
          delivered.push(...events.slice(from, to + 1));
          from = b % (to + 1);
        }
        delivered.push(...events.slice(from));
        assert.equal(await model(delivered, batchSize), await model(events));
      },
    ),
    { numRuns: 200 },
  );
});

test("property: a runner run twice (checkpoint reset in between) yields the model of one replay", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(evArb, { minLength: 1, maxLength: 25 }), fc.integer({ min: 1, max: 5 }), async (evs, batchSize) => {
      await withLog(async (log) => {
        await append(log, evs);
        const store = new MemoryReadStore({ ttlIntervalMs: 0 });
        let runner = new ProjectionRunner({ log, store, projections: [counts(), totals], batchSize });
        await runner.start();
        await runner.stop();
        const once = { counts: await dump(store, "counts"), totals: await dump(store, "totals") };
        for (const name of ["counts", "totals"]) await store.collection(CHECKPOINTS).put({ _id: name, position: 0, version: 1 });
        runner = new ProjectionRunner({ log, store, projections: [counts(), totals], batchSize });
        await runner.start();
        await runner.stop();
        assert.equal({ counts: await dump(store, "counts"), totals: await dump(store, "totals") }, once);
        assert.equal(once, await model(await log.readAll()));
      });
    }),
    { numRuns: 15 },
  );
});

test.run();
