import { suite } from "uvu";
import * as assert from "uvu/assert";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";
import { FAST_FLEET_ENV, requestDeployment, waitForStatus } from "../helpers/deployments.js";

// A module named after a property of Object.prototype once read Object's constructor where a
// version was expected: the runner failed on every step and the environment's queue stalled.
const t = suite<{ s: TestServer; deployer: string }>("module names that are Object.prototype properties");
t.before(async (ctx) => {
  ctx.s = await startTestServer({ ...FAST_FLEET_ENV, SIMULATOR_CLUSTER_SIZES: "Development:2,QA:0,Staging:0,Production:0" });
  ctx.deployer = await ctx.s.login(...DEMO.deployer);
  const deadline = Date.now() + 15_000;
  for (;;) {
    const clusters = (await (await ctx.s.call("/api/v1/clusters", { token: ctx.deployer })).json()) as { healthyCount: number }[];
    if (clusters.reduce((n, c) => n + c.healthyCount, 0) === 2) break;
    if (Date.now() > deadline) throw new Error("simulated fleet did not come up");
    await new Promise((r) => setTimeout(r, 100));
  }
});
t.after(async (ctx) => ctx.s.stop());

t("a deployment of module `constructor` succeeds, and the next one to that environment is not blocked", async ({ s, deployer }) => {
  const first = await requestDeployment(s, deployer, { moduleName: "constructor", version: "1.0.0", targetEnvironment: "Development" });
  const second = await requestDeployment(s, deployer, { moduleName: "tostring", version: "1.0.0", targetEnvironment: "Development" });
  const a = await waitForStatus(s, deployer, first.executionId, undefined, 20_000);
  assert.is(a.status, "Succeeded", a.failureReason ?? "");
  const b = await waitForStatus(s, deployer, second.executionId, undefined, 20_000);
  assert.is(b.status, "Succeeded", b.failureReason ?? "");
  const cluster = (await (await s.call("/api/v1/clusters/Development", { token: deployer })).json()) as { nodes: { modules: Record<string, string> }[] };
  for (const n of cluster.nodes) {
    assert.is(Object.hasOwn(n.modules, "constructor") ? n.modules.constructor : undefined, "1.0.0");
    assert.is(Object.hasOwn(n.modules, "tostring") ? n.modules.tostring : undefined, "1.0.0");
  }
});

t.run();
