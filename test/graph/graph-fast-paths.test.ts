// The graph projection's shortcuts against the plain definitions they replace: a mention of a
// vertex that finds its props in place hands back the stored vertex itself, and otherwise what
// copying, setting and comparing gave; a node's slot is the interval list the spreads built; the
// ids of a module version, made once, are the ones made per event; and a document the graph
// finishes itself (lastPosition at the event) is frozen all the way down, so a store may keep it.
import fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { RecordedEvent } from "../../src/events/envelope.js";
import { moduleVersionId, vertexKey } from "../../src/graph/model.js";
import { factEdgeId, nodeModulesDocId, runsDocId, vertexDocId, type GraphDoc, type RunsDoc, type RunsInterval, type VertexDoc } from "../../src/projections/graph-docs.js";
import { graphProjection } from "../../src/projections/graph.js";
import { historyArb, toEvents } from "./history.js";

const AT = "2026-05-01T08:00:00.000Z";

function nodeEvent(position: number, type: string, data: Record<string, unknown>): RecordedEvent {
  return {
    type,
    streamId: `node-${String(data.nodeId)}`,
    revision: 0,
    position,
    data,
    metadata: { eventId: "00000000-0000-4000-8000-000000000001", occurredAt: AT, actor: { kind: "system", id: "test" }, correlationId: "c", causationId: "c", schemaVersion: 1, tenantId: "default" },
  } as RecordedEvent;
}

const installed = (position: number, nodeId: string, moduleName: string, version: string) =>
  nodeEvent(position, "ModuleInstalled", { nodeId, moduleName, version, assignmentId: `d1:${nodeId}:1`, durationMs: 1 });

// names the API would refuse are what the log may still hold: the graph must not care
const name = fc.oneof(fc.constantFrom("alpha", "__proto__", "constructor", "a@b", "x:y"), fc.string({ maxLength: 6 }));

function deeplyFrozen(value: unknown): boolean {
  if (value === null || typeof value !== "object") return true;
  return Object.isFrozen(value) && Object.values(value).every(deeplyFrozen);
}

/** the vertex update as it was: copy, set, compare, and the copy without lastPosition unless nothing changed */
function plainMention(base: VertexDoc, set: Record<string, unknown>): unknown {
  const v = { ...base, props: { ...base.props } };
  Object.assign(v.props, set);
  const same = (a: Record<string, unknown>, b: Record<string, unknown>, skip?: string) =>
    Object.keys(a).length === Object.keys(b).length && Object.keys(a).every((k) => k === skip || (Object.hasOwn(b, k) && a[k] === b[k]));
  if (same(base, v, "props") && same(base.props, v.props)) return base;
  const { lastPosition: _, ...stored } = v;
  return stored;
}

test("an install plans the ids the plain definitions make, however often its version was seen", () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(name, name, name), { minLength: 1, maxLength: 8 }), (installs) => {
      installs.forEach(([node, module, version], i) => {
        const mv = vertexKey("ModuleVersion", moduleVersionId(module, version));
        const m = vertexKey("Module", module);
        assert.equal(graphProjection.keys(installed(i + 1, node, module, version)), [
          nodeModulesDocId(node),
          vertexDocId(m),
          vertexDocId(mv),
          factEdgeId("VERSION_OF", mv, m),
          runsDocId(node, module),
        ]);
      });
    }),
  );
});

