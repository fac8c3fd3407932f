// The SQLite store's WAL is checkpointed by a thread of its own, not inside the commits on the
// event loop; the store's own connection keeps a far fallback, and takes over when that thread is gone.
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { NewEvent } from "../../src/events/envelope.js";
import { FALLBACK_AUTOCHECKPOINT_PAGES, WalCheckpointer } from "../../src/events/store/sqlite-checkpointer.js";
import { SqliteEventStore } from "../../src/events/store/sqlite.js";

const test = suite("WAL checkpointer");
const dirs: string[] = [];
const fileIn = () => {
  const dir = mkdtempSync(join(tmpdir(), "korch-wal-"));
  dirs.push(dir);
  return join(dir, "events.db");
};
test.after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const event = (): NewEvent => ({ type: "Noted", data: { text: "x".repeat(2000) }, metadata: { eventId: randomUUID(), occurredAt: new Date().toISOString() } as NewEvent["metadata"] });
/** the store's own connection, for its pragmas */
const pragma = (store: SqliteEventStore, name: string) => (store as unknown as { db: { pragma(s: string, o: { simple: true }): unknown } }).db.pragma(name, { simple: true });

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; !check(); i++) {
    if (i > 500) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test("after a few MiB of appends the thread has checkpointed; the store's connection only past its fallback", async () => {
  const file = fileIn();
  const store = new SqliteEventStore({ file, synchronous: "NORMAL" });
  assert.is(pragma(store, "wal_autocheckpoint"), FALLBACK_AUTOCHECKPOINT_PAGES);
  for (let i = 0; i < 100; i++) await Promise.all(Array.from({ length: 20 }, () => store.append(`s-${randomUUID()}`, [event()], "no_stream")));
  // ~4 MiB of events: the thread checkpoints every 2 MiB, the fallback only past ~40 MiB of log
  await until("the thread checkpointed", () => (store.checkpointer?.done ?? 0) > 0);
  await store.close();
  const again = new SqliteEventStore({ file, synchronous: "NORMAL", checkpointer: false });
  assert.is((await again.readAll()).length, 2000);
  assert.is(pragma(again, "wal_autocheckpoint"), 1000, "without the thread, SQLite's own default");
  await again.close();
  assert.ok(statSync(file).size > 2000 * 2000, "the events are in the database file");
});

test("a checkpointer thread that ends hands checkpoints back to the store's connection", async () => {
  const store = new SqliteEventStore({ file: fileIn(), synchronous: "NORMAL" });
  const thread = store.checkpointer!;
  await (thread as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
  await until("the store heard", () => store.checkpointer === undefined);
  assert.is(pragma(store, "wal_autocheckpoint"), 1000);
  await store.append("s-1", [event()], "no_stream");
  assert.is((await store.readAll()).length, 1);
  await store.close();
});

test("a thread that cannot open the database says so once, and closing it after returns", async () => {
  const lost: string[] = [];
  const thread = new WalCheckpointer({ file: join(fileIn(), "no-such-dir", "events.db"), synchronous: "NORMAL", busyTimeoutMs: 100 }, (why) => lost.push(why));
  await until("the failure was heard", () => lost.length > 0);
  thread.appended(10 * 1024 * 1024);
  await thread.close();
  assert.equal(lost.length, 1);
  assert.match(lost[0]!, /failed to open the database/);
  assert.is(thread.done, 0);
});

test("close() with a checkpoint in flight waits for it, and the log ends checkpointed", async () => {
  const file = fileIn();
  const store = new SqliteEventStore({ file, synchronous: "NORMAL" });
  await until("the thread is ready", () => (store.checkpointer as unknown as { ready: boolean }).ready);
  // one group past the threshold: the request goes out as the group settles, close() follows at once
  await Promise.all(Array.from({ length: 1200 }, () => store.append(`s-${randomUUID()}`, [event()], "no_stream")));
  await store.close();
  const again = new SqliteEventStore({ file, synchronous: "NORMAL", checkpointer: false });
  assert.is((await again.readAll()).length, 1200);
  await again.close();
});

test("none for an in-memory database, nor by default where every commit syncs (FULL)", async () => {
  for (const store of [new SqliteEventStore({ file: ":memory:", synchronous: "NORMAL" }), new SqliteEventStore({ file: fileIn(), synchronous: "FULL" })]) {
    assert.is(store.checkpointer, undefined);
    await store.close();
  }
  const asked = new SqliteEventStore({ file: fileIn(), synchronous: "FULL", checkpointer: true });
  assert.ok(asked.checkpointer);
  await asked.close();
});

test.run();
