// The memory store's fast inclusion projection (src/projections/store/simple-projection.ts) answers
// exactly what mingo's projection answers, or declines.
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { find } from "mingo";
import { simpleInclusion, simpleSort } from "../../src/projections/store/simple-projection.js";

const leaf = fc.oneof(fc.integer(), fc.string({ maxLength: 3 }), fc.boolean(), fc.constant(null));
const inner = fc.dictionary(fc.constantFrom("i", "n", "p"), fc.oneof(leaf, fc.array(leaf, { maxLength: 2 })), { maxKeys: 3 });
const value = fc.oneof(leaf, inner, fc.array(fc.oneof(inner, leaf), { maxLength: 3 }));
const doc = fc.record({ _id: fc.string({ minLength: 1, maxLength: 4 }), a: value, b: value, c: value }, { requiredKeys: ["_id"] });
const path = fc.constantFrom("a", "b", "c", "a.i", "a.n", "b.p", "c.i", "missing", "missing.i");

test("a fast projection equals mingo's wherever it answers", () => {
  let answered = 0;
  fc.assert(
    fc.property(fc.array(doc, { maxLength: 4 }), fc.uniqueArray(path, { minLength: 1, maxLength: 4 }), (docs, paths) => {
      const projection = Object.fromEntries(paths.map((p) => [p, 1]));
      const pick = simpleInclusion(projection);
      if (!pick) return;
      const fast = docs.map((d) => pick(d as Record<string, unknown>));
      if (fast.some((d) => d === null)) return;
      assert.equal(fast, find(docs, {}, projection).all());
      answered++;
    }),
    { numRuns: 500 },
  );
  // a picker that always declined would pass the property vacuously
  assert.ok(answered > 50, `answered ${answered} of 500`);
});

test("exclusions, operators and deeper paths are left to mingo", () => {
  assert.is(simpleInclusion({ state: 0 }), null);
  assert.is(simpleInclusion({ "a.b.c": 1 }), null);
  assert.is(simpleInclusion({ a: { $slice: 1 } }), null);
  assert.is(simpleInclusion({ a: 1, "a.b": 1 }), null);
});

test("a plain sort equals mingo's wherever it answers", () => {
  const row = fc.record({ _id: fc.string({ minLength: 1, maxLength: 3 }), at: fc.oneof(fc.string({ maxLength: 3 }), fc.constant(null)), n: fc.integer({ min: -3, max: 3 }) });
  const spec = fc.constantFrom<Record<string, 1 | -1>[]>([{ at: -1, _id: -1 }], [{ at: 1 }], [{ n: 1, _id: -1 }], [{ n: -1, at: 1, _id: 1 }]);
  let answered = 0;
  fc.assert(
    fc.property(fc.uniqueArray(row, { selector: (r) => r._id, maxLength: 8 }), spec, (rows, [sort]) => {
      const fast = simpleSort(rows, sort!);
      if (!fast) return;
      assert.equal(fast, find(rows, {}).sort(sort!).all());
      answered++;
    }),
    { numRuns: 500 },
  );
  assert.ok(answered > 50, `answered ${answered} of 500`);
});

test.run();
