// Dates the maker promises never to change (fixedDate) are kept by the memory store as they are,
// so a document built frozen from frozen parts is stored without a copy; every other Date is
// still copied, frozen or not, since a frozen Date's setters still work.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { fixedDate, isFixedDate } from "../../src/projections/store/kept-as-is.js";
import { MemoryReadStore } from "../../src/projections/store/memory.js";

type Item = {
  _id: string;
  at: Date;
  tags?: readonly string[];
};

test("fixedDate is a frozen Date of the same time, of Date's own prototype", () => {
  const d = fixedDate("2026-03-01T00:00:01.234Z");
  assert.ok(Object.isFrozen(d) && isFixedDate(d));
  // the brand is no property: nothing that reads or copies the Date sees it
  assert.equal(Reflect.ownKeys(d), []);
  assert.is(JSON.stringify({ d }), JSON.stringify({ d: new Date("2026-03-01T00:00:01.234Z") }));
  assert.not.ok(isFixedDate(structuredClone(d)));
  assert.is(Object.getPrototypeOf(d), Date.prototype);
  assert.is(d.getTime(), new Date("2026-03-01T00:00:01.234Z").getTime());
  assert.is(fixedDate(5).getTime(), 5);
  assert.not.ok(isFixedDate(Object.freeze(new Date(5))), "freezing alone does not make a Date fixed");
});

test("a fixed Date is stored as it is; any other Date, frozen or not, is copied", async () => {
  const c = new MemoryReadStore({ ttlIntervalMs: 0 }).collection<Item>("items");
  const fixed = fixedDate(1_000);
  await c.put({ _id: "fixed", at: fixed });
  assert.is((await c.get("fixed"))!.at, fixed);
  const frozen = Object.freeze(new Date(2_000));
  await c.put({ _id: "frozen", at: frozen });
  frozen.setTime(9_999);
  assert.is((await c.get("frozen"))!.at.getTime(), 2_000, "a frozen Date can still be changed: it was copied");
  const open = new Date(3_000);
  await c.put({ _id: "open", at: open });
  open.setTime(9_999);
  assert.is((await c.get("open"))!.at.getTime(), 3_000);
});

test("a frozen document of frozen parts and fixed Dates is stored without a copy; one with an open part is copied", async () => {
  const c = new MemoryReadStore({ ttlIntervalMs: 0 }).collection<Item>("items");
  const doc: Item = Object.freeze({ _id: "a", at: fixedDate(1_000), tags: Object.freeze(["x"]) });
  await c.put(doc);
  assert.is(await c.get("a"), doc);
  const tags = ["y"];
  const open: Item = Object.freeze({ _id: "b", at: fixedDate(1_000), tags });
  await c.put(open);
  tags.push("mutated-after-put");
  const got = (await c.get("b"))!;
  assert.is.not(got, open);
  assert.equal(got.tags, ["y"]);
  assert.is(got.at, open.at, "its fixed Date is still shared");
});

test.run();
