import { suite } from "uvu";
import * as assert from "uvu/assert";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";
import { clusterVersions, FAST_FLEET_ENV, getDeployment, requestDeployment, waitForHealthyNodes, waitForStatus } from "../helpers/deployments.js";
import { streams } from "../../src/events/streams.js";
import { evolveDeployment, initialDeploymentState, isTerminal } from "../../src/commands/deployment.js";
import type { DeploymentEvent } from "../../src/events/catalog/deployment.js";

const t = suite<{ s: TestServer; admin: string; deployer: string; viewer: string }>("deployments over HTTP with the simulator");
t.before(async (ctx) => {
  ctx.s = await startTestServer(FAST_FLEET_ENV);
  ctx.admin = await ctx.s.login(...DEMO.admin);
  ctx.deployer = await ctx.s.login(...DEMO.deployer);
  ctx.viewer = await ctx.s.login(...DEMO.viewer);
  // wait until the simulated nodes have registered and report healthy
  await waitForHealthyNodes(ctx.s, ctx.viewer, 14);
});
t.after(async (ctx) => ctx.s.stop());

t("Development (Direct) succeeds and every node runs the new version", async ({ s, deployer }) => {
  const r = await requestDeployment(s, deployer, { moduleName: "netfilter", version: "1.0.0", targetEnvironment: "Development" });
  assert.ok(r.position > 0);
  const d = await waitForStatus(s, deployer, r.executionId);
  assert.is(d.status, "Succeeded");
  assert.is(d.progress, 100);
  assert.is(d.waves.length, 1);
  const versions = await clusterVersions(s, deployer, "development", "netfilter");
  assert.equal(Object.values(versions), ["1.0.0", "1.0.0"]);

  // its SSE feed replays every event with the deployment's progress, then ends
  const feed = async (lastEventId?: number) => {
    const headers: Record<string, string> = lastEventId === undefined ? {} : { "last-event-id": String(lastEventId) };
    const text = await (await s.call(`/api/v1/deployments/${r.executionId}/events`, { token: deployer, headers })).text();
    return text
      .split("\n\n")
      .map((block) => Object.fromEntries(block.split("\n").filter((l) => /^(id|event|data):/.test(l)).map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 1).trim()])))
      .filter((m) => m.event);
  };
  const messages = await feed();
  assert.is(messages.at(-1)!.event, "end");
  const last = JSON.parse(messages.at(-2)!.data!) as { type: string; status: string; progress: number };
  assert.equal([last.type, last.status, last.progress], ["DeploymentSucceeded", "Succeeded", 100]);
  const ids = messages.slice(0, -1).map((m) => Number(m.id));
  assert.equal(ids, [...ids].sort((a, b) => a - b), "in position order");

  // each message's progress is the share of planned nodes on the new version after its event
  // (100 once terminal), whether the connection replays from the start or resumes midway
  const events = await s.deps.log.readStream(streams.deployment(r.executionId));
  let state = initialDeploymentState;
  const expected = events.map((e) => {
    state = evolveDeployment(state, e as unknown as DeploymentEvent);
    const planned = Object.values(state.nodes).filter((n) => n.wave >= 0);
    const updated = planned.filter((n) => n.phase === "updated").length;
    return isTerminal(state.status) ? 100 : planned.length ? Math.min(99, Math.round((100 * updated) / planned.length)) : 0;
  });
  const progress = (ms: typeof messages) => ms.slice(0, -1).map((m) => (JSON.parse(m.data!) as { progress: number }).progress);
  assert.equal(progress(messages), expected);
  const middle = Math.floor(ids.length / 2);
  assert.equal(progress(await feed(ids[middle])), expected.slice(middle + 1));
});

t("QA (Rolling) goes batch by batch and succeeds", async ({ s, deployer }) => {
  const r = await requestDeployment(s, deployer, { moduleName: "netfilter", version: "1.0.0", targetEnvironment: "QA" });
  const d = await waitForStatus(s, deployer, r.executionId);
  assert.is(d.status, "Succeeded");
  assert.is(d.waves.length, 2, "3 nodes in batches of 2");
  assert.equal(Object.values(await clusterVersions(s, deployer, "qa", "netfilter")), ["1.0.0", "1.0.0", "1.0.0"]);
});

