// What the graph promises for any history (docs/graph.md): its RUNS edges at every position are
// what the nodes read model says at that position; every edge can be walked back by its inverse
// name; an edge that closed never opens again; and how events are batched changes nothing.
import fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { RecordedEvent } from "../../src/events/envelope.js";
import { EDGE_TYPES } from "../../src/graph/model.js";
import { matrix } from "../../src/graph/matrix.js";
import { GraphReader, NOW, selectEdges, type EdgeView } from "../../src/graph/reader.js";
import { graphProjection } from "../../src/projections/graph.js";
import { nodesProjection, type NodeDoc } from "../../src/projections/nodes.js";
import type { ProjectedDoc, Projection } from "../../src/projections/projection.js";
import { replayInto } from "../../src/projections/runner.js";
import { MemoryReadStore } from "../../src/projections/store/memory.js";
import { historyArb, toEvents } from "./history.js";

/** The nodes read model after each position, folded purely (the reference the graph must match). */
function nodesAtEveryPosition(events: readonly RecordedEvent[]): Map<string, NodeDoc>[] {
  const p = nodesProjection as unknown as Projection<ProjectedDoc>;
  let docs = new Map<string, NodeDoc>();
  const out: Map<string, NodeDoc>[] = [new Map()];
  for (const e of events) {
    docs = new Map(docs);
    for (const key of p.keys(e)) {
      const next = p.apply(docs.get(key) ?? null, e, key);
      if (next) docs.set(key, { ...next, lastPosition: e.position } as NodeDoc);
      else docs.delete(key);
    }
    out.push(docs);
  }
  return out;
}

const runsOf = (docs: Map<string, NodeDoc>) =>
  [...docs.values()].flatMap((n) => Object.entries(n.modules).map(([m, v]) => `${n.nodeId}|${m}@${v}`)).sort();

async function graphOf(events: RecordedEvent[], batchSize: number) {
  const store = new MemoryReadStore({ ttlIntervalMs: 0, indexShare: 1 });
  for (const index of graphProjection.indexes) await store.collection(graphProjection.collection).ensureIndex(index);
  await replayInto(store, events, [graphProjection as unknown as Projection], batchSize);
  return { store, reader: new GraphReader(store) };
}

async function allEdgesAt(reader: GraphReader, at: number, nodes: string[]): Promise<EdgeView[]> {
  const member = (await Promise.all(nodes.map((n) => reader.edgesOut(`Node:${n}`, new Set(["MEMBER_OF" as const]), { at })))).flat();
  return [...(await reader.factEdges({ at })), ...(await reader.allRuns({ at })), ...member];
}

test("RUNS at every position equals the nodes read model; inverses and closings hold; batching changes nothing", async () => {
  await fc.assert(
    fc.asyncProperty(historyArb, fc.integer({ min: 1, max: 9 }), async (steps, batchSize) => {
      const events = toEvents(steps);
      const expected = nodesAtEveryPosition(events);
      const { store, reader } = await graphOf(events, batchSize);
      const nodes = [...new Set(events.filter((e) => e.streamId.startsWith("node-")).map((e) => (e.data as { nodeId: string }).nodeId))];
      const everVisible = new Map<string, number[]>();
      for (let at = 0; at <= events.length; at++) {
        const runs = (await reader.allRuns({ at })).map((e) => `${e.from.slice(5)}|${e.to.slice("ModuleVersion:".length)}`).sort();
        assert.equal(runs, runsOf(expected[at]!), `RUNS at position ${at}`);
        // and node by node, over the index lookups the API uses
        for (const n of nodes) {
          const out = (await reader.edgesOut(`Node:${n}`, new Set(["RUNS" as const]), { at })).map((e) => e.to).sort();
          const doc = expected[at]!.get(n);
          assert.equal(out, Object.entries(doc?.modules ?? {}).map(([m, v]) => `ModuleVersion:${m}@${v}`).sort(), `${n} at ${at}`);
        }
        const edges = await allEdgesAt(reader, at, nodes);
        for (const e of edges) {
          const seen = everVisible.get(e.id) ?? [];
          seen.push(at);
          everVisible.set(e.id, seen);
          // read from the other end by its inverse name, the edge leads back
          const back = await reader.hops(e.to, selectEdges([EDGE_TYPES[e.type].inverse], "out"), { at });
          assert.ok(back.some((h) => h.edge.id === e.id && h.other === e.from && h.as === EDGE_TYPES[e.type].inverse), `inverse of ${e.id} at ${at}`);
        }
      }
      // an edge is visible over one unbroken run of positions: once closed, never open again
      for (const [id, positions] of everVisible) {
        assert.is(positions.at(-1)! - positions[0]! + 1, positions.length, `${id} reopened: ${positions.join(",")}`);
      }
      // what each node runs now (the matrix's source) is the nodes read model's, and the matrix
      // read from it equals the one assembled from the RUNS intervals at the last position
      const last = expected[events.length]!;
      const mirror = (await reader.nodeModuleDocs()).filter((m) => m.registeredIn !== null);
      // the flat module, version list as pairs: a module listed twice would show here
      const pairs = (flat: readonly string[]) => Array.from({ length: flat.length / 2 }, (_, i) => [flat[2 * i], flat[2 * i + 1]]);
      assert.equal(
        mirror.map((m) => `${m.node}:${m.registeredIn}:${JSON.stringify(pairs(m.modules).sort())}`).sort(),
        [...last.values()].map((n) => `${n.nodeId}:${n.environment}:${JSON.stringify(Object.entries(n.modules).sort())}`).sort(),
      );
      assert.equal(await matrix(reader, NOW), await matrix(reader, events.length));
      // one event at a time, or in batches: the same documents
      const single = await graphOf(events, 1);
      const strip = (docs: unknown[]) => JSON.stringify(docs);
      assert.is(strip(await store.collection("graph").find({}, { sort: { _id: 1 } })), strip(await single.store.collection("graph").find({}, { sort: { _id: 1 } })));
    }),
    { numRuns: 120 },
  );
});

test("applying a history twice changes nothing (position guard)", async () => {
  await fc.assert(
    fc.asyncProperty(historyArb, async (steps) => {
      const events = toEvents(steps);
      const { store } = await graphOf(events, 5);
      const before = JSON.stringify(await store.collection("graph").find({}, { sort: { _id: 1 } }));
      await replayInto(store, events, [graphProjection as unknown as Projection], 3);
      assert.is(JSON.stringify(await store.collection("graph").find({}, { sort: { _id: 1 } })), before);
    }),
    { numRuns: 60 },
  );
});

test("a document the graph says an event makes alone is the same whatever was stored under its id (the runner writes it unread)", () => {
  let seen = 0;
  fc.assert(
    fc.property(historyArb, (steps) => {
      const events = toEvents(steps);
      const p = graphProjection as unknown as Projection<ProjectedDoc>;
      const stored: ProjectedDoc = { _id: "x", lastPosition: 0, kind: "edge", props: { stale: true } };
      for (const e of events) {
        for (const key of p.keys(e)) {
          if (!p.madeByEventAlone?.(key, e)) continue;
          seen++;
          const fresh = p.apply(null, e, key);
          assert.ok(fresh, `${e.type}: ${key}`);
          assert.equal(p.apply({ ...stored, _id: key }, e, key), fresh);
          assert.equal(p.apply({ ...fresh!, lastPosition: e.position } as ProjectedDoc, e, key), fresh);
        }
      }
    }),
    { numRuns: 60 },
  );
  assert.ok(seen > 0, "the histories hold events with edges of their own");
});

test.run();
