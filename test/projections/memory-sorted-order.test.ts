// A find sorted on fields and _id (the deployments list: createdAt and _id, newest first) walks an
// order the memory store keeps for that sort and stops once the page is full. The order is kept as
// documents are written and deleted, not rebuilt by the first find after any write: in production a
// projection rewrites deployments throughout a rollout while lists are read. These tests check
// that the kept order is the one array, changed in place, and, over random interleavings of writes,
// deletes and finds, that every find answers as mingo's filter-then-sort does.
import fc from "fast-check";
import { find as mingoFind } from "mingo";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { MemoryReadStore } from "../../src/projections/store/memory.js";
import { DuplicateKeyError, type Doc, type Filter } from "../../src/projections/store/port.js";

const NEWEST_FIRST = { createdAt: -1, _id: -1 } as const;
const orderOf = (store: MemoryReadStore, name: string, sort: Record<string, 1 | -1>) => store.state(name).sortedBy.get(JSON.stringify(sort))?.docs;
const at = (i: number) => new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString();

test("writes and deletes keep the order a sorted find was answered from, in place", async () => {
  const store = new MemoryReadStore({ ttlIntervalMs: 0 });
  const c = store.collection("deployments");
  for (let i = 0; i < 200; i++) await c.put({ _id: `d${String(i).padStart(3, "0")}`, createdAt: at(i % 150), status: "Running" });
  const page = async () => (await c.find({}, { sort: NEWEST_FIRST, limit: 3 })).map((d) => d._id);
  assert.equal(await page(), ["d149", "d148", "d147"]);
  const order = orderOf(store, "deployments", NEWEST_FIRST);
  assert.ok(order, "the first sorted find made the order");
  await c.put({ _id: "d010", createdAt: at(10), status: "Succeeded" }); // rewritten in place
  await c.put({ _id: "d500", createdAt: at(1000), status: "Pending" }); // new, newest
  await c.put({ _id: "d020", createdAt: at(999) }); // moved
  await c.delete("d149");
  assert.equal(await page(), ["d500", "d020", "d148"]);
  assert.ok(orderOf(store, "deployments", NEWEST_FIRST) === order, "the same array, not a rebuilt one");
  assert.is(order!.length, 200);
  assert.ok(order!.includes((await c.get("d010"))!), "the rewritten document's new version is in it");
  await store.close();
});

test("a value simpleSort cannot order drops the kept order to mingo's sort, and it comes back once the value is gone", async () => {
  const store = new MemoryReadStore({ ttlIntervalMs: 0 });
  const c = store.collection("deployments");
  for (let i = 0; i < 5; i++) await c.put({ _id: `d${i}`, createdAt: at(i) });
  const ids = async () => (await c.find({}, { sort: NEWEST_FIRST })).map((d) => d._id);
  assert.equal(await ids(), ["d4", "d3", "d2", "d1", "d0"]);
  await c.put({ _id: "d9", createdAt: null }); // null sorts below every string, as in MongoDB
  await c.put({ _id: "d8", createdAt: 5 }); // a number below strings too
  assert.equal(await ids(), ["d4", "d3", "d2", "d1", "d0", "d8", "d9"]);
  assert.is(orderOf(store, "deployments", NEWEST_FIRST), null);
  await c.delete("d9");
  await c.put({ _id: "d8", createdAt: at(9) });
  assert.equal(await ids(), ["d8", "d4", "d3", "d2", "d1", "d0"]);
  const order = orderOf(store, "deployments", NEWEST_FIRST);
  assert.ok(order, "kept again");
  await c.delete("d0");
  assert.equal(await ids(), ["d8", "d4", "d3", "d2", "d1"]);
  assert.ok(orderOf(store, "deployments", NEWEST_FIRST) === order);
  await store.close();
});

