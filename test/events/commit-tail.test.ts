// The SQLite store's commit tail: what this process committed, parsed once and shared by every
// reader of those positions. It may only answer for a range it holds whole; anything else is
// read from SQLite, and what it answers must be what SQLite would.
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { NewEvent, RecordedEvent } from "../../src/events/envelope.js";
import { CommitTail, tailMatch } from "../../src/events/store/commit-tail.js";
import { SqliteEventStore } from "../../src/events/store/sqlite.js";

const row = (type: string, data: unknown) => ({ type, data: JSON.stringify(data), metadata: JSON.stringify({ eventId: randomUUID() }) });

function ev(type: string, data: unknown = { n: 1 }, eventId = randomUUID()): NewEvent {
  const now = new Date().toISOString();
  return { type, data, metadata: { eventId, occurredAt: now, actor: { kind: "system", id: "t" }, correlationId: "c", causationId: "c", schemaVersion: 1, tenantId: "default" } };
}

function tempFile(): { file: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "commit-tail-"));
  return { file: join(dir, "events.db"), done: () => rmSync(dir, { recursive: true, force: true }) };
}

test("holds consecutive commits and reads them in order, with maxCount and a filter", () => {
  const tail = new CommitTail();
  assert.is(tail.end, undefined);
  assert.not.ok(tail.covers(0));
  tail.add({ streamId: "a-1", firstPosition: 5, firstRevision: 0, rows: [row("X", 1), row("Y", 2)] });
  tail.add({ streamId: "b-1", firstPosition: 7, firstRevision: 3, rows: [row("X", 3)] });
  assert.is(tail.end, 7);
  assert.ok(tail.covers(4) && tail.covers(7));
  assert.not.ok(tail.covers(3) || tail.covers(8));
  const all = tail.read(4, 10, tailMatch(undefined));
  assert.equal(all.events.map((e) => [e.position, e.streamId, e.revision, e.type, e.data]), [
    [5, "a-1", 0, "X", 1],
    [6, "a-1", 1, "Y", 2],
    [7, "b-1", 3, "X", 3],
  ]);
  assert.is(all.scannedTo, 7);
  assert.equal(tail.read(4, 1, tailMatch(undefined)).scannedTo, 5, "a full page ends at its last event");
  const xs = tail.read(5, 10, tailMatch({ eventTypes: ["X"] }));
  assert.equal(xs.events.map((e) => e.position), [7]);
  assert.equal(tail.read(4, 10, tailMatch({ streamPrefixes: ["b"] })).events.map((e) => e.position), [7]);
  assert.equal(tail.read(7, 10, tailMatch(undefined)), { events: [], scannedTo: 7 });
});

test("a commit that does not follow on starts the tail over at it", () => {
  const tail = new CommitTail();
  tail.add({ streamId: "a", firstPosition: 1, firstRevision: 0, rows: [row("X", 1)] });
  // positions 2 and 3 went to another process
  tail.add({ streamId: "a", firstPosition: 4, firstRevision: 1, rows: [row("X", 2)] });
  assert.not.ok(tail.covers(1) || tail.covers(2));
  assert.ok(tail.covers(3));
  assert.equal(tail.read(3, 10, tailMatch(undefined)).events.map((e) => e.position), [4]);
});

test("text SQLite would hand back otherwise is not kept: the tail goes on after it", () => {
  const tail = new CommitTail();
  tail.add({ streamId: "a", firstPosition: 1, firstRevision: 0, rows: [row("X", 1)] });
  tail.add({ streamId: "odd\uD800", firstPosition: 2, firstRevision: 0, rows: [row("X", 1)] });
  assert.not.ok(tail.covers(1));
  assert.ok(tail.covers(2));
  tail.add({ streamId: "a", firstPosition: 3, firstRevision: 1, rows: [row("T\0", 1)] });
  assert.not.ok(tail.covers(2));
  tail.add({ streamId: "a", firstPosition: 4, firstRevision: 2, rows: [row("X", 1)] });
  assert.equal(tail.read(3, 10, tailMatch(undefined)).events.map((e) => e.position), [4]);
  assert.is(tailMatch({ streamPrefixes: ["\uD83D"] }), undefined, "a lone surrogate prefix is SQLite's to judge");
  assert.is(tailMatch({ eventTypes: ["a\0"] }), undefined);
});

test("bounded by count and by text, the oldest leave first", () => {
  const byCount = new CommitTail({ maxEvents: 3, maxChars: 1 << 20 });
  for (let p = 1; p <= 5000; p++) byCount.add({ streamId: "a", firstPosition: p, firstRevision: p - 1, rows: [row("X", p)] });
  assert.ok(byCount.covers(4997) && !byCount.covers(4996));
  assert.equal(byCount.read(4997, 10, tailMatch(undefined)).events.map((e) => e.data), [4998, 4999, 5000]);
  const big = row("X", "x".repeat(1000));
  const byText = new CommitTail({ maxEvents: 100, maxChars: 2500 });
  byText.add({ streamId: "a", firstPosition: 1, firstRevision: 0, rows: [big, big, big, big] });
  assert.ok(byText.covers(2) && !byText.covers(1));
  // one event larger than the bound is still kept alone: the tail is never empty after a commit
  byText.add({ streamId: "a", firstPosition: 5, firstRevision: 4, rows: [row("X", "y".repeat(5000))] });
  assert.ok(byText.covers(4) && !byText.covers(3));
});

