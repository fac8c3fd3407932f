// GET /api/v1/deployments/{id} answers one page of the deployment's nodes (?limit, default 100,
// max 1000; ?cursor=nodesNextCursor), the counts of all of them and each wave's counts, not every
// node (a 10,000-node canary was 1.5 MB an answer). Paging walks the nodes in plan order, each once;
// ?at= pages the same way; ?phase= and ?wave= filter; a bad limit, phase or cursor is a 400.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { appendBigDeployment, bigDeployment, T0, type BigDeployment, type Outcome } from "../helpers/deployment-nodes.js";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";
import type { DeploymentBody } from "../helpers/deployments.js";
import { OrchestratorClient } from "../../src/client/api.js";
import { progressLine } from "../../src/client/render.js";

type Body = DeploymentBody & { asOf?: string };

const N = 250;
const OUTCOMES: Outcome[] = Array.from({ length: N }, (_, i) => (i % 25 === 3 ? "failed" : i < 120 ? "updated" : i < 130 ? "installing" : "pending"));

const t = suite<{ s: TestServer; viewer: string; big: BigDeployment; small: BigDeployment }>("deployment node pages");
t.before(async (ctx) => {
  ctx.s = await startTestServer();
  ctx.viewer = await ctx.s.login(...DEMO.viewer);
  ctx.big = bigDeployment("00000000-0000-4000-8000-000000000250", OUTCOMES, { ended: true });
  ctx.small = bigDeployment("00000000-0000-4000-8000-000000000003", ["updated", "pending", "failed"], { ended: true, idOf: (i) => `small-${i}` });
  await appendBigDeployment(ctx.s.deps.log, ctx.big);
  const last = await appendBigDeployment(ctx.s.deps.log, ctx.small);
  await ctx.s.deps.projections.waitFor(last, 10_000);
});
t.after(async (ctx) => ctx.s.stop());

async function get(s: TestServer, token: string, id: string, query = ""): Promise<Body> {
  const res = await s.call(`/api/v1/deployments/${id}${query}`, { token });
  assert.is(res.status, 200, await res.clone().text());
  return (await res.json()) as Body;
}

