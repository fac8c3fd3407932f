// Rate-limiter cost per request: the same trivial Hono route timed with and without the middleware,
// for the in-process adapter and (when a redis-server is available) Redis on localhost.
import { Hono } from "hono";
import { classifyRequest, rateLimit } from "../src/http/rate-limit.js";
import type { RateLimitClass } from "../src/platform/config.js";
import { MemoryCoordination } from "../src/platform/coordination/memory.js";
import type { Coordination } from "../src/platform/coordination/port.js";
import { RedisCoordination } from "../src/platform/coordination/redis.js";
import { startRedisServer } from "../test/helpers/redis-server.js";
import { emit } from "./emit.js";
import { QUICK } from "./quick.js";

const REQUESTS = QUICK ? 4_000 : 20_000;
const WARMUP = QUICK ? 500 : 2_000;
const IDENTITIES = 1_000;
// high enough that every request is allowed: we measure the counting, not the refusal
const limits: Record<RateLimitClass, number> = { auth: 1e9, deployments: 1e9, approvals: 1e9, clusters: 1e9, agents: 1e9, queries: 1e9, sse: 1e9, global: 1e9 };

function app(coordination: Coordination | null): Hono {
  const a = new Hono();
  if (coordination) {
    a.use(
      rateLimit({
        coordination,
        config: { enabled: true, failMode: "open", limitsPerMinute: limits },
        classify: (c) => classifyRequest(c.req.method, c.req.path),
        identify: (c) => c.req.header("x-user") ?? "ip:127.0.0.1",
      }),
    );
  }
  a.get("/api/v1/deployments", (c) => c.json([]));
  return a;
}

/** per-request latencies in µs, sorted */
async function measure(a: Hono): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < WARMUP + REQUESTS; i++) {
    const headers = { "x-user": `user:u${i % IDENTITIES}` };
    const start = process.hrtime.bigint();
    const res = await a.request("/api/v1/deployments", { headers });
    await res.arrayBuffer();
    const us = Number(process.hrtime.bigint() - start) / 1000;
    if (i >= WARMUP) times.push(us);
  }
  return times.sort((x, y) => x - y);
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

async function report(adapter: string, coordination: Coordination): Promise<void> {
  const base = await measure(app(null));
  const limited = await measure(app(coordination));
  const conditions = { adapter, requests: REQUESTS, identities: IDENTITIES, window: "60s sliding log" };
  emit("rate_limit.request.p50", pct(limited, 50), "us", conditions);
  emit("rate_limit.request.p99", pct(limited, 99), "us", conditions);
  emit("rate_limit.overhead.p50", pct(limited, 50) - pct(base, 50), "us", { ...conditions, baseline_p50_us: pct(base, 50) });
  emit("rate_limit.overhead.p99", pct(limited, 99) - pct(base, 99), "us", { ...conditions, baseline_p99_us: pct(base, 99) });
}

const memory = new MemoryCoordination();
await report("memory", memory);
await memory.close();

const redis = await startRedisServer();
if (!redis) {
  console.error("rate-limit bench: redis-server not on PATH and REDIS_URL unset; Redis figures skipped");
} else {
  const coordination = new RedisCoordination({ url: redis.url, prefix: `bench:${process.pid}:` });
  try {
    await coordination.ready();
    await report("redis", coordination);
  } finally {
    await coordination.close();
    await redis.stop();
  }
}
