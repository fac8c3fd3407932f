import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { canonicalEvent, canonicalJson } from "../../src/audit/canonical.js";
import { eventDigest } from "../../src/audit/chain.js";
import { queryAuditLog } from "../../src/audit/query.js";
import { summarize, summarizedTypes, traceIdOf } from "../../src/audit/summaries.js";
import { verifyAuditChain } from "../../src/audit/verify.js";
import { catalog } from "../../src/events/catalog/index.js";
import { EventLog } from "../../src/events/event-log.js";
import type { RecordedEvent } from "../../src/events/envelope.js";
import { SqliteEventStore } from "../../src/events/store/sqlite.js";
import { AUDIT_COLLECTION, AUDIT_STREAMS_COLLECTION, auditProjections, createAuditProjection, type AuditEntryDoc, type AuditStreamDoc } from "../../src/projections/audit.js";
import { replayInto } from "../../src/projections/runner.js";
import { MemoryReadStore } from "../../src/projections/store/memory.js";

const DAY = 86_400_000;
const NOW = Date.parse("2026-06-01T00:00:00.000Z");

function userEvent(position: number, username: string, ageDays: number, type = "UserLoggedIn"): RecordedEvent {
  return {
    type,
    data: { username },
    streamId: `user-${username}`,
    revision: position - 1,
    position,
    metadata: {
      eventId: `00000000-0000-4000-8000-${String(position).padStart(12, "0")}`,
      occurredAt: new Date(NOW - ageDays * DAY).toISOString(),
      actor: { kind: "user", id: username },
      correlationId: "c",
      causationId: "c",
      schemaVersion: 1,
      tenantId: "default",
    },
  };
}

test("every catalog event type has its own summary; unknown types get a generic line", () => {
  const missing = [...catalog.keys()].filter((t) => !summarizedTypes.includes(t));
  assert.equal(missing, []);
  assert.is(summarize({ ...userEvent(1, "x", 0), type: "SecretRotated", streamId: "secret-db" }), "secret rotated on secret-db");
  // never throws on odd data
  assert.type(summarize({ ...userEvent(1, "x", 0), type: "DeploymentPlanned", data: null }), "string");
});

test("canonical JSON does not depend on key order", () => {
  fc.assert(
    fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (obj) => {
      const reversed = Object.fromEntries(Object.entries(obj).reverse());
      return canonicalJson(obj) === canonicalJson(reversed);
    }),
  );
  assert.is(canonicalJson({ b: 1, a: [{ d: 2, c: null }] }), '{"a":[{"c":null,"d":2}],"b":1}');
});

