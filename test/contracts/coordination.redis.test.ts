import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { openCoordination } from "../../src/platform/coordination/open.js";
import { RedisCoordination } from "../../src/platform/coordination/redis.js";
import { freePort, startRedisServer } from "../helpers/redis-server.js";
import { coordinationContract, rejection } from "./coordination.js";

/** fails instead of hanging when `p` never settles */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** fencing counters never expire by design; remove this test's keys so a shared REDIS_URL stays clean */
async function deleteKeys(url: string, prefix: string): Promise<void> {
  const client = new Redis(url);
  try {
    const keys = await client.keys(`${prefix}*`);
    if (keys.length) await client.del(...keys);
  } finally {
    client.disconnect();
  }
}

const redis = await startRedisServer();

if (!redis) {
  console.log("SKIPPED: Redis coordination contract suite (redis-server not on PATH and REDIS_URL unset)");
  test.run();
} else {
  const s = coordinationContract("redis", async () => {
    // a fresh prefix per test isolates tests from each other and from whatever else uses REDIS_URL
    const prefix = `test:${randomUUID()}:`;
    const coordination = new RedisCoordination({ url: redis.url, prefix });
    const peer = new RedisCoordination({ url: redis.url, prefix });
    await Promise.all([coordination.ready(), peer.ready()]);
    return {
      coordination,
      peer,
      cleanup: async () => {
        await Promise.all([coordination.close(), peer.close()]);
        await deleteKeys(redis.url, prefix);
      },
    };
  });

  s("openCoordination with a Redis URL gives the Redis adapter", async () => {
    const c = await openCoordination({ redisUrl: redis.url });
    assert.is(c.kind, "redis");
    await c.ping();
    await c.close();
  });

  s("pointed at a closed port: ping rejects and hit fails fast instead of hanging", async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    const errors: Error[] = [];
    const c = new RedisCoordination({ url, onError: (e) => errors.push(e), connectTimeoutMs: 300 });
    await rejection(within(c.ready(), 3000, "ready"));
    await rejection(within(c.ping(), 3000, "ping"));
    await rejection(within(c.hit("k", 5, 1000), 3000, "hit"));
    await rejection(within(c.acquire("k", "A", 1000), 3000, "acquire"));
    await rejection(within(c.tryLock("k", "A", 1000), 3000, "tryLock"));
    await rejection(within(c.lockoutFailure("k", { maxFailures: 3, windowMs: 1000, lockMs: 1000, maxLockMs: 1000 }), 3000, "lockoutFailure"));
    await rejection(within(c.subscribe("ch", () => {}), 3000, "subscribe"));
    await c.close();
    assert.ok(errors.length > 0, "connection errors reach onError instead of crashing the process");
  });

  s("openCoordination rejects when Redis is unreachable", async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    const err = await rejection(within(openCoordination({ redisUrl: url }), 5000, "openCoordination"));
    assert.match(err.message, /REDIS_URL/);
  });

  s("fails fast when Redis goes down after connecting", async () => {
    const own = await startRedisServer();
    if (!own || own.url === redis.url) return; // needs a server this test may stop (not an external REDIS_URL)
    const c = new RedisCoordination({ url: own.url, prefix: "t:" });
    await c.ready();
    assert.ok((await c.hit("k", 5, 1000)).allowed);
    await own.stop();
    await rejection(within(c.hit("k", 5, 1000), 3000, "hit while down"));
    await c.close();
  });

  s.after(async () => {
    await redis.stop();
  });

  s.run();
}
