// The deployment page draws one page of the nodes (200) with the counts of all of them, a link to
// the next page and links to each phase's nodes, as the cluster page does for a cluster's nodes;
// over plain HTTP (no browser). What it offers (roll back) judges by the counts, not the page drawn.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { applicableActions } from "../../src/ui/pages/deployment.js";
import { appendBigDeployment, bigDeployment, type BigDeployment, type Outcome } from "../helpers/deployment-nodes.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const N = 450;
const OUTCOMES: Outcome[] = Array.from({ length: N }, (_, i) => (i % 50 === 7 ? "failed" : i < 300 ? "updated" : "pending"));

const t = suite<{ s: TestServer; cookie: string; big: BigDeployment }>("deployment page node pages");
t.before(async (ctx) => {
  ctx.s = await startTestServer();
  ctx.big = bigDeployment("00000000-0000-4000-8000-000000000450", OUTCOMES, { ended: true });
  await ctx.s.deps.projections.waitFor(await appendBigDeployment(ctx.s.deps.log, ctx.big), 10_000);
  const res = await fetch(`${ctx.s.url}/ui/login`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: ctx.s.url },
    body: new URLSearchParams({ username: "viewer", password: "Viewer123!", next: "/ui/deployments" }).toString(),
  });
  assert.is(res.status, 303);
  ctx.cookie = res.headers.get("set-cookie")!.split(";")[0]!;
});
t.after(async (ctx) => ctx.s.stop());

async function page(s: TestServer, cookie: string, path: string): Promise<string> {
  const res = await fetch(`${s.url}${path}`, { headers: { cookie } });
  assert.is(res.status, 200, path);
  return res.text();
}
const drawn = (html: string) => [...html.matchAll(/data-node="([^"]+)"/g)].map((m) => m[1]!);
const nextLink = (html: string) => /<a href="([^"]+)">Next 200 nodes/.exec(html)?.[1]?.replaceAll("&amp;", "&");

t("one page of nodes with the counts of all, and a link on to the rest, each node once", async ({ s, cookie, big }) => {
  const seen: string[] = [];
  let path: string | undefined = `/ui/deployments/${big.executionId}`;
  const first = await page(s, cookie, path);
  assert.match(first, `<span class="num" data-count="updated">${OUTCOMES.filter((o) => o === "updated").length}</span>`);
  assert.match(first, `<span class="num" data-count="failed">${OUTCOMES.filter((o) => o === "failed").length}</span>`);
  assert.match(first, `200 shown of ${N}`);
  // the wave headers count their nodes
  assert.match(first, /\d+\/\d+ nodes updated/);
  for (let pages = 0; path; pages++) {
    assert.ok(pages < 5);
    const html = pages === 0 ? first : await page(s, cookie, path);
    seen.push(...drawn(html));
    path = nextLink(html);
  }
  assert.equal(seen, big.nodeIds);
});

t("a phase's link draws only its nodes", async ({ s, cookie, big }) => {
  const html = await page(s, cookie, `/ui/deployments/${big.executionId}?phase=failed`);
  assert.equal(drawn(html), big.nodeIds.filter((_, i) => OUTCOMES[i] === "failed"));
  assert.is(nextLink(html), undefined);
});

t("a cursor the server did not issue is refused, not a page of something else", async ({ s, cookie, big }) => {
  const res = await fetch(`${s.url}/ui/deployments/${big.executionId}?cursor=nope`, { headers: { cookie } });
  assert.is(res.status, 400);
});

t("roll back is offered when any node was touched, on whatever page it is", () => {
  const counts = { total: 1000, pending: 999, installing: 0, updated: 1, failed: 0, rollingBack: 0, rolledBack: 0, rollbackFailed: 0 };
  assert.ok(applicableActions({ status: "Running", nodeCounts: counts }).includes("rollback"));
  assert.not.ok(applicableActions({ status: "Running", nodeCounts: { ...counts, pending: 1000, updated: 0 } }).includes("rollback"));
});

t.run();
