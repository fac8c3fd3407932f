// The memory store answers finds sorted on _id by walking a sorted id array and stopping early,
// and narrows equality conditions with the first field of declared indexes. These properties
// check both shortcuts against the plain definition (test every document, sort, skip, limit)
// after any mix of index declarations, writes, replacements, deletes and bulk deletes.
import fc from "fast-check";
import { find as mingoFind } from "mingo";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { MemoryReadStore } from "../../src/projections/store/memory.js";
import type { Doc, Filter } from "../../src/projections/store/port.js";

// short ids over a small alphabet so that bounds, duplicates and prefixes ("a" < "ab") collide often
const id = fc.stringMatching(/^[a-d]{0,3}$/);
const kind = fc.constantFrom("entry", "head", "stream");
// arrays, sub-documents and missing fields are where MongoDB equality is subtle
const kindValue = fc.oneof(kind, fc.array(kind, { maxLength: 2 }), fc.constant(undefined), fc.constant(7));
const actorValue = fc.oneof(fc.record({ id: kind }), fc.array(fc.record({ id: kind }), { maxLength: 2 }), fc.constant("flat"), fc.constant(undefined));

const op = fc.oneof(
  fc.record({ op: fc.constant("put" as const), _id: id, kind: kindValue, actor: actorValue, n: fc.integer({ min: 0, max: 5 }) }),
  fc.record({ op: fc.constant("delete" as const), _id: id }),
  fc.record({ op: fc.constant("deleteMany" as const), n: fc.integer({ min: 0, max: 5 }) }),
  fc.record({ op: fc.constant("find" as const) }),
  fc.record({ op: fc.constant("index" as const), field: fc.constantFrom("kind", "actor.id", "n") }),
);

type Step = typeof op extends fc.Arbitrary<infer T> ? T : never;
type Collection = ReturnType<MemoryReadStore["collection"]>;

/** Applies one step of a history to the store and to its shadow map; a "find" step runs `find`. */
async function apply(c: Collection, shadow: Map<string, Doc>, step: Step, find: () => Promise<unknown>): Promise<void> {
  if (step.op === "put") {
    const doc: Doc = { _id: step._id, n: step.n };
    if (step.kind !== undefined) doc.kind = step.kind;
    if (step.actor !== undefined) doc.actor = step.actor;
    await c.put(doc);
    shadow.set(doc._id, doc);
  } else if (step.op === "delete") {
    await c.delete(step._id);
    shadow.delete(step._id);
  } else if (step.op === "deleteMany") {
    await c.deleteMany({ n: step.n });
    for (const [k, d] of shadow) if (d.n === step.n) shadow.delete(k);
  } else if (step.op === "index") {
    await c.ensureIndex({ name: step.field, keys: { [step.field]: 1, position: -1 } });
  } else await find();
}

const rangeOp = fc.constantFrom("$gt", "$gte", "$lt", "$lte");
const filterArb: fc.Arbitrary<Filter> = fc
  .record(
    {
      kind: fc.option(
        fc.oneof(
          kind,
          fc.record({ $eq: kind }),
          fc.record({ $in: fc.array(fc.oneof(kind, fc.constant(7)), { maxLength: 2 }) }),
          fc.record({ $in: fc.constant([null, "entry"]) }),
          // $ne: true for a missing field and for arrays without the value (those are mingo's)
          fc.record({ $ne: fc.oneof(kind, fc.constant(7), fc.constant(null)) }),
        ),
        { nil: undefined },
      ),
      "actor.id": fc.option(fc.oneof(kind, fc.record({ $ne: kind })), { nil: undefined }),
      n: fc.option(fc.oneof(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 5 }).map((v) => ({ $gte: v }))), { nil: undefined }),
      _id: fc.option(
        fc.oneof(
          fc.dictionary(rangeOp, id, { minKeys: 1, maxKeys: 2 }),
          // non-string bounds and other operators must not confuse the range pre-selection
          fc.record({ $lt: fc.integer() }),
          fc.record({ $gt: id, $ne: id }),
          // ids named outright pick their candidates; the rest of the filter still decides
          id,
          fc.record({ $eq: id }),
          fc.record({ $in: fc.array(id, { maxLength: 3 }) }),
        ),
        { nil: undefined },
      ),
    },
    { requiredKeys: [] },
  )
  .map((f) => Object.fromEntries(Object.entries(f).filter(([, v]) => v !== undefined)));

