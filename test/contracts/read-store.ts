// The behaviour every ReadStore adapter must share. Each adapter's test file calls readStoreContract.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { DuplicateKeyError, type Doc, type ReadStore } from "../../src/projections/store/port.js";

export type ReadStoreFactory = () => Promise<{ store: ReadStore; cleanup(): Promise<void> }>;

interface Item extends Doc {
  env: string;
  n: number;
  tags?: string[];
}

export function readStoreContract(name: string, factory: ReadStoreFactory) {
  const test = suite(`ReadStore contract: ${name}`);

  async function withStore(fn: (store: ReadStore) => Promise<void>): Promise<void> {
    const { store, cleanup } = await factory();
    try {
      await fn(store);
    } finally {
      await cleanup();
    }
  }

  const items = (count: number): Item[] =>
    Array.from({ length: count }, (_, i) => ({ _id: `i${String(i).padStart(3, "0")}`, env: i % 2 ? "QA" : "Production", n: i }));

  test("get returns null for a missing document, put then get returns it", () =>
    withStore(async (store) => {
      const c = store.collection<Item>("items");
      assert.is(await c.get("nope"), null);
      await c.put({ _id: "a", env: "QA", n: 1, tags: ["x"] });
      assert.equal(await c.get("a"), { _id: "a", env: "QA", n: 1, tags: ["x"] });
    }));

  test("put replaces the whole document", () =>
    withStore(async (store) => {
      const c = store.collection<Item>("items");
      await c.put({ _id: "a", env: "QA", n: 1, tags: ["x"] });
      await c.put({ _id: "a", env: "Staging", n: 2 });
      assert.equal(await c.get("a"), { _id: "a", env: "Staging", n: 2 });
      assert.is(await c.count(), 1);
    }));

  test("what is stored is a copy of what was put; changing a returned document never changes it (it throws, or changes a copy)", () =>
    withStore(async (store) => {
      const c = store.collection<Item>("items");
      const doc: Item = { _id: "a", env: "QA", n: 1, tags: ["x"] };
      await c.put(doc);
      doc.tags!.push("mutated-after-put");
      // the memory store hands out its own documents, frozen; MongoDB's driver hands out copies
      const attempt = (change: () => void) => {
        try {
          change();
        } catch (err) {
          assert.instance(err, TypeError);
        }
      };
      const got = (await c.get("a"))!;
      attempt(() => got.tags!.push("mutated-after-get"));
      const [found] = await c.find({});
      attempt(() => (found!.n = 99));
      const [aggregated] = await c.aggregate<Item>([{ $match: { _id: "a" } }]);
      attempt(() => (aggregated!.n = 98));
      assert.equal(await c.get("a"), { _id: "a", env: "QA", n: 1, tags: ["x"] });
    }));

  test("putMany writes every document", () =>
    withStore(async (store) => {
      const c = store.collection<Item>("items");
      await c.putMany(items(10));
      await c.putMany([]);
      assert.is(await c.count(), 10);
      assert.equal((await c.get("i007"))?.n, 7);
    }));

  test("delete reports whether a document was removed", () =>
    withStore(async (store) => {
      const c = store.collection<Item>("items");
      await c.putMany(items(3));
      assert.is(await c.delete("i001"), true);
      assert.is(await c.delete("i001"), false);
      assert.is(await c.get("i001"), null);
      assert.is(await c.count(), 2);
    }));

  test("deleteMany removes the matching documents and returns how many", () =>
    withStore(async (store) => {
      const c = store.collection<Item>("items");
      await c.putMany(items(10));
      assert.is(await c.deleteMany({ env: "QA" }), 5);
      assert.is(await c.count(), 5);
      assert.is(await c.count({ env: "QA" }), 0);
      assert.is(await c.deleteMany({ _id: "i000" }), 1);
      assert.is(await c.deleteMany({ _id: "i000" }), 0);
    }));

  test("find filters, sorts, skips, limits and projects", () =>
    withStore(async (store) => {
      const c = store.collection<Item>("items");
      await c.putMany(items(10));
      const qa = await c.find({ env: "QA", n: { $gte: 3 } }, { sort: { n: -1 } });
      assert.equal(qa.map((d) => d.n), [9, 7, 5, 3]);
      const page = await c.find({}, { sort: { n: 1 }, skip: 2, limit: 3 });
      assert.equal(page.map((d) => d.n), [2, 3, 4]);
      const projected = await c.find({ _id: "i004" }, { projection: { n: 1 } });
      assert.equal(projected, [{ _id: "i004", n: 4 }]);
      assert.equal(await c.find({ _id: "missing" }), []);
      const byIds = await c.find({ _id: { $in: ["i001", "i002", "zzz"] } }, { sort: { _id: 1 } });
      assert.equal(byIds.map((d) => d._id), ["i001", "i002"]);
      assert.equal(await c.find({ _id: "i001", env: "Production" }), []);
    }));

  test("cursor pagination ({_id: {$lt: cursor}}, newest first) visits every document exactly once", () =>
    withStore(async (store) => {
      const c = store.collection<Item>("items");
      await c.putMany(items(23));
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let pages = 0; pages < 10; pages++) {
        const page = await c.find(cursor ? { _id: { $lt: cursor } } : {}, { sort: { _id: -1 }, limit: 5 });
        if (page.length === 0) break;
        seen.push(...page.map((d) => d._id));
        cursor = page[page.length - 1]!._id;
      }
      assert.equal(seen, items(23).map((d) => d._id).reverse());
    }));

  test("count with and without a filter", () =>
    withStore(async (store) => {
      const c = store.collection<Item>("items");
      assert.is(await c.count(), 0);
      await c.putMany(items(7));
      assert.is(await c.count(), 7);
      assert.is(await c.count({ env: "Production" }), 4);
      assert.is(await c.count({ n: { $in: [1, 2, 100] } }), 2);
    }));

  test("aggregate groups", () =>
    withStore(async (store) => {
      const c = store.collection<Item>("items");
      await c.putMany(items(10));
      const out = await c.aggregate<{ _id: string; total: number; count: number }>([
        { $group: { _id: "$env", total: { $sum: "$n" }, count: { $sum: 1 } } },
        { $sort: { _id: 1 } },
      ]);
      assert.equal(out, [
        { _id: "Production", total: 20, count: 5 },
        { _id: "QA", total: 25, count: 5 },
      ]);
    }));

  test("aggregate $graphLookup walks a graph stored in another collection", () =>
    withStore(async (store) => {
      // node -> cluster -> module versions, as the knowledge graph stores them
      await store.collection("edges").putMany([
        { _id: "e1", from: "node:n1", to: "cluster:Production" },
        { _id: "e2", from: "cluster:Production", to: "module:kmod@1.0.0" },
        { _id: "e3", from: "module:kmod@1.0.0", to: "module:libk@2.0.0" },
        { _id: "e4", from: "cluster:QA", to: "module:other@1.0.0" },
      ]);
      await store.collection("nodes").put({ _id: "n1", key: "node:n1" });
      const out = await store.collection("nodes").aggregate<{ _id: string; reach: { to: string; depth: number }[] }>([
        { $graphLookup: { from: "edges", startWith: "$key", connectFromField: "to", connectToField: "from", as: "reach", depthField: "depth" } },
        { $project: { reach: { to: 1, depth: 1 } } },
      ]);
      assert.is(out.length, 1);
      const reach = out[0]!.reach.map((r) => `${r.depth}:${r.to}`).sort();
      assert.equal(reach, ["0:cluster:Production", "1:module:kmod@1.0.0", "2:module:libk@2.0.0"]);
    }));

  test("a unique index rejects a second owner with DuplicateKeyError and leaves stored documents unchanged", () =>
    withStore(async (store) => {
      const c = store.collection<Item & { email?: string }>("users");
      await c.ensureIndex({ name: "by_email", keys: { email: 1 }, unique: true });
      await c.put({ _id: "u1", env: "QA", n: 1, email: "a@x" });
      await c.put({ _id: "u1", env: "QA", n: 2, email: "a@x" }); // same document keeps its own key
      await c.put({ _id: "u2", env: "QA", n: 3, email: "b@x" });
      try {
        await c.put({ _id: "u2", env: "QA", n: 4, email: "a@x" });
        assert.unreachable("expected DuplicateKeyError");
      } catch (err) {
        assert.instance(err, DuplicateKeyError);
        assert.is((err as DuplicateKeyError).index, "by_email");
      }
      try {
        await c.put({ _id: "u3", env: "QA", n: 5, email: "a@x" });
        assert.unreachable("expected DuplicateKeyError");
      } catch (err) {
        assert.instance(err, DuplicateKeyError);
      }
      assert.equal(await c.get("u2"), { _id: "u2", env: "QA", n: 3, email: "b@x" });
      assert.is(await c.get("u3"), null);
      // freeing a key lets another document take it
      await c.put({ _id: "u1", env: "QA", n: 6, email: "c@x" });
      await c.put({ _id: "u2", env: "QA", n: 7, email: "a@x" });
      assert.is((await c.get("u2"))?.email, "a@x");
      await c.delete("u2");
      await c.put({ _id: "u3", env: "QA", n: 8, email: "a@x" });
      assert.is(await c.count(), 2);
    }));

  test("putMany writes the valid documents and throws DuplicateKeyError for the violation", () =>
    withStore(async (store) => {
      const c = store.collection<Item & { email: string }>("users");
      await c.ensureIndex({ name: "by_email", keys: { email: 1 }, unique: true });
      await c.put({ _id: "u1", env: "QA", n: 1, email: "a@x" });
      try {
        await c.putMany([
          { _id: "u2", env: "QA", n: 2, email: "b@x" },
          { _id: "u3", env: "QA", n: 3, email: "a@x" },
        ]);
        assert.unreachable("expected DuplicateKeyError");
      } catch (err) {
        assert.instance(err, DuplicateKeyError);
      }
      assert.is((await c.get("u2"))?.email, "b@x");
      assert.is(await c.get("u3"), null);
      assert.is((await c.get("u1"))?.n, 1);
    }));

  test("ensureIndex is idempotent", () =>
    withStore(async (store) => {
      const c = store.collection<Item>("items");
      await c.ensureIndex({ name: "by_env_n", keys: { env: 1, n: -1 } });
      await c.ensureIndex({ name: "by_env_n", keys: { env: 1, n: -1 } });
      await c.putMany(items(4));
      assert.is(await c.count({ env: "QA" }), 2);
    }));

  test("drop empties one collection, leaves the others, and tolerates a missing collection", () =>
    withStore(async (store) => {
      await store.collection<Item>("a").putMany(items(3));
      await store.collection<Item>("b").putMany(items(2));
      await store.drop("a");
      await store.drop("never-created");
      assert.is(await store.collection("a").count(), 0);
      assert.is(await store.collection("a").get("i000"), null);
      assert.is(await store.collection("b").count(), 2);
      await store.collection<Item>("a").put({ _id: "again", env: "QA", n: 0 });
      assert.is(await store.collection("a").count(), 1);
    }));

  test("put and putMany never move a document to an older lastPosition; equal or newer replace", () =>
    withStore(async (store) => {
      const c = store.collection<Item & { lastPosition?: number }>("items");
      await c.put({ _id: "a", env: "QA", n: 1, lastPosition: 10 });
      await c.put({ _id: "a", env: "QA", n: 0, lastPosition: 9 }); // a late second writer
      assert.equal(await c.get("a"), { _id: "a", env: "QA", n: 1, lastPosition: 10 });
      await c.put({ _id: "a", env: "QA", n: 2, lastPosition: 10 });
      assert.is((await c.get("a"))?.n, 2, "an equal position replaces (a replay after a lost acknowledgement)");
      await c.putMany([
        { _id: "a", env: "QA", n: 3, lastPosition: 4 },
        { _id: "b", env: "QA", n: 4, lastPosition: 4 },
      ]);
      assert.is((await c.get("a"))?.n, 2, "putMany skips the older document");
      assert.is((await c.get("b"))?.n, 4, "and writes the others");
      await c.putMany([{ _id: "a", env: "QA", n: 5, lastPosition: 11 }]);
      assert.equal(await c.get("a"), { _id: "a", env: "QA", n: 5, lastPosition: 11 });
      // documents without a position (users, checkpoints) are replaced as before
      await c.put({ _id: "p", env: "QA", n: 1 });
      await c.put({ _id: "p", env: "QA", n: 0 });
      assert.is((await c.get("p"))?.n, 0);
    }));

  test("a skipped older put does not trip a unique index", () =>
    withStore(async (store) => {
      const c = store.collection<Item & { email: string; lastPosition: number }>("users");
      await c.ensureIndex({ name: "by_email", keys: { email: 1 }, unique: true });
      await c.put({ _id: "u1", env: "QA", n: 1, email: "a@x", lastPosition: 5 });
      await c.put({ _id: "u2", env: "QA", n: 1, email: "b@x", lastPosition: 7 });
      await c.put({ _id: "u2", env: "QA", n: 1, email: "b@x", lastPosition: 6 });
      assert.is((await c.get("u2"))?.lastPosition, 7);
      try {
        await c.put({ _id: "u2", env: "QA", n: 1, email: "a@x", lastPosition: 8 });
        assert.unreachable("a newer document still meets the unique index");
      } catch (err) {
        assert.instance(err, DuplicateKeyError);
      }
    }));

  test("rename replaces the target's documents and indexes with the source's, and removes the source", () =>
    withStore(async (store) => {
      const live = store.collection<Item & { email?: string }>("model");
      await live.putMany(items(3));
      await live.ensureIndex({ name: "old_unique", keys: { n: 1 }, unique: true });
      const shadow = store.collection<Item & { email?: string }>("model__v2");
      await shadow.ensureIndex({ name: "by_email", keys: { email: 1 }, unique: true });
      await shadow.putMany([
        { _id: "x", env: "QA", n: 1, email: "a@x" },
        { _id: "y", env: "QA", n: 1, email: "b@x" },
      ]);
      await store.rename("model__v2", "model");
      assert.equal((await live.find({}, { sort: { _id: 1 } })).map((d) => d._id), ["x", "y"]);
      assert.is(await shadow.count(), 0);
      try {
        await live.put({ _id: "z", env: "QA", n: 2, email: "a@x" });
        assert.unreachable("the source's unique index came along");
      } catch (err) {
        assert.instance(err, DuplicateKeyError);
      }
      await live.put({ _id: "w", env: "QA", n: 1, email: "c@x" }); // the target's old index went away
      // a repeated rename (its first answer lost) finds no source and changes nothing
      await store.rename("model__v2", "model");
      assert.is(await live.count(), 3);
      // a rename onto a collection that does not exist yet
      await store.collection<Item>("fresh__v1").putMany(items(2));
      await store.rename("fresh__v1", "fresh");
      assert.is(await store.collection("fresh").count(), 2);
    }));

  test("ping answers", () => withStore((store) => store.ping()));

  return test;
}
