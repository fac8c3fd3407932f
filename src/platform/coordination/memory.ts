import type { Clock } from "../clock.js";
import { systemClock } from "../clock.js";
import type { Coordination, Lease, LockoutPolicy, LockoutState, RateLimitDecision } from "./port.js";

interface Held {
  owner: string;
  fencingToken: number;
  expiresAt: number;
}

interface Window {
  windowMs: number;
  /** timestamps of counted hits, oldest first */
  hits: number[];
}

interface Lockout {
  /** counted failures in the window, oldest first */
  failures: number[];
  lockedUntil: number;
  lockouts: number;
  /** once past this the entry holds nothing worth keeping (no failure in the window, doubling forgotten) */
  forgetAt: number;
}

const NOT_LOCKED: LockoutState = { lockedForMs: 0, failures: 0, lockedNow: false, lockouts: 0 };

/** How often idle rate-limit logs are swept, so keys seen once do not stay in memory forever. */
const SWEEP_EVERY_MS = 60_000;

/**
 * Single-process Coordination: correct only while one instance runs, which is the embedded default.
 *
 * Rate limiting is an exact sliding log: each counted hit's timestamp is kept for `windowMs`.
 * Denied hits are not logged, so a client hammering while blocked is not locked out for longer
 * (same rule as the Redis adapter).
 */
export class MemoryCoordination implements Coordination {
  readonly kind = "memory";
  private readonly leases = new Map<string, Held>();
  /** last fencing token granted per key; kept after release so tokens never go backwards */
  private readonly fencing = new Map<string, number>();
  private readonly windows = new Map<string, Window>();
  private readonly mutexes = new Map<string, { owner: string; expiresAt: number }>();
  private readonly lockouts = new Map<string, Lockout>();
  private readonly channels = new Map<string, Set<(message: string) => void>>();
  private lastSweep: number;
  private closed = false;

  constructor(private readonly clock: Clock = systemClock) {
    this.lastSweep = clock.now();
  }

  async acquire(key: string, owner: string, ttlMs: number): Promise<Lease | null> {
    this.assertOpen();
    const now = this.clock.now();
    const held = this.leases.get(key);
    if (held && held.expiresAt > now) {
      if (held.owner !== owner) return null;
      held.expiresAt = now + ttlMs;
      return { key, owner, fencingToken: held.fencingToken, expiresAt: held.expiresAt };
    }
    const fencingToken = (this.fencing.get(key) ?? 0) + 1;
    this.fencing.set(key, fencingToken);
    const grant = { owner, fencingToken, expiresAt: now + ttlMs };
    this.leases.set(key, grant);
    return { key, ...grant };
  }

  async renew(lease: Lease, ttlMs: number): Promise<Lease | null> {
    this.assertOpen();
    const now = this.clock.now();
    const held = this.current(lease, now);
    if (!held) return null;
    held.expiresAt = now + ttlMs;
    return { ...lease, expiresAt: held.expiresAt };
  }

  async release(lease: Lease): Promise<void> {
    this.assertOpen();
    if (this.current(lease, this.clock.now())) this.leases.delete(lease.key);
  }

  async hit(key: string, limit: number, windowMs: number): Promise<RateLimitDecision> {
    this.assertOpen();
    const now = this.clock.now();
    this.sweep(now);
    const w = this.windows.get(key) ?? { windowMs, hits: [] };
    w.windowMs = windowMs;
    dropExpired(w.hits, now - windowMs);
    let decision: RateLimitDecision;
    if (w.hits.length < limit) {
      w.hits.push(now);
      decision = { allowed: true, limit, remaining: limit - w.hits.length, retryAfterMs: 0, resetMs: windowMs };
    } else {
      // One more is allowed once the oldest counted hit leaves the window (denials are not counted,
      // so hits.length === limit here and the oldest is the one that must go).
      const oldest = w.hits[0];
      const newest = w.hits[w.hits.length - 1];
      decision = {
        allowed: false,
        limit,
        remaining: 0,
        retryAfterMs: oldest === undefined ? windowMs : oldest + windowMs - now,
        resetMs: newest === undefined ? windowMs : newest + windowMs - now,
      };
    }
    if (w.hits.length) this.windows.set(key, w);
    else this.windows.delete(key);
    return decision;
  }

  async tryLock(key: string, owner: string, ttlMs: number): Promise<boolean> {
    this.assertOpen();
    const now = this.clock.now();
    this.sweep(now);
    const held = this.mutexes.get(key);
    if (held && held.expiresAt > now && held.owner !== owner) return false;
    this.mutexes.set(key, { owner, expiresAt: now + ttlMs });
    return true;
  }

  async unlock(key: string, owner: string): Promise<void> {
    this.assertOpen();
    if (this.mutexes.get(key)?.owner === owner) this.mutexes.delete(key);
  }

