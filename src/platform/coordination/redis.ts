import { createHash, randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import type { Coordination, Lease, LockoutPolicy, LockoutState, RateLimitDecision } from "./port.js";

export interface RedisCoordinationOptions {
  url: string;
  /** prefix for every key and channel, so several deployments can share one Redis */
  prefix?: string;
  /** called on connection errors; ioredis keeps reconnecting, and failures surface on commands */
  onError?: (err: Error) => void;
  /** a command without a reply within this long is failed (default 1000 ms) */
  commandTimeoutMs?: number;
  /** first connection attempt budget (default 2000 ms) */
  connectTimeoutMs?: number;
}

// Every script reads the Redis server clock (TIME) so all instances share one notion of "now".
const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/** KEYS: lease hash, fencing counter. ARGV: owner, ttlMs. Returns {token, expiresAt} or nil. */
const ACQUIRE = `${NOW}
local cur = redis.call('HMGET', KEYS[1], 'owner', 'token')
local ttl = tonumber(ARGV[2])
if cur[1] then
  if cur[1] ~= ARGV[1] then return false end
  redis.call('PEXPIRE', KEYS[1], ttl)
  return {tonumber(cur[2]), now + ttl}
end
local token = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'token', token)
redis.call('PEXPIRE', KEYS[1], ttl)
return {token, now + ttl}`;

/** KEYS: lease hash. ARGV: owner, token, ttlMs. Returns the new expiresAt or nil if lost. */
const RENEW = `${NOW}
local cur = redis.call('HMGET', KEYS[1], 'owner', 'token')
if cur[1] ~= ARGV[1] or cur[2] ~= ARGV[2] then return false end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return now + tonumber(ARGV[3])`;

/** KEYS: lease hash. ARGV: owner, token. Deletes only our own grant. */
const RELEASE = `local cur = redis.call('HMGET', KEYS[1], 'owner', 'token')
if cur[1] == ARGV[1] and cur[2] == ARGV[2] then redis.call('DEL', KEYS[1]) return 1 end
return 0`;

/**
 * KEYS: sorted set of counted hits (score = server ms). ARGV: limit, windowMs, unique member.
 * Exact sliding log, same rule as the memory adapter: hits at or before now - window have left;
 * denied hits are not recorded. Returns {allowed, remaining, retryAfterMs, resetMs}.
 */
const HIT = `${NOW}
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, limit - count - 1, 0, window}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
local retry = window
local reset = window
if oldest[2] then retry = tonumber(oldest[2]) + window - now end
if newest[2] then reset = tonumber(newest[2]) + window - now end
return {0, 0, retry, reset}`;

/** KEYS: mutex. ARGV: owner, ttlMs. 1 if taken (free, expired or ours), else 0. */
const TRY_LOCK = `local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))
return 1`;

/** KEYS: mutex. ARGV: owner. Deletes only our own hold. */
const UNLOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0`;

// Lockouts, same rules as the memory adapter. KEYS: hash {until, level} living until the doubling is
// forgotten (until + maxLockMs), sorted set of failures in the window (score = server ms).
// Every script answers {lockedForMs, failures, lockedNow, lockouts}.
const LOCKOUT_READ = `${NOW}
local h = redis.call('HMGET', KEYS[1], 'until', 'level')
local untilMs = tonumber(h[1]) or 0
local level = tonumber(h[2]) or 0`;

/** ARGV: windowMs, maxLockMs. */
const LOCKOUT_STATUS = `${LOCKOUT_READ}
if untilMs > 0 and now >= untilMs + tonumber(ARGV[2]) then level = 0 end
local locked = 0
if untilMs > now then locked = untilMs - now end
local failures = redis.call('ZCOUNT', KEYS[2], '(' .. (now - tonumber(ARGV[1])), '+inf')
return {locked, failures, 0, level}`;

/** ARGV: maxFailures, windowMs, lockMs, maxLockMs, unique member. */
const LOCKOUT_FAILURE = `${LOCKOUT_READ}
local maxFailures = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local lockMs = tonumber(ARGV[3])
local maxLockMs = tonumber(ARGV[4])
if untilMs > now then return {untilMs - now, 0, 0, level} end
if untilMs > 0 and now >= untilMs + maxLockMs then level = 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
redis.call('ZADD', KEYS[2], now, ARGV[5])
local failures = redis.call('ZCARD', KEYS[2])
if failures < maxFailures then
  redis.call('PEXPIRE', KEYS[2], window)
  return {0, failures, 0, level}
end
level = level + 1
local ms = math.min(lockMs * math.pow(2, level - 1), maxLockMs)
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], 'until', now + ms, 'level', level)
redis.call('PEXPIRE', KEYS[1], ms + maxLockMs)
return {ms, failures, 1, level}`;

/** No ARGV. A success while locked is refused and changes nothing. */
const LOCKOUT_SUCCESS = `${LOCKOUT_READ}
if untilMs > now then return {untilMs - now, 0, 0, level} end
redis.call('DEL', KEYS[1], KEYS[2])
return {0, 0, 0, 0}`;

interface Script {
  lua: string;
  sha: string;
}

const script = (lua: string): Script => ({ lua, sha: createHash("sha1").update(lua).digest("hex") });
const SCRIPTS = {
  acquire: script(ACQUIRE),
  renew: script(RENEW),
  release: script(RELEASE),
  hit: script(HIT),
  tryLock: script(TRY_LOCK),
  unlock: script(UNLOCK),
  lockoutStatus: script(LOCKOUT_STATUS),
  lockoutFailure: script(LOCKOUT_FAILURE),
  lockoutSuccess: script(LOCKOUT_SUCCESS),
};

function lockoutState(reply: unknown): LockoutState {
  const [lockedForMs, failures, lockedNow, lockouts] = reply as [number, number, number, number];
  return { lockedForMs, failures, lockedNow: lockedNow === 1, lockouts };
}

type Handler = (message: string) => void;

/**
 * Coordination shared by every instance pointed at one Redis. Commands fail fast while Redis is
 * unreachable (no offline queue, one retry, command timeout) so callers can apply their own
 * fail-open / fail-closed policy instead of piling up requests.
 */
export class RedisCoordination implements Coordination {
  readonly kind = "redis";
  private readonly client: Redis;
  private subscriber: Redis | null = null;
  private subscriberReady: Promise<Redis> | null = null;
  private readonly handlers = new Map<string, Set<Handler>>();
  private readonly prefix: string;
  /** makes sorted-set members unique across instances that hit in the same millisecond */
  private readonly instanceId = randomUUID();
  private seq = 0;

  constructor(private readonly opts: RedisCoordinationOptions) {
    this.prefix = opts.prefix ?? "korch:";
    this.client = this.connection(opts.url);
  }

  /** resolves once the first connection is ready; rejects if Redis does not answer in time */
  async ready(): Promise<void> {
    await waitReady(this.client, this.opts.connectTimeoutMs ?? 2000);
  }

  async acquire(key: string, owner: string, ttlMs: number): Promise<Lease | null> {
    const reply = await this.run(SCRIPTS.acquire, [this.leaseKey(key), this.fenceKey(key)], [owner, String(ttlMs)]);
    if (reply === null) return null;
    const [fencingToken, expiresAt] = reply as [number, number];
    return { key, owner, fencingToken, expiresAt };
  }

  async renew(lease: Lease, ttlMs: number): Promise<Lease | null> {
    const reply = await this.run(SCRIPTS.renew, [this.leaseKey(lease.key)], [lease.owner, String(lease.fencingToken), String(ttlMs)]);
    if (reply === null) return null;
    return { ...lease, expiresAt: reply as number };
  }

  async release(lease: Lease): Promise<void> {
    await this.run(SCRIPTS.release, [this.leaseKey(lease.key)], [lease.owner, String(lease.fencingToken)]);
  }

  async hit(key: string, limit: number, windowMs: number): Promise<RateLimitDecision> {
    const member = `${this.instanceId}:${this.seq++}`;
    const reply = await this.run(SCRIPTS.hit, [`${this.prefix}rl:${key}`], [String(limit), String(windowMs), member]);
    const [allowed, remaining, retryAfterMs, resetMs] = reply as [number, number, number, number];
    return { allowed: allowed === 1, limit, remaining, retryAfterMs, resetMs };
  }

  async tryLock(key: string, owner: string, ttlMs: number): Promise<boolean> {
    return (await this.run(SCRIPTS.tryLock, [`${this.prefix}mutex:${key}`], [owner, String(ttlMs)])) === 1;
  }

  async unlock(key: string, owner: string): Promise<void> {
    await this.run(SCRIPTS.unlock, [`${this.prefix}mutex:${key}`], [owner]);
  }

  async lockoutStatus(key: string, policy: LockoutPolicy): Promise<LockoutState> {
    return lockoutState(await this.run(SCRIPTS.lockoutStatus, this.lockoutKeys(key), [String(policy.windowMs), String(policy.maxLockMs)]));
  }

  async lockoutFailure(key: string, policy: LockoutPolicy): Promise<LockoutState> {
    const member = `${this.instanceId}:${this.seq++}`;
    const args = [policy.maxFailures, policy.windowMs, policy.lockMs, policy.maxLockMs].map(String);
    return lockoutState(await this.run(SCRIPTS.lockoutFailure, this.lockoutKeys(key), [...args, member]));
  }

  async lockoutSuccess(key: string): Promise<LockoutState> {
    return lockoutState(await this.run(SCRIPTS.lockoutSuccess, this.lockoutKeys(key), []));
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.client.publish(this.channelName(channel), message);
  }

  async subscribe(channel: string, onMessage: Handler): Promise<() => Promise<void>> {
    const sub = await this.subscriberConnection();
    const name = this.channelName(channel);
    const handler: Handler = (message) => onMessage(message);
    let set = this.handlers.get(name);
    if (!set) {
      this.handlers.set(name, (set = new Set()));
      try {
        await sub.subscribe(name);
      } catch (err) {
        this.handlers.delete(name);
        throw err;
      }
    }
    set.add(handler);
    return async () => {
      const current = this.handlers.get(name);
      if (!current?.delete(handler) || current.size) return;
      this.handlers.delete(name);
      await sub.unsubscribe(name).catch(() => {
        // connection gone: nothing is delivered to us anyway, and a resubscribe will not include it
      });
    };
  }

  async ping(): Promise<void> {
    await this.client.ping();
  }

  async close(): Promise<void> {
    const conns = [this.client, this.subscriber].filter((c): c is Redis => c !== null);
    this.subscriber = null;
    this.handlers.clear();
    await Promise.all(
      conns.map(async (c) => {
        try {
          if (c.status === "ready") await c.quit();
          else c.disconnect();
        } catch {
          c.disconnect();
        }
      }),
    );
  }

  /** EVALSHA, loading the script with EVAL the first time a server has not seen it (or after a restart) */
  private async run(s: Script, keys: string[], args: string[]): Promise<unknown> {
    try {
      return await this.client.evalsha(s.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith("NOSCRIPT")) throw err;
      return this.client.eval(s.lua, keys.length, ...keys, ...args);
    }
  }

  private connection(url: string): Redis {
    const conn = new Redis(url, {
      // ioredis arms this timer on close even when the socket is already gone, keeping the process
      // alive that long; a short one is enough (the option exists at runtime but is not in its types)
      ...({ disconnectTimeout: 200 } as object),
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      commandTimeout: this.opts.commandTimeoutMs ?? 1000,
      connectTimeout: this.opts.connectTimeoutMs ?? 2000,
      // keep trying in the background, never faster than every 100 ms nor slower than every 2 s
      retryStrategy: (times) => Math.min(100 * times, 2000),
    });
    // Without a listener an unreachable Redis would crash the process with an unhandled 'error'.
    conn.on("error", (err: Error) => this.opts.onError?.(err));
    return conn;
  }

  private subscriberConnection(): Promise<Redis> {
    if (!this.subscriberReady) {
      const sub = this.connection(this.opts.url);
      sub.on("message", (channel: string, message: string) => {
        for (const h of [...(this.handlers.get(channel) ?? [])]) h(message);
      });
      this.subscriber = sub;
      this.subscriberReady = waitReady(sub, this.opts.connectTimeoutMs ?? 2000).then(
        () => sub,
        (err: unknown) => {
          // let the next subscribe try again with a fresh connection
          this.subscriberReady = null;
          if (this.subscriber === sub) this.subscriber = null;
          sub.disconnect();
          throw err;
        },
      );
    }
    return this.subscriberReady;
  }

  private lockoutKeys(key: string): string[] {
    return [`${this.prefix}lockout:${key}`, `${this.prefix}lockout-failures:${key}`];
  }

  private leaseKey(key: string): string {
    return `${this.prefix}lease:${key}`;
  }

  private fenceKey(key: string): string {
    return `${this.prefix}fence:${key}`;
  }

  private channelName(channel: string): string {
    return `${this.prefix}${channel}`;
  }
}

function waitReady(conn: Redis, timeoutMs: number): Promise<void> {
  if (conn.status === "ready") return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer);
      conn.off("ready", onReady);
      conn.off("error", onError);
      if (err) reject(err);
      else resolve();
    };
    const onReady = () => done();
    let lastError: Error | undefined;
    const onError = (err: Error) => (lastError = err);
    const timer = setTimeout(
      () => done(new Error(`redis not ready after ${timeoutMs} ms${lastError ? `: ${lastError.message}` : ""}`)),
      timeoutMs,
    );
    conn.on("ready", onReady);
    conn.on("error", onError);
  });
}
