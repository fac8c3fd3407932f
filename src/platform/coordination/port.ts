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
 * Cross-instance coordination: leases with fencing tokens, sliding-window rate limits, pub/sub.
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
  publish(channel: string, message: string): Promise<void>;
  subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
