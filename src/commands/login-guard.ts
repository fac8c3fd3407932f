// What stands between a password guess and scrypt: one check at a time per username (across
// instances), and a lockout per (username, client address) kept in Coordination, outside the event
// log, so unknown names are counted exactly like known ones and nobody's stream is read to decide.
import { KeyedMutex, MutexBusyError } from "../platform/coordination/mutex.js";
import type { Config } from "../platform/config.js";
import type { Coordination, LockoutPolicy, LockoutState } from "../platform/coordination/port.js";
import { DomainError } from "./errors.js";

export type LockoutSettings = Config["lockout"];

/** A check takes ~150 ms; a hold this long only matters if an instance dies while holding. */
const HOLD_MS = 10_000;
/** Longer than a burst of LOCKOUT_MAX_ATTEMPTS checks from a few addresses takes to drain. */
const WAIT_MS = 10_000;
/** Waiters per username in one process; more are answered 429 at once (no password is checked). */
const MAX_WAITERS = 64;

export class LoginGuard {
  private readonly mutex: KeyedMutex;
  private readonly policy: LockoutPolicy;

  constructor(
    private readonly coordination: Coordination,
    settings: LockoutSettings,
  ) {
    this.mutex = new KeyedMutex(coordination, { holdMs: HOLD_MS, waitMs: WAIT_MS, maxWaiters: MAX_WAITERS });
    this.policy = { maxFailures: settings.maxAttempts, windowMs: settings.windowMs, lockMs: settings.durationMs, maxLockMs: settings.maxDurationMs };
  }

  /** runs `fn` while no other login for `username` runs on any instance */
  async exclusive<T>(username: string, fn: () => Promise<T>): Promise<T> {
    let entered = false;
    try {
      return await this.mutex.run(`login:${username}`, () => ((entered = true), fn()));
    } catch (err) {
      if (entered) throw err; // fn's own failure, not the mutex's
      if (err instanceof MutexBusyError) {
        throw new DomainError("rate_limited", "too many login attempts for this username at once; try again shortly", { retryAfterSeconds: 1 });
      }
      throw unavailable(err);
    }
  }

  status(username: string, address: string): Promise<LockoutState> {
    return this.coordination.lockoutStatus(lockoutKey(username, address), this.policy).catch(unavailable);
  }

  /** counts a wrong password; answers the lock if one is on (started by this failure or earlier) */
  failure(username: string, address: string): Promise<LockoutState> {
    return this.coordination.lockoutFailure(lockoutKey(username, address), this.policy).catch(unavailable);
  }

  /** a right password: refused (lockedForMs > 0) while locked, else forgets the address's failures */
  success(username: string, address: string): Promise<LockoutState> {
    return this.coordination.lockoutSuccess(lockoutKey(username, address)).catch(unavailable);
  }
}

/** JSON keeps the pair unambiguous whatever characters the name holds */
const lockoutKey = (username: string, address: string) => `login:${JSON.stringify([username, address])}`;

/** Without Coordination no lockout can be enforced, so logins are refused rather than unguarded. */
function unavailable(err: unknown): never {
  if (err instanceof DomainError) throw err;
  throw new DomainError("unavailable", "login is unavailable for a moment (lockout store unreachable); try again shortly", { retryAfterSeconds: 5 });
}

const guards = new WeakMap<Coordination, LoginGuard>();

/** One guard per Coordination (per app), so the per-process queue of a username is shared by its requests. */
export function loginGuardFor(coordination: Coordination, settings: LockoutSettings): LoginGuard {
  let guard = guards.get(coordination);
  if (!guard) guards.set(coordination, (guard = new LoginGuard(coordination, settings)));
  return guard;
}
