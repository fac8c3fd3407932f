// A deployment's history comes in bounded pages: a 10,000-node deployment's ~30,000 events were one
// 9 MB answer that any reader could ask for again and again.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { FAST_FLEET_ENV, requestDeployment, waitForHealthyNodes, waitForStatus } from "../helpers/deployments.js";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";

interface Page {
  executionId: string;
  events: { type: string; revision: number; position: number }[];
  nextRevision: number | null;
}

const t = suite<{ s: TestServer; viewer: string; id: string }>("deployment history pages");
t.before(async (ctx) => {
  ctx.s = await startTestServer(FAST_FLEET_ENV);
  const admin = await ctx.s.login(...DEMO.admin);
  ctx.viewer = await ctx.s.login(...DEMO.viewer);
  await waitForHealthyNodes(ctx.s, admin, 14);
  ctx.id = (await requestDeployment(ctx.s, admin, { moduleName: "netfilter", version: "1.0.0", targetEnvironment: "QA" })).executionId;
  await waitForStatus(ctx.s, admin, ctx.id);
});
t.after(async (ctx) => ctx.s.stop());

const get = async (s: TestServer, token: string, path: string) => {
  const res = await s.call(path, { token });
  return { status: res.status, type: res.headers.get("content-type"), body: (await res.json()) as Page & { detail?: string } };
};

t("pages follow one another by nextRevision and together are the whole stream, in order", async ({ s, viewer, id }) => {
  const whole = await get(s, viewer, `/api/v1/deployments/${id}/history?limit=5000`);
  assert.is(whole.status, 200);
  assert.is(whole.body.nextRevision, null);
  const all = whole.body.events;
  assert.ok(all.length > 10, `${all.length} events`);
  assert.equal(
    all.map((e) => e.revision),
    all.map((_, i) => i),
  );
  for (const limit of [1, 3, 7]) {
    const walked: Page["events"] = [];
    let from: number | null = 0;
    while (from !== null) {
      const page = await get(s, viewer, `/api/v1/deployments/${id}/history?limit=${limit}&fromRevision=${from}`);
      assert.is(page.status, 200);
      assert.ok(page.body.events.length <= limit);
      walked.push(...page.body.events);
      from = page.body.nextRevision;
    }
    assert.equal(walked, all, `limit ${limit}`);
  }
  // the default page holds a small deployment whole
  assert.equal((await get(s, viewer, `/api/v1/deployments/${id}/history`)).body.events, all);
});

t("past the end: an empty page; an unknown deployment: 404; a bad page: 400 problem+json", async ({ s, viewer, id }) => {
  const past = await get(s, viewer, `/api/v1/deployments/${id}/history?fromRevision=100000`);
  assert.is(past.status, 200);
  assert.equal([past.body.events, past.body.nextRevision], [[], null]);
  assert.is((await get(s, viewer, `/api/v1/deployments/00000000-0000-4000-8000-000000000000/history`)).status, 404);
  assert.is((await get(s, viewer, `/api/v1/deployments/00000000-0000-4000-8000-000000000000/history?fromRevision=3`)).status, 404);
  for (const query of ["limit=0", "limit=5001", "limit=x", "fromRevision=-1", "fromRevision=1.5"]) {
    const bad = await get(s, viewer, `/api/v1/deployments/${id}/history?${query}`);
    assert.is(bad.status, 400, query);
    assert.match(bad.type ?? "", /application\/problem\+json/, query);
  }
});

t.run();