test("a mention of a stored module version or module is the plain copy-set-compare, and the stored vertex itself when nothing changes", () => {
  const props = fc.dictionary(fc.constantFrom("name", "version", "registered", "digest", "__proto__"), fc.oneof(name, fc.boolean()), { maxKeys: 4 });
  fc.assert(
    fc.property(name, name, props, fc.boolean(), fc.boolean(), (module, version, extra, holdsName, holdsVersion) => {
      const e = installed(50, "n1", module, version);
      const cases: [string, VertexDoc, Record<string, unknown>][] = [];
      for (const [type, id, set] of [
        ["ModuleVersion", moduleVersionId(module, version), { name: module, version }],
        ["Module", module, { name: module }],
      ] as const) {
        const p: Record<string, unknown> = { ...extra };
        if (holdsName) p.name = module;
        if (holdsVersion && type === "ModuleVersion") p.version = version;
        const key = vertexKey(type, id);
        const doc = Object.freeze({ _id: vertexDocId(key), kind: "vertex", vtype: type, vid: id, key, firstPosition: 1, firstAt: AT, props: Object.freeze(p), lastPosition: 10 }) as VertexDoc;
        cases.push([vertexDocId(key), doc, set]);
      }
      for (const [key, doc, set] of cases) {
        const expected = plainMention(doc, set);
        const got = graphProjection.apply(doc as GraphDoc, e, key);
        if (expected === doc) assert.ok(got === doc, `${key}: the stored vertex itself`);
        else assert.equal(got, expected, key);
      }
    }),
  );
});

const interval = fc.record({
  version: name,
  via: fc.option(name, { nil: null }),
  digest: fc.option(name, { nil: null }),
});

test("a node's slot after an install or a removal is the interval list the spreads built, frozen", () => {
  fc.assert(
    fc.property(fc.array(interval, { maxLength: 4 }), fc.boolean(), fc.option(name, { nil: null }), (past, lastOpen, next) => {
      const intervals: RunsInterval[] = past.map((x, i) => ({ ...x, open: i + 1, openedAt: AT, close: lastOpen && i === past.length - 1 ? null : i + 2, closedAt: lastOpen && i === past.length - 1 ? null : AT }));
      const key = runsDocId("n1", "alpha");
      const stored: RunsDoc | null = past.length
        ? (Object.freeze({ _id: key, kind: "runs", from: "Node:n1", node: "n1", module: "alpha", current: null, intervals: Object.freeze(intervals.map((i) => Object.freeze(i))), lastPosition: 10 }) as unknown as RunsDoc)
        : null;
      const e = next === null ? nodeEvent(50, "ModuleRemoved", { nodeId: "n1", moduleName: "alpha", assignmentId: "x:n1:2", durationMs: 1 }) : installed(50, "n1", "alpha", next);
      const got = graphProjection.apply(stored, e, key);
      // the plain definition, as it was
      const list = [...(stored?.intervals ?? [])];
      const last = list.at(-1);
      if (last && last.close === null) list[list.length - 1] = { ...last, close: 50, closedAt: AT };
      if (next !== null) list.push({ version: next, via: "d1", digest: null, open: 50, openedAt: AT, close: null, closedAt: null });
      if (!stored && next === null) return assert.is(got, null);
      assert.equal(got, { _id: key, kind: "runs", from: "Node:n1", node: "n1", module: "alpha", current: next, intervals: list, lastPosition: 50 });
      assert.equal(JSON.stringify(got), JSON.stringify({ _id: key, kind: "runs", from: "Node:n1", node: "n1", module: "alpha", current: next, intervals: list, lastPosition: 50 }), "field order too");
      assert.ok(deeplyFrozen(got));
    }),
  );
});

test("every document the graph finishes at the event's position is frozen all the way down", () => {
  let finished = 0;
  fc.assert(
    fc.property(historyArb, (steps) => {
      const docs = new Map<string, GraphDoc>();
      for (const e of toEvents(steps)) {
        if (!graphProjection.filter!.eventTypes!.includes(e.type)) continue;
        for (const key of graphProjection.keys(e)) {
          const next = graphProjection.apply(docs.get(key) ?? null, e, key);
          if (!next) continue;
          if ((next as GraphDoc).lastPosition === e.position) {
            finished++;
            assert.ok(deeplyFrozen(next), `${e.type}: ${key}`);
          }
          docs.set(key, { ...next, lastPosition: e.position } as GraphDoc);
        }
      }
    }),
    { numRuns: 60 },
  );
  assert.ok(finished > 0, "the histories hold documents the graph finishes");
});

test.run();
