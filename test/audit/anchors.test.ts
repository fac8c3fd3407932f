// The anchor process and verify against anchors, on a real SQLite log: ranges of at most N events,
// anchored once even by two writers, and every kind of damage to the log (an edited, removed or
// added event; an edited or removed anchor) found after the read model was rebuilt from it.
import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { chainOver, GENESIS_HASH } from "../../src/audit/chain.js";
import { readAnchors, verifyAuditChain } from "../../src/audit/verify.js";
import { ANCHOR_STREAM, type AuditAnchoredData } from "../../src/events/catalog/audit.js";
import { catalog } from "../../src/events/catalog/index.js";
import type { RecordedEvent } from "../../src/events/envelope.js";
import { EventLog } from "../../src/events/event-log.js";
import { SqliteEventStore } from "../../src/events/store/sqlite.js";
import { ManualClock } from "../../src/platform/clock.js";
import { AuditAnchor } from "../../src/processes/audit-anchor.js";
import { AUDIT_COLLECTION, auditProjections, type AuditEntryDoc } from "../../src/projections/audit.js";
import { replayInto } from "../../src/projections/runner.js";
import { MemoryReadStore } from "../../src/projections/store/memory.js";

interface Ctx {
  dir: string;
  file: string;
  stores: SqliteEventStore[];
  log: EventLog;
}

const t = suite<Ctx>("audit anchors");
const clock = new ManualClock();

t.before.each((ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), "audit-anchors-"));
  ctx.file = join(ctx.dir, "events.db");
  ctx.stores = [];
  ctx.log = open(ctx);
});
t.after.each(async (ctx) => {
  for (const s of ctx.stores) await s.close();
  rmSync(ctx.dir, { recursive: true, force: true });
});

function open(ctx: Ctx): EventLog {
  const store = new SqliteEventStore({ file: ctx.file });
  ctx.stores.push(store);
  return new EventLog(store, catalog);
}

async function logins(log: EventLog, n: number, user = "carol"): Promise<void> {
  for (let i = 0; i < n; i++) {
    const events = log.envelope([{ type: "UserLoggedIn", data: { username: user } }], [{ actor: { kind: "user", id: user }, correlationId: "c", causationId: "c" }]);
    await log.append(`user-${user}`, events, "any");
  }
}

const anchorer = (log: EventLog, everyEvents: number) => new AuditAnchor({ log, clock, everyEvents, pageSize: 4 });

async function anchors(log: EventLog): Promise<AuditAnchoredData[]> {
  return (await readAnchors(log)).map((a) => a.data!);
}

/** Builds the read model from the log as it is now (what a restart of the memory read model does) and verifies. */
async function verifyRebuilt(log: EventLog, range: { from?: number; to?: number } = {}) {
  const store = new MemoryReadStore({ ttlIntervalMs: 0 });
  // as a rebuild after a restart would read it: from the file (an edit made behind the store is the point)
  // events edited so that they no longer validate are left out, as a projection cannot read them
  const readable = (await log.store.readAll({ fromStorage: true })).flatMap((e) => {
    try {
      return [log.decode(e)].filter((d) => d !== null);
    } catch {
      return [];
    }
  });
  await replayInto(store, readable, auditProjections());
  return verifyAuditChain(log, store.collection<AuditEntryDoc>(AUDIT_COLLECTION), { from: range.from, to: range.to ?? (await log.headPosition()) }, 5);
}

function sql(ctx: Ctx, statement: string, ...params: unknown[]): number {
  const db = new Database(ctx.file);
  try {
    return db.prepare(statement).run(...params).changes;
  } finally {
    db.close();
  }
}

t("full ranges of N events are anchored at once, the tail only when asked; each anchor chains on the one before", async ({ log }) => {
  await logins(log, 7);
  const a = anchorer(log, 3);
  assert.equal((await a.anchor({ tail: false })).map((x) => [x.fromPosition, x.position, x.events]), [[1, 3, 3], [4, 6, 3]]);
  // the tail takes in the two anchors just written
  assert.equal((await a.anchor({ tail: true })).map((x) => [x.fromPosition, x.position, x.events]), [[7, 9, 3]]);
  const raw = await log.store.readAll();
  const [first, second, third] = await anchors(log);
  assert.is(first!.previousHash, GENESIS_HASH);
  assert.is(first!.hash, chainOver(GENESIS_HASH, raw.slice(0, 3)));
  assert.is(second!.previousHash, first!.hash);
  assert.is(third!.hash, chainOver(second!.hash, raw.slice(6, 9)));
});