/** canonicalJson's plain definition: the one-pass version must give the same bytes and refuse the same values */
function plainCanonicalJson(value: unknown): string {
  if (value === null || typeof value === "boolean" || typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: ${value} is not representable`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return "[" + value.map((v) => (v === undefined ? "null" : plainCanonicalJson(v))).join(",") + "]";
  if (typeof value === "object") {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
    return "{" + keys.map((k) => JSON.stringify(k) + ":" + plainCanonicalJson(obj[k])).join(",") + "}";
  }
  throw new TypeError(`canonicalJson: cannot serialise a ${typeof value}`);
}

test("canonicalEvent remembers the bytes of frozen events only: an event that can change is serialised again", () => {
  const fields = (e: RecordedEvent) => canonicalJson({ type: e.type, streamId: e.streamId, revision: e.revision, position: e.position, data: e.data, metadata: e.metadata });
  const event = (): RecordedEvent => ({
    streamId: "node-a",
    revision: 0,
    position: 7,
    type: "NodeRegistered",
    data: { nodeId: "a", labels: { z: "1", a: "2" } },
    metadata: { eventId: "e", correlationId: "c", causationId: "c", actor: { kind: "system", id: "x" }, occurredAt: "2026-01-01T00:00:00.000Z", schemaVersion: 1, tenantId: "default" },
  });
  const open = event();
  assert.is(canonicalEvent(open), fields(open));
  (open.data as { nodeId: string }).nodeId = "b";
  assert.is(canonicalEvent(open), fields(open), "a changed, unfrozen event gives its new bytes");
  // frozen at the top only: its data can still change
  const shallow = Object.freeze(event());
  assert.is(canonicalEvent(shallow), fields(shallow));
  (shallow.data as { nodeId: string }).nodeId = "b";
  assert.is(canonicalEvent(shallow), fields(shallow));
  const frozen = event();
  Object.freeze(frozen.data);
  Object.freeze(frozen.metadata);
  Object.freeze(frozen);
  const first = canonicalEvent(frozen);
  assert.is(first, fields(frozen));
  assert.is(canonicalEvent(frozen), first);
});

test("canonicalJson gives the bytes of its plain definition, undefined members and odd keys included", () => {
  const outcome = (f: (v: unknown) => string, v: unknown) => {
    try {
      return f(v);
    } catch (err) {
      return `threw ${(err as Error).message}`;
    }
  };
  // any UTF-16 (astral characters, lone surrogates), where sorting and quoting keys could go astray
  const text = fc.oneof(fc.string(), fc.string({ unit: "binary" }));
  const value = fc.letrec((tie) => ({
    any: fc.oneof({ depthSize: "small" }, fc.constant(undefined), fc.constant(Number.NaN), fc.constant(-0), fc.jsonValue(), text, fc.array(tie("any")), fc.dictionary(text, tie("any"))),
  })).any;
  fc.assert(fc.property(value, (v) => outcome(canonicalJson, v) === outcome(plainCanonicalJson, v)));
  // objects of more keys than the insertion sort takes
  fc.assert(fc.property(fc.dictionary(text, fc.jsonValue({ maxDepth: 1 }), { minKeys: 10, maxKeys: 60 }), (v) => canonicalJson(v) === plainCanonicalJson(v)));
  assert.is(canonicalJson({ "\u2028": [undefined, 1], __proto__x: "a\"b", z: { y: undefined } }), plainCanonicalJson({ "\u2028": [undefined, 1], __proto__x: "a\"b", z: { y: undefined } }));
  // what a sorted copy written by JSON.stringify could get wrong: array-index keys (enumerated first,
  // whatever their insertion order), an own __proto__, objects with a toJSON, and which refusal comes first
  class WithToJson {
    a = 1;
    toJSON() {
      return "replaced";
    }
  }
  for (const v of [
    { "10": 1, "9": 2, a: 3 },
    { z: [{ "1": "x", b: 2 }], a: 1 },
    JSON.parse('{"__proto__": {"b": 1, "a": 2}, "x": 1}'),
    { when: new Date(0), t: new WithToJson(), o: Object.assign(Object.create(null), { b: 1, a: 2 }) },
    { b: Number.NaN, a: { "2": Infinity } },
    { b: { "0": 1 }, c: () => 1, a: [Symbol("s")] },
    { a: 1n },
  ])
    assert.is(outcome(canonicalJson, v), outcome(plainCanonicalJson, v));
});

test("trace ids are taken from well-formed traceparents only", () => {
  assert.is(traceIdOf("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"), "0af7651916cd43dd8448eb211c80319c");
  assert.is(traceIdOf("garbage"), null);
  assert.is(traceIdOf(undefined), null);
});

test("each entry carries its own event's digest, and a replay changes nothing", async () => {
  const events = [1, 2, 3, 4, 5].map((p) => userEvent(p, p % 2 ? "alice" : "bob", 0));
  const store = new MemoryReadStore({ ttlIntervalMs: 0 });
  const projections = auditProjections();
  await replayInto(store, events, projections, 2);
  const c = store.collection<AuditEntryDoc>(AUDIT_COLLECTION);
  const page = await queryAuditLog(c, { limit: 10, order: "asc" });
  assert.equal(page.items.map((e) => e.position), [1, 2, 3, 4, 5]);
  assert.equal(page.items.map((e) => e.hash), events.map((e) => eventDigest(e)));
  assert.is(await c.count({ kind: { $ne: "entry" } }), 0, "nothing but entries: no chain head kept across events");
  const before = await c.find({}, { sort: { _id: 1 } });
  await replayInto(store, events, projections);
  assert.equal(await c.find({}, { sort: { _id: 1 } }), before);
});

test("a deployment's or node's environment is joined to the entries of its stream, for the filter and the view", async () => {
  const base = (position: number, streamId: string, type: string, data: Record<string, unknown>): RecordedEvent => ({ ...userEvent(position, "ops", 0), streamId, type, data });
  const events = [
    base(1, "deployment-a", "DeploymentRequested", { requestedBy: "ops", targetEnvironment: "Staging", moduleName: "m", version: "1.0.0" }),
    base(2, "deployment-b", "DeploymentRequested", { requestedBy: "ops", targetEnvironment: "QA", moduleName: "m", version: "1.0.0" }),
    base(3, "deployment-a", "ApprovalGranted", { by: "admin" }),
    base(4, "node-n1", "NodeRegistered", { nodeId: "n1", environment: "Staging" }),
    base(5, "user-ops", "UserLoggedIn", { username: "ops" }),
    base(6, "node-n1", "NodeMarkedUnhealthy", { nodeId: "n1" }),
    base(7, "deployment-b", "WaveStarted", { wave: 1, nodeIds: [] }),
    base(8, "deployment-a", "WaveStarted", { wave: 1, nodeIds: [] }),
  ];
  const store = new MemoryReadStore({ ttlIntervalMs: 0 });
  await replayInto(store, events, auditProjections());
  const entries = store.collection<AuditEntryDoc>(AUDIT_COLLECTION);
  const streams = store.collection<AuditStreamDoc>(AUDIT_STREAMS_COLLECTION);
  const staging = await queryAuditLog(entries, { environment: "Staging", limit: 10, order: "desc" }, streams);
  assert.equal(staging.items.map((e) => e.position), [8, 6, 4, 3, 1]);
  assert.ok(staging.items.every((e) => e.environment === "Staging"));
  const all = await queryAuditLog(entries, { limit: 10, order: "asc" }, streams);
  assert.equal(all.items.map((e) => e.environment), ["Staging", "QA", "Staging", "Staging", null, "Staging", "QA", "Staging"]);
  // pages of two walk the merged result once
  const seen: number[] = [];
  let cursor: string | undefined;
  do {
    const page = await queryAuditLog(entries, { environment: "Staging", stream: "deployment-*", limit: 2, order: "asc", cursor }, streams);
    seen.push(...page.items.map((e) => e.position));
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  assert.equal(seen, [1, 3, 8]);
  assert.equal((await queryAuditLog(entries, { environment: "QA", stream: "deployment-b", limit: 10, order: "asc" }, streams)).items.map((e) => e.position), [2, 7]);
});

test("retention prunes old entries from the read model only; verify skips what is gone and checks the rest", async () => {
  const dir = mkdtempSync(join(tmpdir(), "audit-retention-"));
  const es = new SqliteEventStore({ file: join(dir, "events.db") });
  const log = new EventLog(es, catalog);
  try {
    for (const [i, age] of [100, 95, 10, 1].entries()) {
      const e = userEvent(i + 1, "carol", age);
      await log.append(e.streamId, [{ type: e.type, data: e.data, metadata: e.metadata }], "any");
    }
    const store = new MemoryReadStore({ ttlIntervalMs: 0 });
    const projection = createAuditProjection({ retentionMs: 90 * DAY });
    for (const index of projection.indexes) await store.collection(AUDIT_COLLECTION).ensureIndex(index);
    await replayInto(store, await log.readAll(), [projection]);
    assert.is(store.prune(new Date(NOW)), 2);
    const c = store.collection<AuditEntryDoc>(AUDIT_COLLECTION);
    const left = await queryAuditLog(c, { limit: 10, order: "asc" });
    assert.equal(left.items.map((e) => e.position), [3, 4]);
    assert.is((await log.readAll()).length, 4, "the event log is untouched");
    const v = await verifyAuditChain(log, c, { to: 4 });
    assert.equal({ ok: v.ok, checked: v.checked, skipped: v.skipped }, { ok: true, checked: 2, skipped: 2 });
  } finally {
    await es.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
