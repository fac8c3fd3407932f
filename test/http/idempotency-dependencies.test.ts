// Idempotency-Key and the dependency check (issue 14): a retry of a request that was answered gets
// the first answer again even when the fleet has changed so much that the request would now be
// refused; a refused request does not spend its key.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { FAST_FLEET_ENV, requestDeployment, waitForStatus } from "../helpers/deployments.js";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";

const t = suite<{ s: TestServer; admin: string; deployer: string }>("Idempotency-Key before the dependency check");
t.before(async (ctx) => {
  ctx.s = await startTestServer(FAST_FLEET_ENV);
  ctx.admin = await ctx.s.login(...DEMO.admin);
  ctx.deployer = await ctx.s.login(...DEMO.deployer);
  const deadline = Date.now() + 15_000;
  for (;;) {
    const clusters = (await (await ctx.s.call("/api/v1/clusters", { token: ctx.admin })).json()) as { environment: string; healthyCount: number }[];
    if (clusters.find((c) => c.environment === "Development")?.healthyCount === 2) break;
    if (Date.now() > deadline) throw new Error("simulated fleet did not come up");
    await new Promise((r) => setTimeout(r, 100));
  }
});
t.after(async (ctx) => ctx.s.stop());

const app = { moduleName: "app", version: "1.0.0", targetEnvironment: "Development", requesterEmail: "dev@example.com", dependencies: [{ name: "dep", range: "^2.0.0" }] };
const post = (s: TestServer, token: string, key: string, json: unknown) => s.call("/api/v1/deployments", { method: "POST", token, headers: { "idempotency-key": key }, json });

t("the first answer is replayed although the dependency would now be refused", async ({ s, admin, deployer }) => {
  const dep2 = await requestDeployment(s, deployer, { moduleName: "dep", version: "2.0.0", targetEnvironment: "Development" });
  assert.is((await waitForStatus(s, deployer, dep2.executionId)).status, "Succeeded");
  const first = await post(s, deployer, "idem-dep-1", app);
  assert.is(first.status, 202, await first.clone().text());
  const answer = (await first.json()) as { executionId: string };
  assert.is((await waitForStatus(s, deployer, answer.executionId)).status, "Succeeded");

  // the fleet moves to dep 1.0.0 (an Admin forces it past app, which needs ^2.0.0)
  const dep1 = await s.call("/api/v1/deployments", { method: "POST", token: admin, json: { moduleName: "dep", version: "1.0.0", targetEnvironment: "Development", requesterEmail: "a@b.co", force: true } });
  assert.is(dep1.status, 202, await dep1.clone().text());
  assert.is((await waitForStatus(s, deployer, ((await dep1.json()) as { executionId: string }).executionId)).status, "Succeeded");
  // without a key the same request is refused now
  const fresh = await s.call("/api/v1/deployments", { method: "POST", token: deployer, json: app });
  assert.is(fresh.status, 422, await fresh.clone().text());

  const retry = await post(s, deployer, "idem-dep-1", app);
  assert.is(retry.status, 202, await retry.clone().text());
  assert.is(retry.headers.get("idempotent-replayed"), "true");
  assert.is(((await retry.json()) as { executionId: string }).executionId, answer.executionId);
});

t("a request refused for its dependencies does not spend its key: once the fleet satisfies them, the same request goes through", async ({ s, deployer }) => {
  const refused = await post(s, deployer, "idem-dep-2", { ...app, version: "1.1.0" });
  assert.is(refused.status, 422);
  assert.match(((await refused.json()) as { detail: string }).detail, /runs dep 1\.0\.0, app@1\.1\.0 needs dep \^2\.0\.0/);
  const dep2 = await requestDeployment(s, deployer, { moduleName: "dep", version: "2.1.0", targetEnvironment: "Development" });
  assert.is((await waitForStatus(s, deployer, dep2.executionId)).status, "Succeeded");
  const again = await post(s, deployer, "idem-dep-2", { ...app, version: "1.1.0" });
  assert.is(again.status, 202, await again.clone().text());
  assert.is(again.headers.get("idempotent-replayed"), null);
});

t.run();
