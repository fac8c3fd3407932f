// An audit entry is built frozen, carrying its lastPosition, from frozen parts, so that the runner
// and the memory store keep it as it is instead of copying it: what is stored must still be
// exactly the entry of the plain definition, whether the event is frozen (as the log's are) or not.
import fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { eventDigest } from "../../src/audit/chain.js";
import { environmentIn, summarize, traceIdOf } from "../../src/audit/summaries.js";
import type { RecordedEvent } from "../../src/events/envelope.js";
import { AUDIT_COLLECTION, auditEntryId, createAuditProjection, type AuditEntryDoc } from "../../src/projections/audit.js";
import { replayInto } from "../../src/projections/runner.js";
import { MemoryReadStore } from "../../src/projections/store/memory.js";
import { deepFreeze } from "../../src/platform/deep-freeze.js";

/** The entry's plain definition: a fresh object of fresh parts, lastPosition added as the runner adds it. */
function plainEntry(event: RecordedEvent): AuditEntryDoc {
  const m = event.metadata;
  return {
    _id: `e:${String(event.position).padStart(16, "0")}`,
    kind: "entry",
    position: event.position,
    streamId: event.streamId,
    revision: event.revision,
    type: event.type,
    summary: summarize(event),
    actor: { kind: m.actor.kind, id: m.actor.id },
    occurredAt: m.occurredAt,
    occurredAtDate: new Date(m.occurredAt),
    environment: environmentIn(event),
    eventId: m.eventId,
    correlationId: m.correlationId,
    causationId: m.causationId,
    traceId: traceIdOf(m.traceparent),
    sourceIp: m.sourceIp ?? null,
    userAgent: m.userAgent ?? null,
    tenantId: m.tenantId,
    hash: eventDigest(event),
    lastPosition: event.position,
  };
}

const T0 = Date.parse("2026-03-01T00:00:00.000Z");
type Spec = {
  type: string;
  stream: string;
  data: Record<string, string | number>;
  actor: Record<string, string>;
  extras: { sourceIp?: string; userAgent?: string; traceparent?: string };
  frozen: boolean;
};
const EventArb: fc.Arbitrary<Spec> = fc.record({
  type: fc.constantFrom("NodeUpdated", "ModuleInstalled", "DeploymentRequested", "UserLoggedIn", "SomethingNew"),
  stream: fc.constantFrom("node-a", "deployment-b", "cluster-QA", "user-c"),
  data: fc.dictionary(fc.constantFrom("nodeId", "version", "environment", "targetEnvironment", "username", "b", "a"), fc.oneof(fc.string({ maxLength: 4 }), fc.constantFrom("QA", "Production"), fc.integer())),
  actor: fc.oneof(
    fc.record({ kind: fc.constantFrom("user", "system", "node"), id: fc.string({ minLength: 1, maxLength: 4 }) }),
    // keys in another order, or one more: the entry's actor is still {kind, id}
    fc.record({ id: fc.string({ minLength: 1, maxLength: 4 }), kind: fc.constantFrom("user", "node") }),
    fc.record({ kind: fc.constant("user"), id: fc.constant("u"), extra: fc.string() }),
  ),
  extras: fc.record({ sourceIp: fc.string(), userAgent: fc.string(), traceparent: fc.constant("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01") }, { requiredKeys: [] }),
  frozen: fc.boolean(),
});

function events(specs: Spec[]): RecordedEvent[] {
  return specs.map((s, i) => {
    const event: RecordedEvent = {
      type: s.type,
      data: s.data,
      streamId: s.stream,
      revision: i,
      position: i + 1,
      metadata: {
        eventId: `00000000-0000-4000-8000-${String(i + 1).padStart(12, "0")}`,
        occurredAt: new Date(T0 + i * 1_234).toISOString(),
        actor: s.actor as RecordedEvent["metadata"]["actor"],
        correlationId: `c${i}`,
        causationId: `c${i}`,
        schemaVersion: 1,
        tenantId: "default",
        ...s.extras,
      },
    };
    return s.frozen ? deepFreeze(event) : event;
  });
}

test("property: the stored entries are the plain definition's, frozen events or not, whatever their actor's shape", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(EventArb, { minLength: 1, maxLength: 12 }), async (specs) => {
      const log = events(specs);
      const store = new MemoryReadStore({ ttlIntervalMs: 0 });
      await replayInto(store, log, [createAuditProjection()], 5);
      const stored = await store.collection<AuditEntryDoc>(AUDIT_COLLECTION).find({}, { sort: { _id: 1 } });
      const expected = log.map(plainEntry);
      assert.equal(stored, expected);
      // the same fields in the same order (a shared actor must not bring its own order)
      assert.equal(stored.map((e) => JSON.stringify(e)), expected.map((e) => JSON.stringify(e)));
      for (const e of stored) {
        assert.ok(Object.isFrozen(e) && Object.isFrozen(e.actor) && Object.isFrozen(e.occurredAtDate));
        assert.ok(e.occurredAtDate instanceof Date && Object.getPrototypeOf(e.occurredAtDate) === Date.prototype);
      }
    }),
    { numRuns: 80 },
  );
});

test("entry ids are the position padded to 16 digits behind e:", () => {
  for (const p of [0, 7, 20_148, 123_456_789_012_345, 1_234_567_890_123_456, 12_345_678_901_234_567, -5, 1.5]) assert.is(auditEntryId(p), `e:${String(p).padStart(16, "0")}`);
});

test("an entry is stored as the projection made it (no copy), sharing a frozen event's actor", async () => {
  const [event] = events([{ type: "NodeUpdated", stream: "node-a", data: { nodeId: "a" }, actor: { kind: "node", id: "a" }, extras: {}, frozen: true }]);
  const projection = createAuditProjection();
  const store = new MemoryReadStore({ ttlIntervalMs: 0 });
  await replayInto(store, [event!], [projection]);
  const stored = await store.collection<AuditEntryDoc>(AUDIT_COLLECTION).get(auditEntryId(1));
  assert.is(stored!.actor, event!.metadata.actor);
  const made = projection.apply(null, event!) as AuditEntryDoc;
  assert.ok(Object.isFrozen(made));
  assert.is(made.lastPosition, event!.position);
  const c = store.collection<AuditEntryDoc>("again");
  await c.put(made);
  assert.is(await c.get(made._id), made, "kept as it is");
});

test.run();