test("readers share one frozen object per event: a mutation fails loudly", () => {
  const tail = new CommitTail();
  tail.add({ streamId: "a", firstPosition: 1, firstRevision: 0, rows: [row("X", { nested: { list: [1, 2] } })] });
  const [one] = tail.read(0, 1, tailMatch(undefined)).events;
  const [two] = tail.read(0, 1, tailMatch(undefined)).events;
  assert.ok(one === two);
  const data = one!.data as { nested: { list: number[] } };
  assert.throws(() => data.nested.list.push(3), TypeError);
  assert.throws(() => ((one as { position: number }).position = 9), TypeError);
  assert.throws(() => ((one!.metadata as { eventId: string }).eventId = "x"), TypeError);
});

test("store: another process's commits in between are read from SQLite, no event lost or repeated", async () => {
  const { file, done } = tempFile();
  const a = new SqliteEventStore({ file, pollIntervalMs: 5 });
  const b = new SqliteEventStore({ file });
  const reference = new SqliteEventStore({ file });
  try {
    const seen: RecordedEvent[] = [];
    const sub = a.subscribe({}, (e) => {
      seen.push(e);
    });
    await a.append("s-a", [ev("X"), ev("Y")], "any");
    await b.append("s-b", [ev("X")], "any");
    await a.append("s-a", [ev("Z")], "any");
    await b.append("s-b", [ev("Y")], "any");
    const expected = await reference.readAll();
    assert.equal(expected.map((e) => e.position), [1, 2, 3, 4, 5]);
    for (const after of [0, 1, 2, 3, 4, 5]) for (const maxCount of [undefined, 1, 2]) assert.equal(await a.readAll({ after, ...(maxCount && { maxCount }) }), await reference.readAll({ after, ...(maxCount && { maxCount }) }), `after ${after}, maxCount ${maxCount}`);
    const deadline = Date.now() + 5_000;
    while (seen.length < expected.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 20));
    await sub.stop();
    assert.equal(seen, expected);
  } finally {
    await Promise.all([a.close(), b.close(), reference.close()]);
    done();
  }
});

/** The tail is kept while someone follows the log, as a server's projections and live feed do. */
const follow = (store: SqliteEventStore) => store.subscribe({}, () => undefined);

test("store: an idempotent retry does not enter the tail again; both readers get the same object", async () => {
  const { file, done } = tempFile();
  const store = new SqliteEventStore({ file });
  follow(store);
  try {
    const id = randomUUID();
    await store.append("s", [ev("X", { v: 1 }, id)], "any");
    const again = await store.append("s", [ev("X", { v: 1 }, id)], "any");
    assert.equal(again, { nextRevision: 0, position: 1 });
    await store.append("s", [ev("Y")], "any");
    const first = await store.readAll();
    const second = await store.readAll({ after: 0, maxCount: 5 });
    assert.equal(first.map((e) => [e.position, e.revision, e.type]), [
      [1, 0, "X"],
      [2, 1, "Y"],
    ]);
    assert.ok(first[1] === second[1], "one object per event, shared");
    assert.ok(Object.isFrozen(first[1]!.data));
  } finally {
    await store.close();
    done();
  }
});

test("store: fromStorage reads the file, where an edit made behind the store shows (audit verification)", async () => {
  const { file, done } = tempFile();
  const store = new SqliteEventStore({ file });
  follow(store);
  try {
    await store.append("s", [ev("X", { v: 1 })], "any");
    const db = new Database(file);
    db.prepare("UPDATE events SET data = ? WHERE position = 1").run(JSON.stringify({ v: 666 }));
    db.close();
    assert.equal((await store.readAll())[0]!.data, { v: 1 }, "the tail answers with what was committed");
    assert.equal((await store.readAll({ fromStorage: true }))[0]!.data, { v: 666 });
  } finally {
    await store.close();
    done();
  }
});

test("store: with nobody following the log, nothing is kept: reads go to SQLite", async () => {
  const { file, done } = tempFile();
  const store = new SqliteEventStore({ file });
  try {
    await store.append("s", [ev("X", { v: 1 })], "any");
    const db = new Database(file);
    db.prepare("UPDATE events SET data = ? WHERE position = 1").run(JSON.stringify({ v: 2 }));
    db.close();
    const [one] = await store.readAll();
    assert.equal(one!.data, { v: 2 });
    assert.not.ok(Object.isFrozen(one), "a fresh copy of its own");
  } finally {
    await store.close();
    done();
  }
});

test.run();
