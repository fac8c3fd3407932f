// canonicalEvent keeps the bytes of recent frozen events in a ring by position, each slot checked
// to hold that very event: events sharing a slot, evicted ones and look-alikes get their own bytes.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { canonicalEvent, canonicalJson } from "../../src/audit/canonical.js";
import type { RecordedEvent } from "../../src/events/envelope.js";
import { deepFreeze } from "../../src/platform/deep-freeze.js";

const plain = (e: RecordedEvent) => canonicalJson({ type: e.type, streamId: e.streamId, revision: e.revision, position: e.position, data: e.data, metadata: e.metadata });

function event(position: number, nodeId: string): RecordedEvent {
  return deepFreeze({
    streamId: `node-${nodeId}`,
    revision: 0,
    position,
    type: "NodeRegistered",
    data: { nodeId, labels: { z: "1", a: "2" } },
    metadata: { eventId: "e", correlationId: "c", causationId: "c", actor: { kind: "system", id: "x" }, occurredAt: "2026-01-01T00:00:00.000Z", schemaVersion: 1, tenantId: "default" },
  });
}

test("events of one slot, evicted events and equal-looking events each get their own bytes", () => {
  const a = event(5, "a");
  const b = event(5 + 4096, "b"); // the same slot
  const a2 = event(5, "other"); // the same position, another object (another store, a test)
  for (let round = 0; round < 3; round++) {
    for (const e of [a, b, a2, a, a, b]) assert.is(canonicalEvent(e), plain(e));
  }
  // odd positions still land somewhere and are guarded by the identity check
  for (const p of [-1, 1.5, 2 ** 40 + 5, Number.MAX_SAFE_INTEGER]) {
    const e = event(p, `p${p}`);
    assert.is(canonicalEvent(e), plain(e));
    assert.is(canonicalEvent(a), plain(a));
    assert.is(canonicalEvent(e), plain(e));
  }
});

test("a frozen event asked twice gives the very same string", () => {
  const e = event(77, "x");
  assert.is(canonicalEvent(e), canonicalEvent(e));
});

test.run();
