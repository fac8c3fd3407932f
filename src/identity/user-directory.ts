import { userDecider, type UserState } from "../commands/user.js";
import { userEvents, type UserEvent } from "../events/catalog/user.js";
import type { RecordedEvent } from "../events/envelope.js";
import type { EventLog } from "../events/event-log.js";
import { followStreams } from "../events/follow-streams.js";
import type { Attachment, LiveFeed } from "../events/live-feed.js";
import { streamKey, streamPrefixes } from "../events/streams.js";
import type { Principal } from "../http/auth.js";
import type { Clock } from "../platform/clock.js";
import { waitForPosition } from "../projections/progress.js";
import { judgeAccess } from "./access.js";

const USER_EVENT_TYPES: ReadonlySet<string> = new Set(userEvents.map((d) => d.type));
const FIRST_SWEEP_AT = 1024;

export interface UserDirectoryOptions {
  /** how long a request may wait for this instance to catch up before a doubtful token is refused */
  syncTimeoutMs?: number;
}

/** see UserDirectory.watchAccess */
export interface AccessWatch {
  /** false once access is lost (and `lost` has been called) */
  check(): boolean;
  stop(): void;
}

/**
 * Every user's current state (exists, enabled, roles, token version) and the revoked token ids,
 * in memory, folded from the user-* streams with the user decider's own evolve: caught up at
 * start, then kept current from the shared live feed, so a change made on any instance applies
 * here as soon as the log has it. Authentication consults it on every request.
 */
export class UserDirectory {
  private readonly users = new Map<string, UserState>();
  /** jti -> expiry (ms); a revoked token only needs remembering until it would expire anyway */
  private readonly revoked = new Map<string, number>();
  private sweepAt = FIRST_SWEEP_AT;
  private applied = 0;
  private readonly listeners = new Set<(position: number) => void>();
  private readonly userListeners = new Set<(username: string) => void>();
  private attachment?: Attachment;
  private readonly syncTimeoutMs: number;

  constructor(
    private readonly log: EventLog,
    private readonly feed: LiveFeed,
    private readonly clock: Clock,
    options: UserDirectoryOptions = {},
  ) {
    this.syncTimeoutMs = options.syncTimeoutMs ?? 1000;
  }

  /** Resolves once every user event up to the feed's position at the call is applied. */
  async start(): Promise<void> {
    this.attachment = await followStreams(this.log, this.feed, streamPrefixes.user, (e) => this.apply(e), (p) => this.advance(p));
  }

  stop(): void {
    this.attachment?.detach();
    this.listeners.clear();
    this.userListeners.clear();
  }

  get(username: string): UserState | undefined {
    return this.users.get(username);
  }

  /** the log position this directory has applied */
  position(): number {
    return this.applied;
  }

  onProgress(listener: (position: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Called with the username after each change to a user (roles, disable, password, a token signed out). */
  onUserChange(listener: (username: string) => void): () => void {
    this.userListeners.add(listener);
    return () => this.userListeners.delete(listener);
  }

  /**
   * Whether a request admitted earlier as `principal` (a live feed that is still streaming) may go
   * on at nowMs: its token has not run out, still speaks for the user, and the user has kept every
   * role it was admitted with (a role taken away may be the one the route required). Synchronous:
   * it judges what this instance has applied, which is what changes it.
   */
  keepsAccess(principal: Principal, nowMs: number): boolean {
    // a node's feed is the agent's desired-state watch, vouched for by the node's own credential checks
    if (principal.roles.includes("Node")) return true;
    if (principal.exp !== undefined && principal.exp * 1000 <= nowMs) return false;
    const verdict = this.judge(principal);
    return verdict.ok && principal.roles.every((role) => verdict.roles.includes(role));
  }

  /**
   * For a response that outlives its request (a live feed): calls `lost` once, when `principal`
   * stops keeping access; at once on a change to the user, and at `check()` (a heartbeat) for a
   * token that has run out. Without a principal (an open route) there is nothing to lose.
   */
  watchAccess(principal: Principal | undefined, lost: () => void): AccessWatch {
    if (!principal) return { check: () => true, stop: () => {} };
    let done = false;
    const stop = () => {
      done = true;
      unlisten();
    };
    const check = () => {
      if (done) return false;
      if (this.keepsAccess(principal, this.clock.now())) return true;
      stop();
      lost();
      return false;
    };
    const unlisten = this.onUserChange((name) => name === principal.sub && check());
    return { check, stop };
  }

  /** true once the directory has applied `position` (a change this instance just wrote), false after timeoutMs */
  waitFor(position: number, timeoutMs: number): Promise<boolean> {
    return waitForPosition(this, position, timeoutMs);
  }

  /**
   * The principal with the roles the user has now, or null when the token no longer speaks for
   * them (unknown user, disabled, revoked, superseded by a password change). Node principals are
   * vouched for by the node's own credential checks and keep only the Node role.
   */
  async admit(principal: Principal): Promise<Principal | null> {
    if (principal.roles.includes("Node")) return { ...principal, roles: ["Node"] };
    let verdict = this.judge(principal);
    if (!verdict.ok && !verdict.final) {
      // maybe another instance changed the user a moment ago: catch up with the log once
      if (await this.waitFor(await this.log.headPosition(), this.syncTimeoutMs)) verdict = this.judge(principal);
    }
    return verdict.ok ? { ...principal, roles: verdict.roles } : null;
  }

  private judge(p: Principal) {
    const revoked = p.jti !== undefined && this.revoked.has(p.jti);
    return judgeAccess(this.users.get(p.sub), { ver: p.ver, revoked });
  }

  private apply(event: RecordedEvent): void {
    if (event.position <= this.applied) return;
    // a type this code does not know (written by a newer version) is skipped, not folded
    if (event.streamId.startsWith(streamPrefixes.user) && USER_EVENT_TYPES.has(event.type)) {
      const username = streamKey(event.streamId);
      const userEvent = event as unknown as UserEvent & RecordedEvent;
      this.users.set(username, userDecider.evolve(this.users.get(username) ?? userDecider.initialState, userEvent));
      if (userEvent.type === "UserTokenRevoked") this.remember(userEvent.data.jti, Date.parse(userEvent.data.expiresAt));
      for (const listener of this.userListeners) listener(username);
    }
    this.advance(event.position);
  }

  private remember(jti: string, expiresAtMs: number): void {
    this.revoked.set(jti, expiresAtMs);
    if (this.revoked.size < this.sweepAt) return;
    const now = this.clock.now();
    for (const [id, exp] of this.revoked) if (exp <= now) this.revoked.delete(id);
    this.sweepAt = Math.max(FIRST_SWEEP_AT, this.revoked.size * 2);
  }

  private advance(position: number): void {
    if (position <= this.applied) return;
    this.applied = position;
    for (const listener of this.listeners) listener(position);
  }
}
