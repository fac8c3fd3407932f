import type { Clock } from "../clock.js";
import { systemClock } from "../clock.js";
import { MemoryCoordination } from "./memory.js";
import type { Coordination } from "./port.js";

export interface OpenCoordinationOptions {
  redisUrl?: string;
  clock?: Clock;
  /** Redis connection errors after start (reconnects are automatic) */
  onError?: (err: Error) => void;
}

/**
 * In-process coordination unless `redisUrl` is set. With Redis, waits for the first connection and
 * rejects if Redis does not answer, so a misconfigured URL stops start-up instead of silently
 * running every instance on its own.
 */
export async function openCoordination(opts: OpenCoordinationOptions): Promise<Coordination> {
  if (!opts.redisUrl) return new MemoryCoordination(opts.clock ?? systemClock);
  // loaded only when configured: each client library costs ~20 MiB of RSS (code, and bson's 17 MiB buffer) to a server that never uses it
  const { RedisCoordination } = await import("./redis.js");
  const redis = new RedisCoordination({ url: opts.redisUrl, onError: opts.onError });
  try {
    await redis.ready();
  } catch (err) {
    await redis.close();
    throw new Error(`REDIS_URL: cannot reach Redis (${(err as Error).message})`, { cause: err });
  }
  return redis;
}
