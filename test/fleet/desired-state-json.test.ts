// desiredStateJson (the desired-state route's answer, serialized once per stored document) is
// byte for byte what c.json made of the plain view, whatever the document, frozen or not.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { desiredStateJson, desiredStateVersion, desiredStateView } from "../../src/fleet/agent-service.js";
import type { DesiredAssignment, DesiredStateDoc } from "../../src/projections/desired-state.js";
import { DESIRED_STATE } from "../../src/projections/desired-state.js";
import { MemoryReadStore } from "../../src/projections/store/memory.js";

const plain = (nodeId: string, doc: DesiredStateDoc | null, changed: boolean) => JSON.stringify({ ...desiredStateView(nodeId, doc), changed });

function assignment(i: number, moduleName: string): DesiredAssignment {
  return {
    assignmentId: `a-${i}`,
    executionId: `e-${i}`,
    moduleName,
    fromVersion: i % 3 ? "1.0.0" : null,
    toVersion: i % 4 ? `2.${i}.0` : null,
    kind: i % 4 ? "install" : "remove",
    requestedAt: new Date(1_700_000_000_000 + i).toISOString(),
    timeoutAt: i % 2 ? null : new Date(1_700_000_100_000 + i).toISOString(),
    ...(i % 5 === 0 && { artifact: { digest: `sha256:${"ab".repeat(32)}`, size: i, url: `/m/${i}` } }),
  };
}

/** a document with n assignments under module names in a scrambled order (the view sorts them) */
function doc(nodeId: string, n: number, lastPosition: number, seed: number): DesiredStateDoc {
  const assignments: Record<string, DesiredAssignment> = {};
  for (let i = 0; i < n; i++) {
    const name = `mod-${(i * 7 + seed) % 11}-${i}`;
    assignments[name] = assignment(i + seed, name);
  }
  return { _id: nodeId, nodeId, assignments, superseded: [], lastPosition } as DesiredStateDoc;
}

test("the same bytes as the plain view, for documents frozen or not, changed or not", () => {
  for (let seed = 0; seed < 40; seed++) {
    const d = doc("qa-1", seed % 6, 10 + seed, seed);
    for (const changed of [true, false]) {
      assert.is(desiredStateJson("qa-1", d, changed), plain("qa-1", d, changed));
      assert.is(desiredStateJson("qa-1", null, changed), plain("qa-1", null, changed));
    }
    const frozen = Object.freeze(doc("qa-1", seed % 6, 10 + seed, seed));
    for (const changed of [true, false, true, false]) assert.is(desiredStateJson("qa-1", frozen, changed), plain("qa-1", frozen, changed));
    assert.is(desiredStateVersion(frozen), Number(desiredStateView("qa-1", frozen).version));
  }
  assert.is(desiredStateVersion(null), Number(desiredStateView("qa-1", null).version));
});

test("a write (a new stored document) is answered anew; an unfrozen document is never kept", async () => {
  const store = new MemoryReadStore({ ttlIntervalMs: 0 });
  const docs = store.collection<DesiredStateDoc>(DESIRED_STATE);
  await docs.put(doc("qa-1", 2, 5, 1));
  const first = (await docs.get("qa-1"))!;
  assert.ok(Object.isFrozen(first), "the memory store hands out its stored document, frozen");
  const before = desiredStateJson("qa-1", first, true);
  assert.is(before, plain("qa-1", first, true));
  await docs.put(doc("qa-1", 3, 9, 2));
  const second = (await docs.get("qa-1"))!;
  assert.is(desiredStateJson("qa-1", second, true), plain("qa-1", second, true));
  assert.is.not(desiredStateJson("qa-1", second, true), before);

  const loose = doc("qa-2", 1, 4, 3);
  assert.is(desiredStateJson("qa-2", loose, true), plain("qa-2", loose, true));
  // a document that is not frozen may change: the answer follows it
  loose.assignments["extra"] = assignment(99, "extra");
  (loose as { lastPosition: number }).lastPosition = 8;
  assert.is(desiredStateJson("qa-2", loose, true), plain("qa-2", loose, true));
});

test("a document asked for under another node's id answers for that id, as the view does", () => {
  const d = Object.freeze(doc("qa-1", 2, 5, 4));
  assert.is(desiredStateJson("qa-1", d, true), plain("qa-1", d, true));
  assert.is(desiredStateJson("qa-9", d, true), plain("qa-9", d, true));
  assert.is(desiredStateJson("qa-1", d, true), plain("qa-1", d, true));
});

test.run();