test("cursor pages and an $or of ranges start and stop the walk where they allow, never tighter", async () => {
  const store = new MemoryReadStore({ ttlIntervalMs: 0 });
  const c = store.collection("deployments");
  const docs: Doc[] = [];
  for (let i = 0; i < 30; i++) docs.push({ _id: `d${String(i).padStart(2, "0")}`, createdAt: at(i % 12), n: (i % 5) - 2 });
  await c.putMany(docs);
  const byMingo = (filter: Filter, sort: Record<string, 1 | -1>) => (mingoFind(docs, filter).sort(sort).all() as Doc[]).map((d) => d._id);
  const ids = async (filter: Filter, sort: Record<string, 1 | -1>) => (await c.find(filter, { sort })).map((d) => d._id);
  // the union's bound is its loosest branch's
  for (const sort of [{ n: 1, _id: 1 }, { n: -1, _id: 1 }] as const) {
    for (const filter of [
      { $or: [{ n: { $gt: -1 } }, { n: { $gte: 1 } }] },
      { $or: [{ n: { $lt: 1 } }, { n: { $lte: -1 } }] },
      { $or: [{ n: Number.NaN }, { n: { $gt: 0 } }] },
      { n: { $gte: -1, $lt: 2 } },
      { n: 0 },
    ]) {
      assert.equal(await ids(filter, sort), byMingo(filter, sort), JSON.stringify({ filter, sort }));
    }
  }
  // newest first by cursor, four at a time: every document once, in the order of the whole list
  const seen: string[] = [];
  let filter: Filter = {};
  for (;;) {
    const page = await c.find(filter, { sort: NEWEST_FIRST, limit: 4 });
    if (!page.length) break;
    seen.push(...page.map((d) => d._id));
    const last = page.at(-1)!;
    filter = { $or: [{ createdAt: { $lt: last.createdAt } }, { createdAt: last.createdAt, _id: { $lt: last._id } }] };
  }
  assert.equal(seen, byMingo({}, NEWEST_FIRST));
  await store.close();
});

// Sort values: ISO-like strings and numbers that tie often (so _id decides), and now and then a value
// simpleSort cannot order (null, missing, a boolean, NaN, a Date, an array): the store must then
// answer as mingo does, and keep its order again once such values are gone.
const id = fc.stringMatching(/^[a-e]{1,2}$/);
// createdAt holds strings and n numbers, so that a collection is mostly orderable (then the kept
// order answers); now and then one of the other kind makes it unorderable, as the values above do
const text = fc.constantFrom("2026-01", "2026-02", "2026-03", "a", "B");
const num = fc.integer({ min: -2, max: 2 });
const orderable = fc.oneof(text, num);
const unorderable = fc.oneof(fc.constant(null), fc.constant(undefined), fc.constant(true), fc.constant(Number.NaN), fc.constant(new Date(0)), fc.constant([1]));
const sortValue = (own: fc.Arbitrary<string | number>, other: fc.Arbitrary<string | number>) =>
  fc.oneof({ weight: 24, arbitrary: own }, { weight: 1, arbitrary: other }, { weight: 1, arbitrary: unorderable });
const status = fc.constantFrom("Running", "Succeeded");

// bounds on a sorted field (the walk then starts and stops where they allow): ranges, equalities,
// a cursor's $or, bounds of the other kind (a number against strings), and $or branches that leave
// the field free
const field = fc.constantFrom("createdAt", "n");
const valueOf = (f: string) => (f === "n" ? fc.oneof({ weight: 8, arbitrary: num }, { weight: 1, arbitrary: text }) : fc.oneof({ weight: 8, arbitrary: text }, { weight: 1, arbitrary: num }));
const rangeOf = (f: string) => fc.dictionary(fc.constantFrom("$gt", "$gte", "$lt", "$lte", "$eq", "$ne"), valueOf(f), { minKeys: 1, maxKeys: 2 });
const boundFilter: fc.Arbitrary<Filter> = fc.oneof(
  field.chain((f) => fc.oneof(valueOf(f), rangeOf(f)).map((c) => ({ [f]: c }))),
  field.chain((f) =>
    fc.tuple(valueOf(f), id, fc.constantFrom(1, -1)).map(([v, _id, dir]) => ({
      $or: [{ [f]: { [dir === -1 ? "$lt" : "$gt"]: v } }, { [f]: v, _id: { [dir === -1 ? "$lt" : "$gt"]: _id } }],
    })),
  ),
  field.chain((f) => fc.tuple(rangeOf(f), fc.oneof(rangeOf(f), fc.constant(null))).map(([a, b]) => ({ $or: [{ [f]: a }, b ? { [f]: b } : { status: "Running" }] }))),
  fc.tuple(field, field).chain(([f, g]) => fc.tuple(rangeOf(f), rangeOf(g)).map(([a, b]) => ({ [f]: a, $or: [{ [g]: b }, { [f]: a }] }))),
);