t("anchors do not anchor themselves: a log that only gained anchors gets no new one", async ({ log }) => {
  await logins(log, 2);
  const a = anchorer(log, 1);
  assert.is((await a.anchor({ tail: true })).length, 2);
  assert.is((await a.anchor({ tail: true })).length, 0);
  assert.is((await a.anchor({ tail: true })).length, 0);
  await logins(log, 1);
  const [next] = await a.anchor({ tail: true });
  // the two anchor events and the new login
  assert.is(next!.events, 3);
  assert.ok((await verifyRebuilt(log)).ok);
});

t("started, it anchors a backlog of full ranges at once, then each time N more events come in, and the tail at stop", async ({ log }) => {
  await logins(log, 5);
  const listeners: ((event: RecordedEvent) => void)[] = [];
  const feed = {
    attach(listener: (event: RecordedEvent) => void) {
      listeners.push(listener);
      return { position: 0, detach: () => void listeners.splice(0) };
    },
  };
  const a = new AuditAnchor({ log, clock, everyEvents: 2, feed });
  a.start(3_600_000);
  await a.idle();
  assert.equal((await anchors(log)).map((x) => x.position), [2, 4]);
  // after 4: 5 and the anchors at 6 and 7, then the logins at 8 and 9; ranges [5, 6] and [7, 8]
  await logins(log, 2);
  const [event] = await log.readAll({ maxCount: 1 });
  for (const l of listeners) l(event!), l(event!);
  await a.idle();
  assert.equal((await anchors(log)).map((x) => x.position), [2, 4, 6, 8]);
  await logins(log, 1);
  await a.stop();
  assert.is(listeners.length, 0, "detached from the feed");
  assert.equal((await anchors(log)).map((x) => x.position), [2, 4, 6, 8, 10, 12]);
});

t("two writers on one log anchor every range once", async (ctx) => {
  await logins(ctx.log, 9);
  const other = open(ctx);
  for (let round = 0; round < 3; round++) {
    // different range sizes, so the two never compute the same anchor
    await Promise.all([anchorer(ctx.log, 2).anchor({ tail: true }), anchorer(other, 3).anchor({ tail: true })]);
    await logins(round % 2 ? ctx.log : other, 4);
  }
  await anchorer(other, 3).anchor({ tail: true });
  const all = await anchors(ctx.log);
  const positions = (await ctx.log.store.readAll()).map((e) => e.position);
  for (const [i, anchor] of all.entries()) {
    const previous = all[i - 1];
    assert.is(anchor.previousHash, previous?.hash ?? GENESIS_HASH);
    assert.is(anchor.fromPosition, previous ? positions.find((p) => p > previous.position) : 1, `anchor ${i} follows the one before`);
  }
  const v = await verifyRebuilt(ctx.log);
  assert.ok(v.ok, JSON.stringify(v));
  assert.is(v.anchors.checked, all.length);
});

t("an event edited after it was anchored: the rebuilt read model agrees with the log, the anchor does not", async (ctx) => {
  await logins(ctx.log, 10);
  await anchorer(ctx.log, 4).anchor({ tail: true });
  assert.ok((await verifyRebuilt(ctx.log)).ok);
  assert.is(sql(ctx, "UPDATE events SET data = ? WHERE position = 6", JSON.stringify({ username: "mallory" })), 1);
  const v = await verifyRebuilt(ctx.log);
  assert.is(v.ok, false);
  assert.is(v.firstMismatch, null);
  assert.equal({ ...v.anchors.firstBad!, expected: undefined, actual: undefined }, { anchorPosition: 12, fromPosition: 5, position: 8, expected: undefined, actual: undefined, reason: "hash" });
  // ranges that do not hold that anchor's whole range pass
  assert.ok((await verifyRebuilt(ctx.log, { to: 4 })).ok);
  assert.ok((await verifyRebuilt(ctx.log, { from: 9 })).ok);
  assert.ok((await verifyRebuilt(ctx.log, { from: 6 })).ok, "the edited anchor starts before the range");
});

t("an event removed, or one slipped in, changes the chain of the anchor over it", async (ctx) => {
  await logins(ctx.log, 6);
  await anchorer(ctx.log, 3).anchor({ tail: true });
  assert.is(sql(ctx, "DELETE FROM events WHERE position = 2"), 1);
  const removed = await verifyRebuilt(ctx.log);
  assert.equal([removed.ok, removed.anchors.firstBad?.fromPosition, removed.anchors.firstBad?.reason], [false, 1, "hash"]);
  // another event in its place
  const metadata = JSON.stringify({ ...(await ctx.log.store.readAll())[0]!.metadata, eventId: "00000000-0000-4000-8000-000000000042" });
  sql(ctx, "INSERT INTO events (position, stream_id, revision, event_id, type, data, metadata, occurred_at) VALUES (2, 'user-mallory', 0, 'x', 'UserLoggedIn', ?, ?, '2026-01-01T00:00:00.000Z')", JSON.stringify({ username: "mallory" }), metadata);
  const replaced = await verifyRebuilt(ctx.log);
  assert.equal([replaced.ok, replaced.anchors.firstBad?.fromPosition, replaced.anchors.firstBad?.reason], [false, 1, "hash"]);
});