t("Staging (Blue-Green) waits for approval, the requester cannot approve, an admin can", async ({ s, admin, deployer }) => {
  const r = await requestDeployment(s, deployer, { moduleName: "netfilter", version: "1.0.0", targetEnvironment: "Staging" });
  const pending = await waitForStatus(s, deployer, r.executionId, ["PendingApproval"]);
  assert.is(pending.approval.status, "Pending");
  const list = (await (await s.call("/api/v1/approvals/pending", { token: deployer })).json()) as { executionId: string }[];
  assert.ok(list.some((a) => a.executionId === r.executionId));
  // a deployer is not an Admin
  assert.is((await s.call(`/api/v1/approvals/deployments/${r.executionId}/approve`, { method: "POST", token: deployer })).status, 403);
  const ok = await s.call(`/api/v1/approvals/deployments/${r.executionId}/approve`, { method: "POST", token: admin, json: { reason: "looks good" } });
  assert.is(ok.status, 200);
  const again = await s.call(`/api/v1/approvals/deployments/${r.executionId}/approve`, { method: "POST", token: admin });
  assert.is(again.status, 409);
  const d = await waitForStatus(s, deployer, r.executionId);
  assert.is(d.status, "Succeeded");
  assert.is(d.approval.decidedBy, "admin");
  assert.ok(d.servingColor === "blue" || d.servingColor === "green");

  // the next release goes to the other color, which is idle now
  const next = await requestDeployment(s, deployer, { moduleName: "netfilter", version: "1.1.0", targetEnvironment: "Staging" });
  await s.call(`/api/v1/approvals/deployments/${next.executionId}/approve`, { method: "POST", token: admin });
  const d2 = await waitForStatus(s, deployer, next.executionId);
  assert.is(d2.status, "Succeeded");
  assert.is.not(d2.servingColor, d.servingColor);
  const versions = Object.values(await clusterVersions(s, deployer, "staging", "netfilter")).sort();
  assert.equal(versions, ["1.0.0", "1.0.0", "1.1.0", "1.1.0"], "the old color keeps the previous version for an instant rollback");
});

t("Production (Canary) with a faulty version is caught by analysis and rolled back", async ({ s, admin, deployer }) => {
  const good = await requestDeployment(s, deployer, { moduleName: "kmod", version: "1.0.0", targetEnvironment: "Production" });
  await s.call(`/api/v1/approvals/deployments/${good.executionId}/approve`, { method: "POST", token: admin });
  const done = await waitForStatus(s, deployer, good.executionId);
  assert.is(done.status, "Succeeded");

  // time travel: at each wave boundary exactly the nodes of the waves so far run the new version
  const events = await s.deps.log.readStream(streams.deployment(good.executionId));
  const versionsAt = async (at: string) => {
    const res = await s.call(`/api/v1/clusters/production?at=${encodeURIComponent(at)}`, { token: deployer });
    assert.is(res.status, 200);
    const body = (await res.json()) as { nodes: { nodeId: string; modules: Record<string, string> }[] };
    return Object.fromEntries(body.nodes.map((n) => [n.nodeId, n.modules.kmod ?? null]));
  };
  const requestedAt = events[0]!.metadata.occurredAt;
  assert.ok(Object.values(await versionsAt(requestedAt)).every((v) => v === null), "before: nobody runs kmod");
  const upgraded = new Set<string>();
  for (const e of events.filter((x) => x.type === "WaveCompleted")) {
    const wave = done.waves[(e.data as { wave: number }).wave]!;
    done.nodes.filter((n) => n.wave === wave.index).forEach((n) => upgraded.add(n.nodeId));
    const seen = await versionsAt(e.metadata.occurredAt);
    for (const [nodeId, version] of Object.entries(seen)) assert.is(version, upgraded.has(nodeId) ? "1.0.0" : null, `${nodeId} after wave ${wave.index}`);
  }
  assert.is(upgraded.size, 5);

  const bad = await requestDeployment(s, deployer, { moduleName: "kmod", version: "2.0.0-faulty.1", targetEnvironment: "Production" });
  await s.call(`/api/v1/approvals/deployments/${bad.executionId}/approve`, { method: "POST", token: admin });
  const d = await waitForStatus(s, deployer, bad.executionId);
  assert.is(d.status, "RolledBack");
  assert.ok(d.rollback, "rollback recorded");
  assert.match(d.rollback!.reason, /error rate|latency/);
  assert.ok(d.waves.length >= 2, "canary has several waves");
  assert.ok(d.waves[0]!.nodeCount < 5, "the first wave is a canary, not the whole cluster");
  // every node is back on the previous version
  const versions = await clusterVersions(s, deployer, "production", "kmod");
  assert.equal(Object.values(versions), ["1.0.0", "1.0.0", "1.0.0", "1.0.0", "1.0.0"]);
});

