// Redis goes away under a running server: reads keep being served from the event log and read
// models, /health says not ready (503, coordination "down"), and rate-limited writes fail closed
// (503) or open (served) as RATE_LIMIT_FAIL_MODE says.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { startRedisServer, type TestRedis } from "../helpers/redis-server.js";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";

interface Health {
  status: string;
  ready: boolean;
  checks: Record<string, { status: string; kind: string; error?: string }>;
}

const deployBody = { moduleName: "outage", version: "1.0.0", targetEnvironment: "Development", requesterEmail: "o@example.com" };

/** a server on its own Redis, a token from before the outage, then the outage */
async function serverThenOutage(failMode: "open" | "closed"): Promise<{ server: TestServer; token: string; adminToken: string; redis: TestRedis }> {
  const redis = (await startRedisServer())!;
  const server = await startTestServer({ REDIS_URL: redis.url, RATE_LIMIT_ENABLED: "true", RATE_LIMIT_FAIL_MODE: failMode });
  const token = await server.login(...DEMO.deployer);
  // the reason a check is down is shown to an Admin only
  const adminToken = await server.login(...DEMO.admin);
  const health = await server.call("/health");
  assert.is(health.status, 200, "ready while Redis is up");
  assert.is(((await health.json()) as Health).checks.coordination?.status, "up");
  await redis.stop();
  return { server, token, adminToken, redis };
}

async function assertNotReady(server: TestServer, adminToken: string): Promise<void> {
  const anonymous = (await (await server.call("/health")).json()) as Health;
  assert.is(anonymous.checks.coordination?.status, "down");
  assert.is(anonymous.checks.coordination?.error, undefined, "no adapter error text for strangers");
  const res = await server.call("/health", { token: adminToken });
  assert.is(res.status, 503);
  const body = (await res.json()) as Health;
  assert.is(body.ready, false);
  assert.is(body.status, "degraded");
  assert.is(body.checks.coordination?.status, "down");
  assert.is(body.checks.coordination?.kind, "redis");
  assert.ok(body.checks.coordination?.error, "says why");
  assert.is(body.checks.eventStore?.status, "up", "the other adapters are still up");
}

const available = await startRedisServer();
await available?.stop();

if (!available) {
  console.log("SKIPPED redis-outage: no redis-server on PATH and REDIS_URL unset");
} else if (process.env.REDIS_URL) {
  // an external Redis cannot be stopped by the test
  console.log("SKIPPED redis-outage: REDIS_URL points at a Redis this test cannot stop");
} else {
  test("fail closed: not ready, rate-limited writes refused with 503, reads still served", async () => {
    const { server, token, adminToken } = await serverThenOutage("closed");
    try {
      await assertNotReady(server, adminToken);
      const write = await server.call("/api/v1/deployments", { method: "POST", token, json: deployBody });
      assert.is(write.status, 503);
      assert.match(write.headers.get("content-type") ?? "", "application/problem+json");
      assert.match(((await write.json()) as { detail: string }).detail, /rate limiter is unavailable/);

      const reads = ["/api/v1/clusters", "/api/v1/deployments", "/api/v1/authentication/me"];
      for (const path of reads) assert.is((await server.call(path, { token })).status, 200, `GET ${path} during the outage`);
      // exempt from rate limiting, so served whatever the mode
      assert.is((await server.call("/metrics")).status, 200);
    } finally {
      await server.stop();
    }
  });

  test("fail open: not ready, writes and reads served without rate limiting", async () => {
    const { server, token, adminToken } = await serverThenOutage("open");
    try {
      await assertNotReady(server, adminToken);
      const write = await server.call("/api/v1/deployments", { method: "POST", token, json: deployBody });
      assert.is(write.status, 202, await write.clone().text());
      const { executionId, position } = (await write.json()) as { executionId: string; position: number };
      const read = await server.call(`/api/v1/deployments/${executionId}?minPosition=${position}`, { token });
      assert.is(read.status, 200);
      assert.is((await server.call("/api/v1/clusters", { token })).status, 200);
      // no rate-limit headers: nothing was counted
      assert.is(read.headers.get("ratelimit"), null);
    } finally {
      await server.stop();
    }
  });
}

test.run();
