// Issue 14, "by the time its wave starts": a canary paused between waves needs dep ^2.0.0; the
// nodes ran dep 2.x when it was requested, then a rollback takes them back to dep 1.0.0. When the
// canary resumes, its next wave does not start: the deployment fails, rolling back the wave it had
// done, and says which node runs which dep against which range.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { clusterVersions, FAST_FLEET_ENV, getDeployment, requestDeployment, waitForStatus } from "../helpers/deployments.js";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";

const t = suite<{ s: TestServer; admin: string; deployer: string }>("dependencies judged again as each wave starts");
t.before(async (ctx) => {
  ctx.s = await startTestServer(FAST_FLEET_ENV);
  ctx.admin = await ctx.s.login(...DEMO.admin);
  ctx.deployer = await ctx.s.login(...DEMO.deployer);
  const deadline = Date.now() + 15_000;
  while (Object.keys(await clusterVersions(ctx.s, ctx.deployer, "qa", "none")).length < 3) {
    if (Date.now() > deadline) throw new Error("simulated fleet did not come up");
    await new Promise((r) => setTimeout(r, 100));
  }
});
t.after(async (ctx) => ctx.s.stop());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t("a rollback moves the next wave's nodes to dep 1.0.0 while a canary needing dep ^2.0.0 is paused: it fails naming node, module and range", async ({ s, admin, deployer }) => {
  const dep1 = await requestDeployment(s, deployer, { moduleName: "dep", version: "1.0.0", targetEnvironment: "QA", strategy: "Direct" });
  assert.is((await waitForStatus(s, deployer, dep1.executionId)).status, "Succeeded");
  const dep2 = await requestDeployment(s, deployer, { moduleName: "dep", version: "2.0.0", targetEnvironment: "QA", strategy: "Direct" });
  assert.is((await waitForStatus(s, deployer, dep2.executionId)).status, "Succeeded");

  // accepted: every QA node runs dep 2.0.0 now
  const app = await requestDeployment(s, deployer, { moduleName: "app", version: "1.0.0", targetEnvironment: "QA", strategy: "Canary", dependencies: [{ name: "dep", range: "^2.0.0" }] } as never);
  // paused as soon as it runs (a pending deployment cannot be paused), well before its last wave
  for (const deadline = Date.now() + 20_000; ; await sleep(20)) {
    const res = await s.call(`/api/v1/deployments/${app.executionId}/pause`, { method: "POST", token: deployer });
    if (res.status === 202) break;
    assert.is(res.status, 409, await res.text());
    if (Date.now() > deadline) throw new Error("the canary never ran");
  }
  let paused = await waitForStatus(s, deployer, app.executionId, ["Paused"]);
  for (const deadline = Date.now() + 20_000; paused.nodes.some((n) => n.phase === "installing"); await sleep(50)) {
    if (Date.now() > deadline) throw new Error("installs in flight never finished");
    paused = await getDeployment(s, deployer, app.executionId);
  }
  const pending = paused.waves.filter((w) => w.status === "pending");
  assert.ok(pending.length > 0, `a wave is left to start: ${JSON.stringify(paused.waves)}`);
  const nextNodes = paused.nodes.filter((n) => n.wave === pending[0]!.index).map((n) => n.nodeId);

  // the dep deployment rolled back: QA back on dep 1.0.0 (an Admin forces it past app on the canary's nodes)
  const rb = await s.call(`/api/v1/deployments/${dep2.executionId}/rollback`, { method: "POST", token: admin, json: { reason: "dep 2 is bad", force: true } });
  assert.is(rb.status, 202, await rb.clone().text());
  assert.is((await waitForStatus(s, deployer, dep2.executionId, ["RolledBack", "Failed"])).status, "RolledBack");
  for (const deadline = Date.now() + 10_000; ; await sleep(50)) {
    const deps = await clusterVersions(s, deployer, "qa", "dep");
    if (nextNodes.every((id) => deps[id] === "1.0.0")) break;
    if (Date.now() > deadline) throw new Error(`dep did not go back to 1.0.0: ${JSON.stringify(deps)}`);
  }

  assert.is((await s.call(`/api/v1/deployments/${app.executionId}/resume`, { method: "POST", token: deployer })).status, 202);
  const end = await waitForStatus(s, deployer, app.executionId);
  assert.ok(["RolledBack", "Failed"].includes(end.status), end.status);
  const reason = end.failureReason ?? end.rollback?.reason ?? "";
  for (const node of nextNodes) assert.match(reason, new RegExp(`node ${node} runs dep 1\\.0\\.0, app@1\\.0\\.0 needs dep \\^2\\.0\\.0`));
  // no node of that wave was asked to install app
  const history = (await (await s.call(`/api/v1/deployments/${app.executionId}/history`, { token: deployer })).json()) as { events: { type: string; data: Record<string, unknown> }[] };
  assert.not.ok(history.events.some((e) => e.type === "NodeUpdateRequested" && e.data.kind === "install" && nextNodes.includes(String(e.data.nodeId))));
  const started = history.events.find((e) => e.type === "RollbackStarted");
  if (end.status === "RolledBack") assert.is((started?.data.cause as { kind: string }).kind, "dependencies");
  // the canary's nodes that had app are back without it
  const apps = await clusterVersions(s, deployer, "qa", "app");
  assert.ok(Object.values(apps).every((v) => v === null), JSON.stringify(apps));
});

t.run();
