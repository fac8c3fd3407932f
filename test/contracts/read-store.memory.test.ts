import * as assert from "uvu/assert";
import { ManualClock } from "../../src/platform/clock.js";
import { MemoryReadStore } from "../../src/projections/store/memory.js";
import { readStoreContract } from "./read-store.js";

const test = readStoreContract("memory", async () => {
  const store = new MemoryReadStore({ ttlIntervalMs: 0 });
  return { store, cleanup: () => store.close() };
});

test("memory: TTL index prunes documents whose date is older than expireAfterSeconds", async () => {
  const clock = new ManualClock(Date.parse("2026-01-01T00:00:00Z"));
  const store = new MemoryReadStore({ ttlIntervalMs: 0, clock });
  const c = store.collection("samples");
  await c.ensureIndex({ name: "ttl_at", keys: { at: 1 }, expireAfterSeconds: 60 });
  await c.putMany([
    { _id: "old", at: new Date("2025-12-31T23:58:00Z") },
    { _id: "fresh", at: new Date("2025-12-31T23:59:30Z") },
    { _id: "no-date", at: "2020-01-01T00:00:00Z" },
  ]);
  assert.is(store.prune(new Date(clock.now())), 1);
  assert.equal((await c.find({}, { sort: { _id: 1 } })).map((d) => d._id), ["fresh", "no-date"]);
  assert.instance((await c.get("fresh"))?.at, Date);
  clock.advance(60_000);
  assert.is(store.prune(new Date(clock.now())), 1);
  assert.is(await c.count(), 1);
  await store.close();
});

test("memory: building a unique index over colliding documents fails", async () => {
  const store = new MemoryReadStore({ ttlIntervalMs: 0 });
  const c = store.collection("users");
  await c.putMany([{ _id: "a", email: "x" }, { _id: "b", email: "x" }]);
  try {
    await c.ensureIndex({ name: "by_email", keys: { email: 1 }, unique: true });
    assert.unreachable();
  } catch (err) {
    assert.is((err as Error).name, "DuplicateKeyError");
  }
});

test("memory: drop forgets the collection's indexes, like MongoDB", async () => {
  const store = new MemoryReadStore({ ttlIntervalMs: 0 });
  const c = store.collection("users");
  await c.ensureIndex({ name: "by_email", keys: { email: 1 }, unique: true });
  await c.put({ _id: "a", email: "x" });
  await store.drop("users");
  await c.putMany([{ _id: "a", email: "x" }, { _id: "b", email: "x" }]);
  assert.is(await c.count(), 2);
});

test.run();