t("a broken version fails to install and is rolled back", async ({ s, deployer }) => {
  const r = await requestDeployment(s, deployer, { moduleName: "brokenmod", version: "3.0.0-broken.1", targetEnvironment: "Development" });
  const d = await waitForStatus(s, deployer, r.executionId);
  assert.ok(["RolledBack", "Failed"].includes(d.status), d.status);
  assert.ok(d.failureReason);
  assert.equal(Object.values(await clusterVersions(s, deployer, "development", "brokenmod")), [null, null]);
});

t("one active deployment per cluster: a second request waits, then runs", async ({ s, deployer }) => {
  const a = await requestDeployment(s, deployer, { moduleName: "queued", version: "1.0.0", targetEnvironment: "Development" });
  const b = await requestDeployment(s, deployer, { moduleName: "queued", version: "1.1.0", targetEnvironment: "Development" });
  const first = await waitForStatus(s, deployer, a.executionId);
  const second = await waitForStatus(s, deployer, b.executionId);
  assert.is(first.status, "Succeeded");
  assert.is(second.status, "Succeeded");
  const aEvents = await s.deps.log.readStream(streams.deployment(a.executionId));
  const bEvents = await s.deps.log.readStream(streams.deployment(b.executionId));
  const aDone = aEvents.find((e) => e.type === "DeploymentSucceeded")!.position;
  const bPlanned = bEvents.find((e) => e.type === "DeploymentPlanned")!.position;
  assert.ok(bPlanned > aDone, "the second was planned only after the first finished");
  assert.equal(Object.values(await clusterVersions(s, deployer, "development", "queued")), ["1.1.0", "1.1.0"]);
});

t("manual rollback of a succeeded deployment restores the previous version; pause on a finished one is 409", async ({ s, deployer }) => {
  const v1 = await requestDeployment(s, deployer, { moduleName: "manual", version: "1.0.0", targetEnvironment: "Development" });
  await waitForStatus(s, deployer, v1.executionId);
  const v2 = await requestDeployment(s, deployer, { moduleName: "manual", version: "2.0.0", targetEnvironment: "Development" });
  assert.is((await waitForStatus(s, deployer, v2.executionId)).status, "Succeeded");
  assert.is((await s.call(`/api/v1/deployments/${v2.executionId}/pause`, { method: "POST", token: deployer })).status, 409);
  const rb = await s.call(`/api/v1/deployments/${v2.executionId}/rollback`, { method: "POST", token: deployer, json: { reason: "customer report" } });
  assert.is(rb.status, 202);
  const d = await waitForStatus(s, deployer, v2.executionId, ["RolledBack", "Failed"]);
  assert.is(d.status, "RolledBack");
  assert.equal(Object.values(await clusterVersions(s, deployer, "development", "manual")), ["1.0.0", "1.0.0"]);
  // the rollback says how many nodes it returned, not which (those are a page away, by phase)
  assert.is(d.rollback!.nodeCount, 2);
  assert.not.ok("nodeIds" in d.rollback!);
  assert.is(d.nodeCounts.rolledBack, 2);
});

