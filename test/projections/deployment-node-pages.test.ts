// The detail view's node pages are served from the stored pages (128 nodes each, tallied once per
// page version) rather than from a list of every node. Whatever the size, the outcomes, the batches
// the projection wrote them in, the limit and the filter: walking the pages by cursor gives exactly
// the plain definition's nodes (the folded state's planned nodes, in the map's order, filtered),
// each once; the counts are the plain counts; and time travel's pages (of the folded state) equal
// the stored document's.
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { foldDeployment, initialDeploymentState, type DeploymentState } from "../../src/commands/deployment.js";
import type { RecordedEvent } from "../../src/events/envelope.js";
import {
  deploymentViewOf,
  findDeploymentView,
  findDeploymentViewOfState,
  NODE_PHASES,
  type DeploymentDoc,
  type DeploymentView,
  type NodePageOptions,
} from "../../src/projections/deployments.js";
import { bigDeployment, projectDeployment, recordedDeployment as recorded, T0, type Outcome } from "../helpers/deployment-nodes.js";

/** as the projection runner stores it: frozen (as the memory store does) */
const run = (events: RecordedEvent[], start: DeploymentDoc | null = null): DeploymentDoc | null => {
  const doc = projectDeployment(events, start);
  return doc && Object.freeze(doc);
};

/** every page by cursor; each page's view besides */
function walk(page: (cursor: string | undefined) => DeploymentView | undefined): DeploymentView[] {
  const pages: DeploymentView[] = [];
  let cursor: string | undefined;
  do {
    const view = page(cursor);
    assert.ok(view, "a cursor the pages gave out is good");
    pages.push(view!);
    cursor = view!.nodesNextCursor ?? undefined;
    assert.ok(pages.length < 10_000, "paging ends");
  } while (cursor !== undefined);
  return pages;
}

const plainNodes = (state: DeploymentState, o: NodePageOptions) =>
  Object.values(state.nodes).filter((n) => n.wave >= 0 && (o.phase === undefined || n.phase === o.phase) && (o.wave === undefined || n.wave === o.wave));

const outcome = fc.constantFrom<Outcome>("pending", "installing", "updated", "failed");
const filter = fc.record({ phase: fc.option(fc.constantFrom(...NODE_PHASES), { nil: undefined }), wave: fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }) });

test("walking the pages by cursor gives exactly the plain definition's nodes, once each, in order; counts are the plain counts", () => {
  fc.assert(
    fc.property(
      // size "max": lengths up to 700 (the default size keeps arrays to a few elements, within one stored page)
      fc.array(outcome, { maxLength: 700, size: "max" }),
      fc.integer({ min: 1, max: 5 }),
      fc.integer({ min: 1, max: 300 }),
      filter,
      fc.array(fc.integer({ min: 0, max: 2000 }), { maxLength: 3 }),
      (outcomes, waves, limit, f, cuts) => {
        const d = bigDeployment("ex1", outcomes, { waves });
        const events = recorded(d.events);
        // written in batches: later batches replace the pages their nodes are in, tallies of the others are kept
        let doc: DeploymentDoc | null = null;
        for (const cut of [...cuts].sort((a, b) => a - b)) {
          doc = run(events.slice(0, Math.max(1, Math.min(events.length, cut))), doc);
          // the views between batches fill the caches a later batch must not be answered from
          if (doc) deploymentViewOf(doc, { limit, ...f });
        }
        doc = run(events, doc)!;
        const state = foldDeployment(initialDeploymentState, d.events);
        const options: NodePageOptions = { limit, ...(f.phase && { phase: f.phase }), ...(f.wave !== undefined && { wave: f.wave }) };
        const pages = walk((cursor) => findDeploymentView(doc!, { ...options, ...(cursor !== undefined && { cursor }) }));
        const expected = plainNodes(state, options);
        assert.equal(pages.flatMap((p) => p.nodes.map((n) => n.nodeId)), expected.map((n) => n.nodeId));
        assert.equal(pages.flatMap((p) => p.nodes.map((n) => n.phase)), expected.map((n) => n.phase));
        assert.ok(pages.every((p, i) => p.nodes.length === (i < pages.length - 1 ? limit : p.nodes.length) && p.nodes.length <= limit));
        assert.ok(pages.length === 1 || pages.at(-1)!.nodes.length > 0, "no empty page after the last node");
        const all = plainNodes(state, {});
        const counts = { total: all.length, ...Object.fromEntries(NODE_PHASES.map((p) => [p, all.filter((n) => n.phase === p).length])) };
        assert.equal(pages[0]!.nodeCounts, counts);
        assert.equal(pages[0]!.waves.map((w) => [w.nodeCount, w.updated]), state.waves.map((w) => [w.nodeIds.length, w.nodeIds.filter((id) => state.nodes[id]!.phase === "updated").length]));
        // time travel folds the same nodes and pages them the same way
        const past = walk((cursor) => findDeploymentViewOfState(state, { ...options, ...(cursor !== undefined && { cursor }) }));
        assert.equal(JSON.stringify(past), JSON.stringify(pages));
        // without a limit: every node that matches, on one page
        assert.equal(deploymentViewOf(doc, { ...options, limit: undefined }).nodes.map((n) => n.nodeId), expected.map((n) => n.nodeId));
      },
    ),
    { numRuns: 150 },
  );
});

test("a cursor that names no node of the deployment (another's, shifted, beyond the end, not base64 JSON) answers undefined", () => {
  const a = bigDeployment("ex1", Array.from({ length: 300 }, () => "pending" as Outcome));
  const doc = run(recorded(a.events))!;
  const cursor = deploymentViewOf(doc, { limit: 10 }).nodesNextCursor!;
  assert.ok(findDeploymentView(doc, { limit: 10, cursor }));
  const other = bigDeployment("ex1", ["pending", "pending"], { idOf: (i) => `other-${i}` });
  const otherDoc = run(recorded(other.events))!;
  assert.is(findDeploymentView(otherDoc, { cursor }), undefined);
  const forged = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  for (const bad of [forged([11, a.nodeIds[9]]), forged([301, a.nodeIds[0]]), forged([0, a.nodeIds[0]]), forged([-1, "x"]), forged(["10", a.nodeIds[9]]), forged({}), "%%%", ""]) {
    assert.is(findDeploymentView(doc, { cursor: bad }), undefined, bad);
  }
});

test.run();