  async lockoutStatus(key: string, policy: LockoutPolicy): Promise<LockoutState> {
    this.assertOpen();
    const now = this.clock.now();
    const entry = this.lockouts.get(key);
    if (!entry) return NOT_LOCKED;
    return lockoutState(settle(entry, now, policy), now, false);
  }

  async lockoutFailure(key: string, policy: LockoutPolicy): Promise<LockoutState> {
    this.assertOpen();
    const now = this.clock.now();
    this.sweep(now);
    const entry = settle(this.lockouts.get(key) ?? { failures: [], lockedUntil: 0, lockouts: 0, forgetAt: 0 }, now, policy);
    if (entry.lockedUntil > now) return lockoutState(entry, now, false);
    entry.failures.push(now);
    this.lockouts.set(key, entry);
    if (entry.failures.length < policy.maxFailures) {
      entry.forgetAt = Math.max(entry.forgetAt, now + policy.windowMs);
      return lockoutState(entry, now, false);
    }
    const counted = entry.failures.length;
    entry.lockouts += 1;
    entry.lockedUntil = now + lockDuration(policy, entry.lockouts);
    entry.failures = [];
    entry.forgetAt = entry.lockedUntil + policy.maxLockMs;
    return { ...lockoutState(entry, now, true), failures: counted };
  }

  async lockoutSuccess(key: string): Promise<LockoutState> {
    this.assertOpen();
    const now = this.clock.now();
    const entry = this.lockouts.get(key);
    if (entry && entry.lockedUntil > now) return lockoutState(entry, now, false);
    this.lockouts.delete(key);
    return NOT_LOCKED;
  }

  async publish(channel: string, message: string): Promise<void> {
    this.assertOpen();
    const handlers = this.channels.get(channel);
    if (!handlers) return;
    // Deliver after the publisher's turn, as a network broker would, so a handler that publishes
    // or unsubscribes cannot re-enter the caller.
    for (const handler of [...handlers]) {
      queueMicrotask(() => {
        if (handlers.has(handler)) handler(message);
      });
    }
  }

  async subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>> {
    this.assertOpen();
    // Wrap so the same function subscribed twice gets two independent subscriptions.
    const handler = (message: string) => onMessage(message);
    let handlers = this.channels.get(channel);
    if (!handlers) this.channels.set(channel, (handlers = new Set()));
    handlers.add(handler);
    return async () => {
      handlers.delete(handler);
      if (handlers.size === 0 && this.channels.get(channel) === handlers) this.channels.delete(channel);
    };
  }

  async ping(): Promise<void> {
    this.assertOpen();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.channels.clear();
  }

  /** the held entry if `lease` is still the live grant (same owner and token, not expired) */
  private current(lease: Lease, now: number): Held | null {
    const held = this.leases.get(lease.key);
    if (!held || held.expiresAt <= now) return null;
    if (held.owner !== lease.owner || held.fencingToken !== lease.fencingToken) return null;
    return held;
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < SWEEP_EVERY_MS) return;
    this.lastSweep = now;
    for (const [key, w] of this.windows) {
      dropExpired(w.hits, now - w.windowMs);
      if (!w.hits.length) this.windows.delete(key);
    }
    for (const [key, m] of this.mutexes) if (m.expiresAt <= now) this.mutexes.delete(key);
    for (const [key, l] of this.lockouts) if (l.forgetAt <= now) this.lockouts.delete(key);
  }

  private assertOpen(): void {
    if (this.closed) throw new Error("coordination is closed");
  }
}

/** lock length for the `lockouts`-th lock in a row: doubling from lockMs, capped */
export function lockDuration(policy: LockoutPolicy, lockouts: number): number {
  return Math.min(policy.lockMs * 2 ** Math.max(0, lockouts - 1), policy.maxLockMs);
}

/** drops failures that left the window and forgets the doubling once maxLockMs passed after the last lock */
function settle(entry: Lockout, now: number, policy: LockoutPolicy): Lockout {
  dropExpired(entry.failures, now - policy.windowMs);
  if (entry.lockedUntil > 0 && now >= entry.lockedUntil + policy.maxLockMs) {
    entry.lockedUntil = 0;
    entry.lockouts = 0;
  }
  return entry;
}

function lockoutState(entry: Lockout, now: number, lockedNow: boolean): LockoutState {
  return { lockedForMs: Math.max(0, entry.lockedUntil - now), failures: entry.failures.length, lockedNow, lockouts: entry.lockouts };
}

/** removes timestamps at or before `cutoff` from the front of a sorted log */
function dropExpired(hits: number[], cutoff: number): void {
  let n = 0;
  while (n < hits.length && (hits[n] as number) <= cutoff) n++;
  if (n) hits.splice(0, n);
}