t("Idempotency-Key: a retried request gives the same deployment and one DeploymentRequested", async ({ s, deployer }) => {
  const headers = { "idempotency-key": "retry-me-1" };
  const a = await requestDeployment(s, deployer, { moduleName: "idem", version: "1.0.0", targetEnvironment: "QA" }, headers);
  const b = await requestDeployment(s, deployer, { moduleName: "idem", version: "1.0.0", targetEnvironment: "QA" }, headers);
  assert.is(a.executionId, b.executionId);
  assert.is(a.position, b.position);
  const requested = (await s.deps.log.readStream(streams.deployment(a.executionId))).filter((e) => e.type === "DeploymentRequested");
  assert.is(requested.length, 1);
  await waitForStatus(s, deployer, a.executionId);
});

t("bad requests: validation problems, roles, unknown ids", async ({ s, deployer, viewer }) => {
  const bad = await s.call("/api/v1/deployments", {
    method: "POST",
    token: deployer,
    json: { moduleName: "Bad Name", version: "one", targetEnvironment: "Moon", requesterEmail: "nope" },
  });
  assert.is(bad.status, 400);
  const paths = ((await bad.json()) as { errors: { path: string }[] }).errors.map((e) => e.path).sort();
  assert.equal(paths, ["json.moduleName", "json.requesterEmail", "json.targetEnvironment", "json.version"]);
  const extra = await s.call("/api/v1/deployments", {
    method: "POST",
    token: deployer,
    json: { moduleName: "ok", version: "1.0.0", targetEnvironment: "QA", requesterEmail: "a@b.co", priority: "high" },
  });
  assert.is(extra.status, 400);
  const asViewer = await s.call("/api/v1/deployments", { method: "POST", token: viewer, json: { moduleName: "ok", version: "1.0.0", targetEnvironment: "QA", requesterEmail: "a@b.co" } });
  assert.is(asViewer.status, 403);
  const unknown = "00000000-0000-4000-8000-000000000000";
  assert.is((await s.call(`/api/v1/deployments/${unknown}`, { token: viewer })).status, 404);
  assert.is((await s.call(`/api/v1/deployments/${unknown}/rollback`, { method: "POST", token: deployer })).status, 404);
  assert.is((await s.call(`/api/v1/deployments/not-a-uuid`, { token: viewer })).status, 400);
  assert.is((await s.call(`/api/v1/deployments?limit=100000`, { token: viewer })).status, 400);
});

t("list pages newest first with a cursor; time travel shows the past", async ({ s, viewer }) => {
  const first = (await (await s.call("/api/v1/deployments?limit=2", { token: viewer })).json()) as { items: { executionId: string; createdAt: string }[]; nextCursor: string };
  assert.is(first.items.length, 2);
  assert.ok(first.items[0]!.createdAt >= first.items[1]!.createdAt);
  const second = (await (await s.call(`/api/v1/deployments?limit=2&cursor=${first.nextCursor}`, { token: viewer })).json()) as { items: { executionId: string }[] };
  assert.ok(second.items.every((d) => !first.items.some((f) => f.executionId === d.executionId)));
  const id = first.items[0]!.executionId;
  const history = (await (await s.call(`/api/v1/deployments/${id}/history`, { token: viewer })).json()) as { events: { type: string; occurredAt: string }[] };
  const requestedAt = history.events[0]!.occurredAt;
  const past = (await (await s.call(`/api/v1/deployments/${id}?at=${encodeURIComponent(requestedAt)}`, { token: viewer })).json()) as { status: string; asOf: string };
  assert.ok(["Pending", "PendingApproval"].includes(past.status), past.status);
  const before = await s.call(`/api/v1/deployments/${id}?at=2000-01-01T00:00:00Z`, { token: viewer });
  assert.is(before.status, 404);
  const future = await s.call(`/api/v1/deployments/${id}?at=2999-01-01T00:00:00Z`, { token: viewer });
  assert.is(future.status, 400);
  const now = await getDeployment(s, viewer, id);
  assert.ok(now.status);
});

t.run();