const optionsArb = fc.record({
  dir: fc.constantFrom(1 as const, -1 as const),
  limit: fc.option(fc.integer({ min: 0, max: 6 }), { nil: undefined }),
  skip: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
});

function reference(docs: Doc[], filter: Filter, o: { dir: 1 | -1; limit?: number; skip?: number }): string[] {
  const sorted = (mingoFind(docs, filter).all() as Doc[]).map((d) => d._id).sort();
  if (o.dir === -1) sorted.reverse();
  const skip = o.skip ?? 0;
  return sorted.slice(skip, o.limit ? skip + o.limit : undefined);
}

test("find sorted on _id equals test-all-then-sort after any history of writes and deletes", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(op, { maxLength: 40 }), filterArb, optionsArb, fc.constantFrom(0, 0.25, 1), async (ops, filter, o, indexShare) => {
      const store = new MemoryReadStore({ ttlIntervalMs: 0, indexShare });
      const c = store.collection("c");
      const shadow = new Map<string, Doc>();
      // a sorted find builds the id array, so later writes must keep it current
      for (const step of ops) await apply(c, shadow, step, () => c.find({}, { sort: { _id: 1 }, limit: 1 }));
      const got = (await c.find(filter, { sort: { _id: o.dir }, limit: o.limit, skip: o.skip })).map((d) => d._id);
      const context = JSON.stringify({ filter, o, indexShare });
      assert.equal(got, reference([...shadow.values()], filter, o), context);
      const all = reference([...shadow.values()], filter, { dir: 1 });
      assert.equal((await c.find(filter)).map((d) => d._id).sort(), all, context);
      assert.is(await c.count(filter), all.length, context);
      await store.close();
    }),
    { numRuns: 600 },
  );
});

// A sort that names _id besides other fields walks every document kept in that order (kept through
// writes) and a frozen projection hands out one frozen pick per stored version: both must answer as
// filter-then-sort does, after any history, and a repeated read between writes the same objects.
const SORT_PROJECTION = Object.freeze({ n: 1 as const, "actor.id": 1 as const });
test("find sorted on fields and _id, with a frozen projection, equals filter-then-sort after any history", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(op, { maxLength: 40 }),
      filterArb,
      optionsArb,
      fc.constantFrom<Record<string, 1 | -1>[]>([{ n: -1, _id: -1 }], [{ n: 1, _id: -1 }], [{ _id: 1, n: -1 }], [{ kind: 1, _id: 1 }]),
      fc.constantFrom(0, 0.25, 1),
      async (ops, filter, o, [sort], indexShare) => {
        const store = new MemoryReadStore({ ttlIntervalMs: 0, indexShare });
        const c = store.collection("c");
        const shadow = new Map<string, Doc>();
        const sorted = () => c.find(filter, { sort: sort!, limit: o.limit, skip: o.skip, projection: SORT_PROJECTION });
        // a find step builds the order and the picks that later writes must not leave stale
        for (const step of ops) await apply(c, shadow, step, sorted);
        const skip = o.skip ?? 0;
        const expected = (mingoFind([...shadow.values()], filter, SORT_PROJECTION).sort(sort!).all() as Doc[]).slice(skip, o.limit ? skip + o.limit : undefined);
        const got = await sorted();
        const context = JSON.stringify({ filter, o, sort, indexShare });
        assert.equal(got, expected, context);
        const again = await sorted();
        // a scalar where "actor.id" looks inside is mingo's to project, afresh on every call
        if ([...shadow.values()].some((d) => typeof d.actor === "string")) return void (await store.close());
        assert.ok(again.length === got.length && again.every((d, i) => d === got[i]), `the same picks between writes: ${context}`);
        await store.close();
      },
    ),
    { numRuns: 600 },
  );
});

