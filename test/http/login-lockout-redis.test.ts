// The login lockout across two instances sharing one Redis: a burst split between them checks at
// most LOCKOUT_MAX_ATTEMPTS passwords in all, a lock set through one holds on the other, and with
// Redis gone logins are refused (503) rather than left unguarded.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { startRedisServer } from "../helpers/redis-server.js";
import { attempt, passwordChecks } from "../helpers/login.js";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";

const MAX = 5;
const redis = await startRedisServer();

if (!redis) {
  console.log("SKIPPED login lockout on Redis: no redis-server on PATH and REDIS_URL unset");
} else {
  test("two instances on one Redis: one lockout, at most LOCKOUT_MAX_ATTEMPTS checks for a burst split between them", async () => {
    const env = { REDIS_URL: redis.url, LOCKOUT_MAX_ATTEMPTS: String(MAX), TRUST_PROXY: "127.0.0.1/32" };
    const servers: TestServer[] = [await startTestServer(env), await startTestServer(env)];
    const [a, b] = servers as [TestServer, TestServer];
    try {
      const before = (await passwordChecks(a)) + (await passwordChecks(b));
      const answers = await Promise.all(
        Array.from({ length: 30 }, (_, i) => attempt(i % 2 ? b : a, "viewer", `wrong-${i}`, "203.0.113.99")),
      );
      const checks = (await passwordChecks(a)) + (await passwordChecks(b)) - before;
      const statuses = answers.map((r) => r.status);
      assert.is(checks, MAX, `${checks} password checks`);
      assert.is(statuses.filter((st) => st === 401).length, MAX - 1, statuses.join(","));
      assert.is(statuses.filter((st) => st === 423).length, 30 - (MAX - 1), statuses.join(","));

      assert.is((await attempt(a, ...DEMO.viewer, "203.0.113.99")).status, 423, "locked on A");
      assert.is((await attempt(b, ...DEMO.viewer, "203.0.113.99")).status, 423, "locked on B");
      assert.is((await attempt(b, ...DEMO.viewer, "198.51.100.1")).status, 200, "another address logs in");

      if (process.env.REDIS_URL) return; // an external Redis is not ours to stop
      await redis.stop();
      const down = await attempt(a, ...DEMO.viewer, "198.51.100.2");
      assert.is(down.status, 503, "no lockout store, no password checks");
      assert.match(down.headers.get("content-type") ?? "", "application/problem+json");
      assert.ok(Number(down.headers.get("retry-after")) > 0);
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
      await redis.stop();
    }
  });
}

test.run();