/** every page from the first, by nodesNextCursor */
async function walk(s: TestServer, token: string, id: string, query: string): Promise<{ pages: Body[]; nodes: Body["nodes"] }> {
  const pages: Body[] = [];
  let cursor: string | null = null;
  do {
    const page: Body = await get(s, token, id, `?${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    pages.push(page);
    cursor = page.nodesNextCursor;
    assert.ok(pages.length <= N + 1, "paging ends");
  } while (cursor);
  return { pages, nodes: pages.flatMap((p) => p.nodes) };
}

const expectedCounts = (outcomes: Outcome[]) => ({
  total: outcomes.length,
  pending: outcomes.filter((o) => o === "pending").length,
  installing: outcomes.filter((o) => o === "installing").length,
  updated: outcomes.filter((o) => o === "updated").length,
  failed: outcomes.filter((o) => o === "failed").length,
  rollingBack: 0,
  rolledBack: 0,
  rollbackFailed: 0,
});

t("a deployment with more nodes than a page answers one page and a cursor; the pages continue exactly, in plan order", async ({ s, viewer, big }) => {
  const first = await get(s, viewer, big.executionId);
  assert.is(first.status, "Failed");
  assert.is(first.nodes.length, 100, "the default page is 100 nodes");
  assert.type(first.nodesNextCursor, "string");
  assert.equal(first.nodeCounts, expectedCounts(OUTCOMES), "the counts are of every node");
  const { pages, nodes } = await walk(s, viewer, big.executionId, "");
  assert.equal(pages.map((p) => p.nodes.length), [100, 100, 50]);
  assert.is(pages.at(-1)!.nodesNextCursor, null, "null on the last page");
  assert.equal(nodes.map((n) => n.nodeId), big.nodeIds, "each node once, in plan order");
  assert.equal(nodes.map((n) => n.phase), OUTCOMES);
  // a page is the same whole-deployment view otherwise
  for (const p of pages) assert.equal({ ...p, nodes: [], nodesNextCursor: null }, { ...first, nodes: [], nodesNextCursor: null });
});

t("waves carry their node count and how many are updated, not their node ids; ?wave= pages a wave's nodes", async ({ s, viewer, big }) => {
  const d = await get(s, viewer, big.executionId, "?limit=1");
  assert.equal(
    d.waves.map((w) => [w.index, w.nodeCount, w.updated]),
    d.waves.map((w) => [w.index, big.waveOf.filter((x) => x === w.index).length, big.waveOf.filter((x, i) => x === w.index && OUTCOMES[i] === "updated").length]),
  );
  assert.ok(d.waves.every((w) => !("nodeIds" in w)));
  for (const w of d.waves) {
    const { nodes } = await walk(s, viewer, big.executionId, `wave=${w.index}&limit=7`);
    assert.equal(nodes.map((n) => n.nodeId), big.nodeIds.filter((_, i) => big.waveOf[i] === w.index), `wave ${w.index}`);
  }
});

t("?phase= pages only that phase's nodes, in plan order", async ({ s, viewer, big }) => {
  const { pages, nodes } = await walk(s, viewer, big.executionId, "phase=failed&limit=4");
  const failed = big.nodeIds.filter((_, i) => OUTCOMES[i] === "failed");
  assert.equal(nodes.map((n) => n.nodeId), failed);
  assert.ok(nodes.every((n) => n.phase === "failed" && n.error !== null));
  assert.is(pages.length, Math.ceil(failed.length / 4), "no empty page after the last failed node");
  const none = await get(s, viewer, big.executionId, "?phase=rolledBack");
  assert.equal([none.nodes, none.nodesNextCursor], [[], null]);
  const both = await walk(s, viewer, big.executionId, "phase=updated&wave=1&limit=9");
  assert.equal(both.nodes.map((n) => n.nodeId), big.nodeIds.filter((_, i) => OUTCOMES[i] === "updated" && big.waveOf[i] === 1));
});

t("time travel pages the same way", async ({ s, viewer, big }) => {
  // the events are T0 + their index in ms apart: at T0 + 2 ms the plan's wave has started and no node has been asked yet
  const planned = encodeURIComponent(new Date(T0 + 2).toISOString());
  const then = await walk(s, viewer, big.executionId, `at=${planned}&limit=64`);
  assert.equal(then.pages.map((p) => p.nodes.length), [64, 64, 64, 58]);
  assert.ok(then.pages.every((p) => typeof p.asOf === "string" && p.status === "Running"));
  assert.equal(then.nodes.map((n) => n.nodeId), big.nodeIds);
  assert.ok(then.nodes.every((n) => n.phase === "pending"));
  assert.equal(then.pages[0]!.nodeCounts, expectedCounts(OUTCOMES.map(() => "pending")));
  // after the last event: the same pages as the read model's
  const at = encodeURIComponent(new Date(T0 + 4500).toISOString());
  const { pages, nodes } = await walk(s, viewer, big.executionId, `at=${at}&limit=64`);
  const live = await walk(s, viewer, big.executionId, `limit=64`);
  assert.equal(pages.map((p) => p.nodes), live.pages.map((p) => p.nodes));
  assert.equal(nodes.map((n) => n.phase), OUTCOMES);
  assert.equal(pages[0]!.nodeCounts, expectedCounts(OUTCOMES));
  // a cursor of the live pages reads on in the past, and the other way round (the plan order is fixed)
  const past = await get(s, viewer, big.executionId, `?at=${planned}&limit=64&cursor=${encodeURIComponent(live.pages[0]!.nodesNextCursor!)}`);
  assert.equal(past.nodes, then.pages[1]!.nodes);
  const failedThen = await walk(s, viewer, big.executionId, `at=${at}&phase=failed&limit=3`);
  assert.equal(failedThen.nodes.map((n) => n.nodeId), big.nodeIds.filter((_, i) => OUTCOMES[i] === "failed"));
});

t("a small deployment is one page with a null cursor", async ({ s, viewer, small }) => {
  const d = await get(s, viewer, small.executionId);
  assert.equal(d.nodes.map((n) => n.nodeId), small.nodeIds);
  assert.is(d.nodesNextCursor, null);
  assert.equal(d.nodeCounts, expectedCounts(small.outcomes));
});

t("bad limits, phases, waves and cursors are 400 problems", async ({ s, viewer, big, small }) => {
  const other = (await get(s, viewer, small.executionId, "?limit=1")).nodesNextCursor!;
  const mine = (await get(s, viewer, big.executionId, "?limit=1")).nodesNextCursor!;
  const beyond = Buffer.from(JSON.stringify([N + 1, big.nodeIds[0]])).toString("base64url");
  const shifted = Buffer.from(JSON.stringify([2, big.nodeIds[0]])).toString("base64url");
  const bad = [
    ["?limit=0", "query.limit"],
    ["?limit=1001", "query.limit"],
    ["?limit=ten", "query.limit"],
    ["?limit=1.5", "query.limit"],
    ["?phase=broken", "query.phase"],
    ["?wave=-1", "query.wave"],
    ["?cursor=not-a-cursor", "query.cursor"],
    [`?cursor=${Buffer.from("[1]").toString("base64url")}`, "query.cursor"],
    [`?cursor=${other}`, "query.cursor"],
    [`?cursor=${beyond}`, "query.cursor"],
    [`?cursor=${shifted}`, "query.cursor"],
    [`?cursor=${other}&at=${encodeURIComponent(new Date(T0 + 4500).toISOString())}`, "query.cursor"],
  ] as const;
  for (const [query, path] of bad) {
    const res = await s.call(`/api/v1/deployments/${big.executionId}${query}`, { token: viewer });
    assert.is(res.status, 400, query);
    assert.is(res.headers.get("content-type"), "application/problem+json", query);
    const problem = (await res.json()) as { errors?: { path: string }[] };
    assert.ok(problem.errors?.some((e) => e.path === path), `${query}: ${JSON.stringify(problem)}`);
  }
  assert.is((await s.call(`/api/v1/deployments/${big.executionId}?limit=1000&cursor=${mine}`, { token: viewer })).status, 200);
});

t("the typed client walks every node, of a phase too; its progress line counts all nodes, not the page", async ({ s, viewer, big }) => {
  const client = new OrchestratorClient({ baseUrl: s.url, token: viewer });
  const all = [];
  for await (const n of client.deploymentNodes(big.executionId, { limit: 33 })) all.push(n.nodeId);
  assert.equal(all, big.nodeIds);
  // from a page's cursor on: the rest (what `korch status --json` appends to the first page)
  const first = await client.getDeployment(big.executionId, { limit: 40 });
  const rest = [];
  for await (const n of client.deploymentNodes(big.executionId, { limit: 33, cursor: first.nodesNextCursor! })) rest.push(n.nodeId);
  assert.equal([...first.nodes.map((n) => n.nodeId), ...rest], big.nodeIds);
  const failed = [];
  for await (const n of client.deploymentNodes(big.executionId, { phase: "failed" })) failed.push(n.nodeId);
  assert.equal(failed, big.nodeIds.filter((_, i) => OUTCOMES[i] === "failed"));
  const view = await client.getDeployment(big.executionId, { limit: 1 });
  const updated = OUTCOMES.filter((o) => o === "updated").length;
  assert.match(progressLine(view), `nodes ${updated}/${N} updated, ${OUTCOMES.filter((o) => o === "failed").length} failed`);
});

t.run();