test("cursor paging newest first over audit-like ids visits every entry once and skips other kinds", async () => {
  const store = new MemoryReadStore({ ttlIntervalMs: 0 });
  const c = store.collection("audit");
  const entryId = (p: number) => `e:${String(p).padStart(16, "0")}`;
  await c.put({ _id: "_chain:head", kind: "head" });
  for (let p = 1; p <= 120; p++) {
    await c.put({ _id: entryId(p), kind: "entry", position: p, actor: p % 3 === 0 ? "a" : "b" });
    if (p === 60) await c.find({}, { sort: { _id: -1 }, limit: 1 }); // the id array now exists and must follow appends
  }
  const seen: number[] = [];
  let cursor: string | undefined;
  for (;;) {
    const filter: Filter = { kind: "entry", actor: "a", ...(cursor && { _id: { $lt: cursor } }) };
    const page = await c.find(filter, { sort: { _id: -1 }, limit: 7 });
    if (page.length === 0) break;
    seen.push(...page.map((d) => d.position as number));
    cursor = page.at(-1)!._id;
  }
  assert.equal(seen, Array.from({ length: 40 }, (_, i) => 120 - 3 * i));
});

test("TTL prune marks the id order stale and later sorted finds still see only survivors", async () => {
  const store = new MemoryReadStore({ ttlIntervalMs: 0 });
  const c = store.collection("t");
  await c.ensureIndex({ name: "ttl", keys: { at: 1 }, expireAfterSeconds: 0 });
  for (let i = 0; i < 10; i++) await c.put({ _id: `k${i}`, at: new Date(i * 1000) });
  assert.is((await c.find({}, { sort: { _id: 1 } })).length, 10);
  assert.is(store.prune(new Date(4500)), 5);
  await c.put({ _id: "k0", at: new Date(99_000) });
  assert.equal((await c.find({}, { sort: { _id: 1 }, limit: 3 })).map((d) => d._id), ["k0", "k5", "k6"]);
  assert.equal((await c.find({}, { sort: { _id: -1 }, limit: 2 })).map((d) => d._id), ["k9", "k8"]);
});

// Reads without copies: the store keeps a deeply frozen copy of what was put, shares the parts a
// write already froze, and hands out what it keeps. Compared with the plain definition, a deep
// copy taken at the time of the write (structuredClone: what the store used to keep and hand out,
// but keeping a field named __proto__ a field, as the store does).
const leaf = fc.oneof(fc.string({ maxLength: 3 }), fc.integer(), fc.boolean(), fc.constant(null), fc.date({ noInvalidDate: true }));
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  v: fc.oneof({ depthSize: "small" }, leaf, fc.array(tie("v"), { maxLength: 3 }), fc.dictionary(fc.constantFrom("a", "b", "__proto__", "constructor"), tie("v"), { maxKeys: 3 })),
})).v;

/** For comparing documents whose fields may be named "constructor" (which uvu's deep equality reads as the class). */
const canon = (v: unknown) => JSON.stringify(v, (_k, x: unknown) => (x instanceof Map ? { map: [...x] } : x));

/** Every change a reader could try on a document: each must throw (frozen) or leave the store as it was. */
function tryChanges(doc: unknown): void {
  if (doc === null || typeof doc !== "object" || doc instanceof Date) return;
  const attempt = (change: () => void) => {
    try {
      change();
    } catch (err) {
      assert.instance(err, TypeError);
    }
  };
  if (Array.isArray(doc)) {
    attempt(() => doc.push("x"));
    attempt(() => (doc[0] = "changed"));
    for (const item of doc) tryChanges(item);
    return;
  }
  const o = doc as Record<string, unknown>;
  attempt(() => (o.added = 1));
  for (const key of Object.keys(o)) {
    tryChanges(o[key]);
    attempt(() => (o[key] = "changed"));
  }
}

