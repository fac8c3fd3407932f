// PROJECTIONS_MODE=follow: two servers share one event log and one read store (in MongoDB in
// production; here one MemoryReadStore object handed to both); A writes the read models, B only
// follows A's checkpoints. B answers reads of its own writes, says how far it has read, and never
// writes a read model itself: with A stopped, B's reads of new events wait, and catch up when a
// writer runs again.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { loadConfig } from "../../src/platform/config.js";
import { MemoryReadStore } from "../../src/projections/store/memory.js";
import { requestDeployment } from "../helpers/deployments.js";
import { startRedisServer } from "../helpers/redis-server.js";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";

test("PROJECTIONS_MODE=follow needs MONGODB_URL", () => {
  assert.throws(() => loadConfig({ APP_MODE: "development", PROJECTIONS_MODE: "follow" }), /PROJECTIONS_MODE: follow needs MONGODB_URL/);
});

const redis = await startRedisServer();
if (!redis) {
  console.log("SKIPPED projection follower: no redis-server on PATH and REDIS_URL unset");
} else {
  test("a follower serves the read models another instance writes, and waits for them", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "korch-follow-"));
    const readStore = new MemoryReadStore({ ttlIntervalMs: 0 });
    const shared = { REDIS_URL: redis.url, READ_WAIT_TIMEOUT_MS: "1500" };
    // the URL only satisfies the config check: the injected store is what B reads
    const followerEnv = { ...shared, PROJECTIONS_MODE: "follow", MONGODB_URL: "mongodb://shared-read-store.invalid:27017" };
    let a: TestServer | undefined = await startTestServer(shared, { dataDir, readStore });
    let b: TestServer | undefined;
    try {
      b = await startTestServer(followerEnv, { dataDir, readStore });
      const deployer = await b.login(...DEMO.deployer);
      const admin = await b.login(...DEMO.admin);

      // B's own write, read back from B with read-your-writes
      const r = await requestDeployment(b, deployer, { moduleName: "netfilter", version: "2.0.0", targetEnvironment: "Staging" });
      const got = await b.call(`/api/v1/deployments/${r.executionId}?minPosition=${r.position}`, { token: deployer });
      assert.is(got.status, 200);
      assert.ok(Number(got.headers.get("x-read-position")) >= r.position);
      const health = (await (await b.call("/health")).json()) as { ready: boolean; readPosition: number };
      assert.ok(health.ready);
      assert.ok(health.readPosition >= r.position);

      // with the writer gone, nothing writes the read models: B's read of a new event waits, then 503
      await a.stop();
      a = undefined;
      const rejected = await b.call(`/api/v1/approvals/deployments/${r.executionId}/reject`, { method: "POST", token: admin, json: { reason: "not now" } });
      assert.is(rejected.status, 200);
      const { position } = (await rejected.json()) as { position: number };
      const stale = await b.call(`/api/v1/deployments/${r.executionId}?minPosition=${position}`, { token: deployer });
      assert.is(stale.status, 503);
      assert.ok(Number(stale.headers.get("retry-after")) >= 1);

      // a writer again: B catches up without a restart
      a = await startTestServer(shared, { dataDir, readStore });
      const fresh = await b.call(`/api/v1/deployments/${r.executionId}?minPosition=${position}`, { token: deployer });
      assert.is(fresh.status, 200);
      assert.is(((await fresh.json()) as { status: string }).status, "Rejected");
    } finally {
      await b?.stop();
      await a?.stop();
      await readStore.close();
      rmSync(dataDir, { recursive: true, force: true });
      await redis.stop();
    }
  });
}

test.run();
