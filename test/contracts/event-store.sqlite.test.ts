import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as assert from "uvu/assert";
import { SqliteEventStore } from "../../src/events/store/sqlite.js";
import type { EventStore } from "../../src/events/store/port.js";
import { eventStoreContract, newEvent } from "./event-store.js";

function fixture(writer: "inline" | "thread" = "inline") {
  const dir = mkdtempSync(join(tmpdir(), "event-store-contract-"));
  const file = join(dir, "events.db");
  const open = () => new SqliteEventStore({ file, synchronous: "FULL", pollIntervalMs: 20, writer });
  let store: EventStore = open();
  return {
    file,
    store,
    reopen: async () => {
      await store.close();
      store = open();
      return store;
    },
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const test = eventStoreContract("sqlite", async () => fixture());
// the opt-in writer thread (`writer: "thread"`; the server stays inline) keeps the same contract
const threaded = eventStoreContract("sqlite, writer thread", async () => fixture("thread"));

// Beyond the port's contract, the SQLite adapter promises positions 1, 2, 3, ... with no gap,
// even when appends fail in between.
test("sqlite: positions start at 1 and stay gap-free across failed appends", async () => {
  const fx = fixture();
  try {
    const s = fx.store;
    await s.append("a", [newEvent("One")], "no_stream");
    await s.append("a", [newEvent("Two")], "no_stream").catch(() => undefined);
    const dup = newEvent("Dup");
    await s.append("b", [dup], "no_stream");
    await s.append("c", [newEvent("X"), dup], "no_stream").catch(() => undefined);
    await s.append("b", [newEvent("Three"), newEvent("Four")], 0);
    assert.equal(
      (await s.readAll()).map((e) => e.position),
      [1, 2, 3, 4],
    );
    assert.is(await s.headPosition(), 4);
    assert.equal(await s.readStream("c"), []);
  } finally {
    await fx.cleanup();
  }
});

// Concurrent appends share one transaction (group commit); each runs in its own SAVEPOINT, so
// one that fails halfway through its inserts leaves nothing behind and costs its neighbours nothing.
for (const writer of ["inline", "thread"] as const) {
  test(`sqlite (${writer}): in a group commit a failed append is rolled back alone, positions stay gap-free`, async () => {
    const fx = fixture(writer);
    try {
      const s = fx.store;
      await s.append("seed", [newEvent("Seed")], "no_stream");
      const twice = newEvent("Twice");
      const badTime = newEvent("BadTime", {}, { occurredAt: "2026-01-01T00:00:00.000Z" });
      badTime.metadata.occurredAt = "not a time"; // past the envelope schema: the store itself refuses it
      const calls: { stream: string; events: ReturnType<typeof newEvent>[]; expected: number | "no_stream" | "any"; fails: boolean }[] = [];
      for (let i = 0; i < 30; i++) {
        calls.push({ stream: `good-${i % 7}`, events: [newEvent("Good", { i }), newEvent("Good", { i })], expected: "any", fails: false });
        // the second insert of this batch hits the unique event id after the first went in
        if (i === 5) calls.push({ stream: "dup", events: [twice, newEvent("Between"), twice], expected: "no_stream", fails: true });
        if (i === 12) calls.push({ stream: "bad-time", events: [newEvent("Fine"), badTime], expected: "any", fails: true });
        if (i === 20) calls.push({ stream: "seed", events: [newEvent("Stale")], expected: 3, fails: true });
      }
      const settled = await Promise.allSettled(calls.map((c) => s.append(c.stream, c.events, c.expected)));
      settled.forEach((r, i) => assert.is(r.status, calls[i]!.fails ? "rejected" : "fulfilled", `append ${i}`));
      const all = await s.readAll();
      assert.equal(
        all.map((e) => e.position),
        all.map((_, k) => k + 1),
        "positions 1..N without gap",
      );
      assert.is(all.length, 1 + 30 * 2);
      assert.equal(await s.readStream("dup"), []);
      assert.equal(await s.readStream("bad-time"), []);
      // each caller's answer is its own: its last event's position, in call order
      const good = settled.filter((r, i) => !calls[i]!.fails) as PromiseFulfilledResult<{ position: number }>[];
      assert.equal(
        good.map((r) => r.value.position),
        good.map((_, k) => 1 + 2 * (k + 1)),
      );
    } finally {
      await fx.cleanup();
    }
  });

  test(`sqlite (${writer}): close() commits appends that were accepted but not yet flushed`, async () => {
    const fx = fixture(writer);
    const pending = fx.store.append("late", [newEvent("Late")], "no_stream");
    const reopened = await fx.reopen();
    assert.is((await pending).nextRevision, 0);
    assert.is((await reopened.readStream("late")).length, 1);
    await fx.cleanup();
    // after close, an append is refused at once rather than left waiting
    let refused: unknown;
    await fx.store.append("late", [newEvent("Later")], 0).catch((err: unknown) => (refused = err));
    assert.match(String(refused), /closed/);
  });
  test(`sqlite (${writer}): an append a caller makes as close() drains (its next step) is committed, not failed or written after close`, async () => {
    const fx = fixture(writer);
    const first = fx.store.append("chain", [newEvent("First")], "no_stream");
    const chain = first.then(() => fx.store.append("chain", [newEvent("Second")], 0));
    const reopened = await fx.reopen();
    const settled = await Promise.race([chain.then((r) => r.nextRevision, (err: unknown) => String(err)), new Promise((r) => setTimeout(() => r("no answer"), 5000))]);
    assert.is(settled, 1);
    assert.is((await reopened.readStream("chain")).length, 2);
    await fx.cleanup();
  });
}

test("sqlite (thread): a writer thread that dies is replaced; its group's callers hear the outcome is unknown, a retry settles it", async () => {
  const fx = fixture("thread");
  try {
    const s = fx.store as SqliteEventStore;
    await s.append("before", [newEvent("Before")], "no_stream");
    const batch = [newEvent("Doomed", { n: 1 }), newEvent("Doomed", { n: 2 })];
    const pending = s.append("doomed", batch, "no_stream");
    // the group is in flight once the turn's appends have been sent
    await new Promise((r) => setImmediate(r));
    const thread = (s as unknown as { thread?: { worker: { terminate(): Promise<number> } } }).thread;
    assert.ok(thread, "a writer thread is running");
    await thread.worker.terminate();
    const first = await pending.then(
      (r) => r,
      (err: unknown) => {
        assert.match(String(err), /writer thread stopped before answering/);
        return undefined;
      },
    );
    // whatever happened to it, the same batch again is answered once, as in the log
    const retry = await s.append("doomed", batch, "no_stream");
    if (first) assert.equal(retry, first);
    assert.equal(
      (await s.readStream("doomed")).map((e) => e.metadata.eventId),
      batch.map((e) => e.metadata.eventId),
    );
    assert.is((await s.append("after", [newEvent("After")], "no_stream")).nextRevision, 0);
    assert.is(s.writerThreadUnavailable, undefined, "still on a thread");
  } finally {
    await fx.cleanup();
  }
});

test("sqlite: two stores on one file see each other's appends, live", async () => {
  const fx = fixture();
  const other = fx.store;
  // no in-process notification crosses stores: the second one must notice by polling
  const second = new SqliteEventStore({ file: fx.file, pollIntervalMs: 10 });
  try {
    const seen: number[] = [];
    const sub = second.subscribe({}, (e) => {
      seen.push(e.position);
    });
    await other.append("x", [newEvent("A"), newEvent("B")], "no_stream");
    await other.append("y", [newEvent("C")], "no_stream");
    const deadline = Date.now() + 5000;
    while (seen.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    await sub.stop();
    assert.equal(seen, [1, 2, 3]);
    await second.append("x", [newEvent("D")], 1);
    assert.equal(
      (await other.readStream("x")).map((e) => e.type),
      ["A", "B", "D"],
    );
  } finally {
    await second.close();
    await fx.cleanup();
  }
});

test.run();
threaded.run();