// An index keeps a value's only holder as the bare id, a few in an array, more in a Set (back to the
// bare id when one is left): every step of that must still narrow a find to exactly the holders.
test("an indexed value held by one, two, one and no documents: finds see exactly its holders", async () => {
  const store = new MemoryReadStore({ ttlIntervalMs: 0, indexShare: 1 });
  const c = store.collection("c");
  await c.ensureIndex({ name: "kind", keys: { kind: 1 } });
  const holders = async () => (await c.find({ kind: "entry" })).map((d) => d._id).sort();
  await c.put({ _id: "a", kind: "entry" });
  assert.equal(await holders(), ["a"]);
  await c.put({ _id: "a", kind: "entry", n: 1 }); // written again, same value
  await c.put({ _id: "b", kind: "entry" });
  assert.equal(await holders(), ["a", "b"]);
  await c.put({ _id: "a", kind: "head" });
  assert.equal(await holders(), ["b"]);
  assert.equal((await c.find({ kind: "head" })).map((d) => d._id), ["a"]);
  await c.delete("b");
  assert.equal(await holders(), []);
  await c.put({ _id: "c", kind: "entry" });
  assert.equal(await holders(), ["c"]);
  assert.is(await c.count({ kind: "entry" }), 1);
  // past the array's size to a Set and back down, in the order the holders came (a Set's)
  const many = Array.from({ length: 12 }, (_, i) => `m${String(i).padStart(2, "0")}`);
  for (const id of many) await c.put({ _id: id, kind: "entry" });
  await c.put({ _id: "m03", kind: "entry" }); // again: no second entry
  assert.equal((await c.find({ kind: "entry" })).map((d) => d._id), ["c", ...many]);
  for (const id of many.slice(0, 11)) await c.delete(id);
  assert.equal((await c.find({ kind: "entry" })).map((d) => d._id), ["c", "m11"]);
  await c.delete("c");
  assert.equal((await c.find({ kind: { $in: ["entry", "head"] } })).map((d) => d._id).sort(), ["a", "m11"]);
  await store.close();
});

// The same, as a property: enough documents on two values that a value's holders pass through the
// bare id, the array and the Set and back down, against the Set per value the index once kept
// (the ids of a value, in the order they came).
test("property: an index's holders of a value, through every size, are those of a Set per value, in its order", async () => {
  const holder = fc.constantFrom(...Array.from({ length: 16 }, (_, i) => `h${i}`));
  const step = fc.oneof(
    { weight: 3, arbitrary: fc.record({ put: holder, v: fc.constantFrom("x", "y") }) },
    { weight: 2, arbitrary: fc.record({ del: holder }) },
  );
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 60, maxLength: 120 }), async (steps) => {
      const store = new MemoryReadStore({ ttlIntervalMs: 0, indexShare: 1 });
      const c = store.collection("c");
      await c.ensureIndex({ name: "v", keys: { v: 1 } });
      const sets = new Map<string, Set<string>>([["x", new Set()], ["y", new Set()]]);
      for (const s of steps) {
        if ("put" in s) {
          for (const [v, ids] of sets) if (v !== s.v) ids.delete(s.put);
          sets.get(s.v)!.add(s.put);
          await c.put({ _id: s.put, v: s.v });
        } else {
          for (const ids of sets.values()) ids.delete(s.del);
          await c.delete(s.del);
        }
        for (const [v, ids] of sets) assert.equal((await c.find({ v })).map((d) => d._id), [...ids], JSON.stringify({ steps, v }));
      }
      await store.close();
    }),
    { numRuns: 200 },
  );
});

test("property: reads hand out what was put (as of the put), and no change to them reaches the store", async () => {
  await fc.assert(
    fc.asyncProperty(fc.dictionary(fc.constantFrom("x", "y", "z", "__proto__"), value, { maxKeys: 3 }), fc.boolean(), value, async (fields, withMap, later) => {
      const store = new MemoryReadStore({ ttlIntervalMs: 0 });
      const c = store.collection("c");
      const doc: Doc = { _id: "d", ...fields, ...(withMap ? { map: new Map([["k", { v: 1 }]]) } : {}) };
      const plain = structuredClone(doc);
      await c.put(doc);
      // the writer keeps its objects: changing them later changes nothing stored
      (doc as Record<string, unknown>).x = later;
      assert.is(canon(await c.get("d")), canon(plain));
      for (const read of [await c.get("d"), (await c.find({}))[0], (await c.aggregate([{ $match: {} }]))[0], (await c.find({}, { projection: { x: 1 } }))[0]]) tryChanges(read);
      if (withMap) ((await c.get("d"))!.map as Map<string, unknown>).set("k", "changed");
      assert.is(canon(await c.get("d")), canon(plain));
      // written back with one change: what did not change is shared, not copied again
      const got = (await c.get("d"))!;
      await c.put({ ...got, y: later });
      const again = (await c.get("d"))!;
      assert.is(canon(again), canon({ ...plain, y: later }));
      if (!withMap && got.z !== null && typeof got.z === "object") assert.ok(again.z === got.z, "an unchanged frozen part is shared");
      await store.close();
    }),
    { numRuns: 300 },
  );
});

test.run();
