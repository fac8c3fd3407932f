// Index buckets (memory-buckets.ts) hold a value's ids as a bare id, a small array, an ascending
// run or a Set: after any mix of adds (ascending, as audit entries come, or not) and deletes they
// must hold exactly the ids of their plain definition, a Set per value, in the same order.
import fc from "fast-check";
import { find as mingoFind } from "mingo";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { bucketAdd, bucketDelete, bucketSize, SMALL_BUCKET, type Bucket } from "../../src/projections/store/memory-buckets.js";
import { MemoryReadStore } from "../../src/projections/store/memory.js";
import type { Doc } from "../../src/projections/store/port.js";

const idOf = (n: number) => `e:${String(n).padStart(4, "0")}`;

/** Steps: "next" adds the id after the highest so far (a run grows), "id" adds or deletes any id. */
const step = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant("next" as const), v: fc.constantFrom("a", "b") }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constantFrom("add" as const, "delete" as const), v: fc.constantFrom("a", "b"), n: fc.integer({ min: 0, max: 40 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("deleteNewest" as const), v: fc.constantFrom("a", "b") }) },
);

const idsIn = (b: Bucket | undefined): string[] => (b === undefined ? [] : typeof b === "string" ? [b] : [...b]);

test("property: buckets hold what a Set per value holds, in its order, whatever the history", () => {
  fc.assert(
    fc.property(fc.array(step, { minLength: 30, maxLength: 150 }), (steps) => {
      const byValue = new Map<unknown, Bucket>();
      const plain = new Map<string, Set<string>>();
      let top = 0;
      for (const s of steps) {
        const model = plain.get(s.v) ?? new Set<string>();
        plain.set(s.v, model);
        if (s.op === "next") {
          const id = idOf(++top);
          bucketAdd(byValue, s.v, id);
          model.add(id);
        } else if (s.op === "add") {
          bucketAdd(byValue, s.v, idOf(s.n));
          model.add(idOf(s.n));
          top = Math.max(top, s.n);
        } else if (s.op === "delete") {
          bucketDelete(byValue, s.v, idOf(s.n));
          model.delete(idOf(s.n));
        } else {
          const newest = [...model].at(-1);
          if (newest !== undefined) {
            bucketDelete(byValue, s.v, newest);
            model.delete(newest);
          }
        }
        for (const [v, ids] of plain) {
          const b = byValue.get(v);
          assert.equal(idsIn(b), [...ids], `value ${v}`);
          if (b !== undefined) assert.is(bucketSize(b), ids.size);
          // no container of one or none is left behind; a long array is a run
          if (ids.size <= 1) assert.ok(b === undefined || typeof b === "string");
          if (Array.isArray(b) && b.length > SMALL_BUCKET) for (let i = 1; i < b.length; i++) assert.ok(b[i - 1]! < b[i]!);
        }
      }
    }),
    { numRuns: 500 },
  );
});

test("property: indexed finds over runs equal the plain definition after writes in id order, out of order, and deletes", async () => {
  const op = fc.oneof(
    { weight: 6, arbitrary: fc.record({ op: fc.constant("append" as const), kind: fc.constantFrom("entry", "other"), type: fc.constantFrom("A", "B") }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("rewrite" as const), n: fc.nat(), kind: fc.constantFrom("entry", "other"), type: fc.constantFrom("A", "B") }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("delete" as const), n: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("prune" as const), below: fc.nat() }) },
  );
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 20, maxLength: 80 }), fc.boolean(), async (ops, indexFirst) => {
      const store = new MemoryReadStore({ ttlIntervalMs: 0, indexShare: 1 });
      const c = store.collection("c");
      const shadow = new Map<string, Doc>();
      const index = async () => {
        await c.ensureIndex({ name: "kind", keys: { kind: 1, position: -1 } });
        await c.ensureIndex({ name: "type", keys: { type: 1, position: -1 } });
      };
      if (indexFirst) await index();
      let top = 0;
      for (const s of ops) {
        if (s.op === "append" || s.op === "rewrite") {
          const position = s.op === "append" ? ++top : top === 0 ? 0 : (s.n % top) + 1;
          const doc = { _id: idOf(position), position, kind: s.kind, type: s.type };
          await c.put(doc);
          shadow.set(doc._id, doc);
        } else if (s.op === "delete") {
          const id = idOf(top === 0 ? 0 : (s.n % top) + 1);
          await c.delete(id);
          shadow.delete(id);
        } else {
          const below = top === 0 ? 0 : s.below % (top + 1);
          await c.deleteMany({ position: { $lt: below } });
          for (const [k, d] of shadow) if ((d.position as number) < below) shadow.delete(k);
        }
      }
      if (!indexFirst) await index();
      for (const filter of [{ kind: "entry" }, { type: "B" }, { kind: "other", type: "A" }, { kind: { $in: ["entry", "other"] } }]) {
        const want = (mingoFind([...shadow.values()], filter).all() as Doc[]).map((d) => d._id).sort();
        assert.equal((await c.find(filter)).map((d) => d._id).sort(), want, JSON.stringify(filter));
        assert.equal((await c.find(filter, { sort: { _id: -1 }, limit: 3 })).map((d) => d._id), want.slice(-3).reverse(), JSON.stringify(filter));
        assert.is(await c.count(filter), want.length);
      }
      await store.close();
    }),
    { numRuns: 300 },
  );
});

test.run();