t("the last events of a range removed: the anchor is still checked, and fails", async (ctx) => {
  await logins(ctx.log, 4);
  await anchorer(ctx.log, 4).anchor({ tail: true });
  // the anchor sits at position 5; remove what it covers from position 3 on
  assert.is(sql(ctx, "DELETE FROM events WHERE position IN (3, 4)"), 2);
  const v = await verifyRebuilt(ctx.log);
  assert.equal([v.ok, v.anchors.checked, v.anchors.firstBad?.reason], [false, 1, "hash"]);
});

t("an anchor removed or edited breaks the link of the next, or its own hash", async (ctx) => {
  await logins(ctx.log, 6);
  await anchorer(ctx.log, 2).anchor({ tail: true });
  const [first, second] = await readAnchors(ctx.log);
  assert.is(sql(ctx, "UPDATE events SET data = ? WHERE position = ?", JSON.stringify({ ...first!.data!, hash: "f".repeat(64) }), first!.event.position), 1);
  let v = await verifyRebuilt(ctx.log);
  assert.equal([v.anchors.firstBad?.anchorPosition, v.anchors.firstBad?.reason], [first!.event.position, "hash"]);

  assert.is(sql(ctx, "DELETE FROM events WHERE position = ?", first!.event.position), 1);
  v = await verifyRebuilt(ctx.log);
  assert.equal([v.anchors.firstBad?.anchorPosition, v.anchors.firstBad?.reason], [second!.event.position, "link"]);

  assert.is(sql(ctx, "UPDATE events SET data = ? WHERE position = ?", JSON.stringify({ nonsense: true }), second!.event.position), 1);
  v = await verifyRebuilt(ctx.log);
  assert.equal([v.anchors.firstBad?.anchorPosition, v.anchors.firstBad?.reason], [second!.event.position, "malformed"]);
  // and the anchor process will not build on an anchor it cannot read
  const last = (await readAnchors(ctx.log)).at(-1)!;
  assert.is(sql(ctx, "UPDATE events SET data = ? WHERE position = ?", JSON.stringify({ nonsense: true }), last.event.position), 1);
  await logins(ctx.log, 1);
  try {
    await anchorer(ctx.log, 2).anchor({ tail: true });
    assert.unreachable("anchored on an unreadable anchor");
  } catch (err) {
    assert.match(String(err), /unreadable/);
  }
});

t("an edit under a running read model is named at its exact position, anchored or not", async (ctx) => {
  await logins(ctx.log, 5);
  await anchorer(ctx.log, 10).anchor({ tail: true });
  const store = new MemoryReadStore({ ttlIntervalMs: 0 });
  await replayInto(store, await ctx.log.readAll(), auditProjections());
  const entries = store.collection<AuditEntryDoc>(AUDIT_COLLECTION);
  const before = (await entries.get("e:0000000000000003"))!.hash;
  assert.is(sql(ctx, "UPDATE events SET metadata = json_set(metadata, '$.actor.id', 'mallory') WHERE position = 3"), 1);
  const v = await verifyAuditChain(ctx.log, entries, { to: await ctx.log.headPosition() });
  assert.equal([v.ok, v.firstMismatch?.position, v.firstMismatch?.actual, v.anchors.firstBad?.reason], [false, 3, before, "hash"]);
});

t("events of a type this code does not know are anchored, and skipped by the entry check", async (ctx) => {
  await logins(ctx.log, 2);
  await ctx.log.store.append("future-1", [{ type: "SomethingFromTheFuture", data: { x: 1 }, metadata: { ...(await ctx.log.store.readAll())[0]!.metadata, eventId: "00000000-0000-4000-8000-000000000099" } }], "any");
  await logins(ctx.log, 1);
  const [anchor] = await anchorer(ctx.log, 10).anchor({ tail: true });
  assert.is(anchor!.events, 4);
  const v = await verifyRebuilt(ctx.log);
  assert.ok(v.ok, JSON.stringify(v));
  assert.is(v.skipped, 1);
  assert.is(ANCHOR_STREAM, "audit-anchors");
});

t.run();
