// Blue-green projection rebuilds: a version bump builds the new read model beside the one being
// served (<collection>__v<version>, with its own checkpoint) and switches it in once caught up,
// so readers of the collection see the old version's documents until then, never an empty or
// half-built model.
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Projection } from "../../src/projections/projection.js";
import { rebuildProjection } from "../../src/projections/rebuild.js";
import { CHECKPOINTS, ProjectionRunner } from "../../src/projections/runner.js";
import { MemoryReadStore } from "../../src/projections/store/memory.js";
import { FaultPlan, faultyReadStore } from "../helpers/faults.js";
import { append, counts, dump, withLog } from "./fixtures.js";

/** A gate the test opens: delayed calls wait on it. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, wait: () => opened };
}

async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

test("a version bump rebuilds beside the served model: reads answer version 1 until version 2 has caught up, then version 2", () =>
  withLog(async (log) => {
    await append(log, [
      { stream: "s-a", type: "Ticked", n: 1 },
      { stream: "s-b", type: "Ticked", n: 2 },
    ]);
    const store = new MemoryReadStore({ ttlIntervalMs: 0 });
    const v1 = new ProjectionRunner({ log, store, projections: [counts(1, 1)] });
    await v1.start();
    await v1.stop();
    const head = await append(log, [
      { stream: "s-a", type: "Ticked", n: 3 },
      { stream: "s-c", type: "Ticked", n: 4 },
    ]);
    // an old instance still serving (and projecting) version 1 into the shared store
    const old = new ProjectionRunner({ log, store, projections: [counts(1, 1)] });
    await old.start();
    await old.stop();
    const served = await dump(store, "counts");
    assert.equal(served.map((d) => [d._id, d.sum]), [["s-a", 4], ["s-b", 2], ["s-c", 4]]);

    // the new code weighs ticks by 10; its writes into the shadow wait on the gate
    const g = gate();
    const plan = new FaultPlan({ sleep: () => g.wait(), rules: [{ target: "readStore", collections: ["counts__v2"], ops: ["putMany"], times: 1, effect: { delayMs: 1 } }] });
    const v2 = new ProjectionRunner({ log, store: faultyReadStore(store, plan), projections: [counts(2, 10)], batchSize: 1 });
    const started = v2.start();
    await turns(50);
    assert.is(plan.hits.length, 1, "the rebuild is under way");
    assert.equal(await dump(store, "counts"), served, "readers still see version 1, whole");
    assert.equal(await store.collection(CHECKPOINTS).get("counts"), { _id: "counts", position: head, version: 1 });
    assert.equal((await store.collection(CHECKPOINTS).get("counts__v2"))?.version, 2, "the rebuild has its own checkpoint");

    g.open();
    await started;
    assert.equal((await dump(store, "counts")).map((d) => [d._id, d.sum]), [["s-a", 40], ["s-b", 20], ["s-c", 40]]);
    assert.equal(await store.collection(CHECKPOINTS).get("counts"), { _id: "counts", position: head, version: 2 });
    assert.is(await store.collection(CHECKPOINTS).get("counts__v2"), null, "the shadow's checkpoint is gone");
    assert.is(await store.collection("counts__v2").count(), 0, "and so is the shadow");

    // live events now go to the switched-in model
    const later = await append(log, [{ stream: "s-b", type: "Ticked", n: 1 }]);
    assert.is(await v2.waitFor(later, 5000), true);
    assert.is((await store.collection("counts").get("s-b"))?.sum, 30);
    await v2.stop();
  }));

test("an old instance still writing stops writing a model a new version switched in, and reports it", () =>
  withLog(async (log) => {
    await append(log, [{ stream: "s-a", type: "Ticked", n: 1 }]);
    const store = new MemoryReadStore({ ttlIntervalMs: 0 });
    // live events are written when the subscription goes idle, where a writer always looks first
    const old = new ProjectionRunner({ log, store, projections: [counts(1, 1)] });
    await old.start();
    const v2 = new ProjectionRunner({ log, store, projections: [counts(2, 10)], batchSize: 1 });
    await v2.start();
    const later = await append(log, [{ stream: "s-a", type: "Ticked", n: 2 }]);
    assert.is(await v2.waitFor(later, 5000), true);
    await old.waitFor(later, 200);
    assert.equal(old.failures().map((f) => f.projection), ["counts"]);
    assert.match(String(old.failures()[0]!.error), /superseded/);
    assert.equal(await store.collection("counts").get("s-a"), { _id: "s-a", ticks: 2, sum: 30, lastPosition: later });
    assert.equal(await store.collection(CHECKPOINTS).get("counts"), { _id: "counts", position: later, version: 2 });
    await old.stop();
    await v2.stop();
  }));

test("a new version whose code throws during the rebuild is reported, and version 1 stays served", () =>
  withLog(async (log) => {
    await append(log, [{ stream: "s-a", type: "Ticked", n: 1 }, { stream: "s-b", type: "Ticked", n: 2 }]);
    const store = new MemoryReadStore({ ttlIntervalMs: 0 });
    const v1 = new ProjectionRunner({ log, store, projections: [counts(1)] });
    await v1.start();
    await v1.stop();
    const served = await dump(store, "counts");
    const broken: Projection = {
      ...(counts(2) as unknown as Projection),
      apply: () => {
        throw new Error("v2 bug");
      },
    };
    const v2 = new ProjectionRunner({ log, store, projections: [broken] });
    await v2.start();
    assert.equal(v2.failures().map((f) => f.projection), ["counts"]);
    assert.equal(await dump(store, "counts"), served);
    assert.is((await store.collection(CHECKPOINTS).get("counts"))?.version, 1);
    await v2.stop();
  }));

test("an interrupted rebuild resumes from its own checkpoint into its own collection", () =>
  withLog(async (log) => {
    const head = await append(log, [
      { stream: "s-a", type: "Ticked", n: 1 },
      { stream: "s-a", type: "Ticked", n: 2 },
      { stream: "s-a", type: "Ticked", n: 3 },
    ]);
    const store = new MemoryReadStore({ ttlIntervalMs: 0 });
    await store.collection("counts").put({ _id: "s-a", ticks: 3, sum: 6, lastPosition: head });
    await store.collection(CHECKPOINTS).put({ _id: "counts", position: head, version: 1 });
    // what a crash after the first event of the version-2 rebuild leaves behind
    await store.collection("counts__v2").put({ _id: "s-a", ticks: 1, sum: 10, lastPosition: 1 });
    await store.collection(CHECKPOINTS).put({ _id: "counts__v2", position: 1, version: 2 });
    const v2 = new ProjectionRunner({ log, store, projections: [counts(2, 10)] });
    await v2.start();
    assert.equal(await dump(store, "counts"), [{ _id: "s-a", ticks: 3, sum: 60, lastPosition: head }]);
    await v2.stop();
  }));

test("rebuildProjection (the CLI) builds beside the served model too, and switches at the end", () =>
  withLog(async (log) => {
    const head = await append(log, [{ stream: "s-a", type: "Ticked", n: 5 }]);
    const store = new MemoryReadStore({ ttlIntervalMs: 0 });
    await store.collection("counts").put({ _id: "served", ticks: 0, sum: 0, lastPosition: 0 });
    const g = gate();
    const plan = new FaultPlan({ sleep: () => g.wait(), rules: [{ target: "readStore", collections: ["counts__v1"], ops: ["putMany"], times: 1, effect: { delayMs: 1 } }] });
    const rebuilt = rebuildProjection(log, faultyReadStore(store, plan), counts(), 1);
    await turns(50);
    assert.equal((await dump(store, "counts")).map((d) => d._id), ["served"]);
    g.open();
    assert.equal(await rebuilt, { projection: "counts", events: 1, position: head });
    assert.equal((await dump(store, "counts")).map((d) => d._id), ["s-a"]);
  }));

test.run();
