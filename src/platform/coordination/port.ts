/** A lease held by one owner until it expires; the fencing token grows with every new grant. */
export interface Lease {
  key: string;
  owner: string;
  fencingToken: number;
  expiresAt: number;
}

export interface RateLimitDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** ms until one more request would be allowed (0 when allowed) */
  retryAfterMs: number;
  /** ms until the window has fully drained */
  resetMs: number;
}

/**
 * How failures of one key turn into a lock: `maxFailures` within `windowMs` lock it for `lockMs`,
 * each further lock of the same key twice as long as the last, up to `maxLockMs`. The doubling is
 * forgotten once the key has stayed unlocked for `maxLockMs` after its last lock.
 */
export interface LockoutPolicy {
  maxFailures: number;
  windowMs: number;
  lockMs: number;
  maxLockMs: number;
}

export interface LockoutState {
  /** ms until the key unlocks; 0 when it is not locked */
  lockedForMs: number;
  /** failures counted in the window; the answer that starts a lock carries the count that started it, then the lock clears it */
  failures: number;
  /** true only in the answer to the failure that started the current lock */
  lockedNow: boolean;
  /** locks in a row so far: the exponent of the doubling */
  lockouts: number;
}

/**
 * Cross-instance coordination: leases with fencing tokens, mutexes, sliding-window rate limits,
 * lockouts, pub/sub.
 * In-process by default; Redis (ioredis) when REDIS_URL is set.
 */
export interface Coordination {
  readonly kind: string;
  /** grants the lease if free or expired, or renews it if `owner` already holds it; null if held by another */
  acquire(key: string, owner: string, ttlMs: number): Promise<Lease | null>;
  /** extends a held lease; null if it was lost (expired and taken, or released) */
  renew(lease: Lease, ttlMs: number): Promise<Lease | null>;
  release(lease: Lease): Promise<void>;
  /** sliding window of `windowMs`: counts this hit and decides */
  hit(key: string, limit: number, windowMs: number): Promise<RateLimitDecision>;
  /**
   * A plain mutex for keys that come from user input: true if taken (free, expired, or already
   * `owner`'s). Unlike a lease it has no fencing token, so nothing of the key remains after unlock.
   */
  tryLock(key: string, owner: string, ttlMs: number): Promise<boolean>;
  /** frees the mutex if `owner` still holds it */
  unlock(key: string, owner: string): Promise<void>;
  /** the key's lock, without counting anything */
  lockoutStatus(key: string, policy: LockoutPolicy): Promise<LockoutState>;
  /** one step: while locked counts nothing and answers the lock; else counts and may start a lock */
  lockoutFailure(key: string, policy: LockoutPolicy): Promise<LockoutState>;
  /** one step: while locked changes nothing and answers the lock (the success is refused); else forgets the key */
  lockoutSuccess(key: string): Promise<LockoutState>;
  publish(channel: string, message: string): Promise<void>;
  subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
