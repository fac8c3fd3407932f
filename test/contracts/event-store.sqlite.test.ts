import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as assert from "uvu/assert";
import { SqliteEventStore } from "../../src/events/store/sqlite.js";
import type { EventStore } from "../../src/events/store/port.js";
import { eventStoreContract, newEvent } from "./event-store.js";

function fixture() {
  const dir = mkdtempSync(join(tmpdir(), "event-store-contract-"));
  const file = join(dir, "events.db");
  const open = () => new SqliteEventStore({ file, synchronous: "FULL", pollIntervalMs: 20 });
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