const step = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant("put" as const), _id: id, createdAt: sortValue(text, num), n: sortValue(num, text), status, lastPosition: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("putMany" as const), ids: fc.array(id, { maxLength: 3 }), createdAt: text }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("delete" as const), _id: id }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("deleteMany" as const), status }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("prune" as const), before: fc.integer({ min: 0, max: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("drop" as const) }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant("find" as const), sort: fc.integer({ min: 0, max: 4 }), filter: fc.oneof(fc.integer({ min: 0, max: 3 }), boundFilter), limit: fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }), skip: fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }) }) },
);
const SORTS: Record<string, 1 | -1>[] = [NEWEST_FIRST, { n: 1, _id: 1 }, { createdAt: 1, n: -1, _id: 1 }, { _id: -1, n: 1 }, { "x.y": 1, _id: 1 }];
const FILTERS: Filter[] = [{}, { status: "Running" }, { n: { $gte: 0 } }, { $or: [{ status: "Succeeded" }, { n: 1 }] }];
const PROJECTION = Object.freeze({ createdAt: 1 as const, status: 1 as const });

test("property: every find of a random interleaving of writes, deletes and finds is mingo's filter-then-sort", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(step, { maxLength: 60 }), fc.boolean(), async (steps, unique) => {
      const store = new MemoryReadStore({ ttlIntervalMs: 0 });
      let c = store.collection("c");
      const ready = async () => {
        await c.ensureIndex({ name: "ttl", keys: { expires: 1 }, expireAfterSeconds: 0 });
        // a unique index makes some writes fail: a failed write must leave every kept order as it was
        if (unique) await c.ensureIndex({ name: "u", keys: { n: 1, status: 1 }, unique: true });
      };
      await ready();
      let shadow = new Map<string, Doc>();
      const write = async (doc: Doc) => {
        const stored = shadow.get(doc._id);
        if (typeof doc.lastPosition === "number" && typeof stored?.lastPosition === "number" && doc.lastPosition < stored.lastPosition) return c.put(doc);
        // the store's unique key is the JSON of the indexed values (NaN, missing and null alike)
        const key = (d: Doc) => JSON.stringify([d.n ?? null, d.status]);
        const clash = unique && [...shadow.values()].some((d) => d._id !== doc._id && key(d) === key(doc));
        try {
          await c.put(doc);
          assert.ok(!clash, "the put should have failed");
          shadow.set(doc._id, doc);
        } catch (err) {
          if (!(err instanceof DuplicateKeyError) || !clash) throw err;
        }
      };
      for (const [i, s] of steps.entries()) {
        const context = () => JSON.stringify({ steps: steps.slice(0, i + 1), unique }, (_k, v: unknown) => (typeof v === "number" && Number.isNaN(v) ? "NaN" : v));
        if (s.op === "put") {
          const doc: Doc = { _id: s._id, status: s.status, expires: new Date(i * 1000) };
          if (s.createdAt !== undefined) doc.createdAt = s.createdAt;
          if (s.n !== undefined) doc.n = s.n;
          if (s.lastPosition !== undefined) doc.lastPosition = s.lastPosition;
          await write(doc);
        } else if (s.op === "putMany") {
          for (const _id of s.ids) await write({ _id, createdAt: s.createdAt, n: 0, status: "Running", expires: new Date(i * 1000) });
        } else if (s.op === "delete") {
          assert.is(await c.delete(s._id), shadow.delete(s._id), context());
        } else if (s.op === "deleteMany") {
          await c.deleteMany({ status: s.status });
          for (const [k, d] of shadow) if (d.status === s.status) shadow.delete(k);
        } else if (s.op === "prune") {
          // every expiry is the put's step in seconds: the documents put before step `before` go
          const cutoff = s.before * 1000;
          store.prune(new Date(cutoff));
          for (const [k, d] of shadow) if ((d.expires as Date).getTime() <= cutoff) shadow.delete(k);
        } else if (s.op === "drop") {
          await store.drop("c");
          c = store.collection("c");
          await ready();
          shadow = new Map();
        } else {
          const sort = SORTS[s.sort]!;
          const filter = typeof s.filter === "number" ? FILTERS[s.filter]! : s.filter;
          const skip = s.skip ?? 0;
          const projection = s.sort % 2 ? PROJECTION : undefined;
          const expected = (mingoFind([...shadow.values()], filter, projection).sort(sort).all() as Doc[]).slice(skip, s.limit ? skip + s.limit : undefined);
          const got = await c.find(filter, { sort, limit: s.limit, skip: s.skip, projection });
          assert.equal(got, expected, context());
        }
      }
      await store.close();
    }),
    { numRuns: 1500 },
  );
});

test.run();
