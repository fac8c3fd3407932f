import type { Role, UserEvent } from "../events/catalog/user.js";
import type { Decider } from "./decider.js";
import { conflict, DomainError, notFound } from "./errors.js";

export interface UserState {
  exists: boolean;
  username: string;
  roles: Role[];
  passwordHash: string;
  disabled: boolean;
  /**
   * Tokens carry the version they were issued at (`ver`); a password change or a disable moves
   * it on, so every older token is refused. Derived from the stream, never stored in an event.
   */
  tokenVersion: number;
  /** occurredAt (ms) of failed logins since the last success or lockout */
  recentFailures: number[];
  lockedUntil: number;
}

export type UserCommand =
  | { type: "CreateUser"; username: string; email?: string; roles: Role[]; passwordHash: string }
  | { type: "ChangeRoles"; roles: Role[] }
  /** ifPasswordHash: only if the password is still the one the caller proved (self-service change) */
  | { type: "ChangePassword"; passwordHash: string; ifPasswordHash?: string }
  | { type: "DisableUser" }
  | { type: "EnableUser" }
  | { type: "RevokeToken"; jti: string; expiresAt: string }
  | { type: "RecordLoginSuccess"; now: number }
  | { type: "RecordLoginFailure"; now: number; maxAttempts: number; windowMs: number; lockoutMs: number };

export const initialUserState: UserState = {
  exists: false,
  username: "",
  roles: [],
  passwordHash: "",
  disabled: false,
  tokenVersion: 0,
  recentFailures: [],
  lockedUntil: 0,
};

export function evolveUser(state: UserState, event: UserEvent, occurredAt = 0): UserState {
  switch (event.type) {
    case "UserCreated":
      return { ...state, exists: true, username: event.data.username, roles: event.data.roles, passwordHash: event.data.passwordHash };
    case "UserRolesChanged":
      return { ...state, roles: event.data.roles };
    case "UserPasswordChanged":
      return { ...state, passwordHash: event.data.passwordHash, recentFailures: [], lockedUntil: 0, tokenVersion: state.tokenVersion + 1 };
    case "UserDisabled":
      // a disabled account may be compromised: its tokens stay dead after it is enabled again
      return { ...state, disabled: true, tokenVersion: state.tokenVersion + 1 };
    case "UserEnabled":
      return { ...state, disabled: false };
    case "UserTokenRevoked":
      return state; // the user directory keeps revoked token ids until they expire
    case "UserLoggedIn":
      return { ...state, recentFailures: [] };
    case "UserLoginFailed":
      return { ...state, recentFailures: [...state.recentFailures, occurredAt] };
    case "UserLockedOut":
      return { ...state, recentFailures: [], lockedUntil: Date.parse(event.data.until) };
  }
}

export function isLocked(state: UserState, now: number): boolean {
  return state.lockedUntil > now;
}

/** Login failures need the time they happened; the envelope carries it, so the fold reads it there. */
export const userDecider: Decider<UserState, UserCommand, UserEvent & { metadata?: { occurredAt: string } }> = {
  initialState: initialUserState,
  evolve: (state, event) => evolveUser(state, event, event.metadata ? Date.parse(event.metadata.occurredAt) : 0),
  decide(command, state) {
    if (command.type === "CreateUser") {
      if (state.exists) throw conflict(`user ${command.username} already exists`);
      return [{ type: "UserCreated", data: { username: command.username, email: command.email, roles: command.roles, passwordHash: command.passwordHash } }];
    }
    if (!state.exists) throw notFound("user");
    switch (command.type) {
      case "ChangeRoles":
        return [{ type: "UserRolesChanged", data: { username: state.username, roles: command.roles } }];
      case "ChangePassword":
        if (command.ifPasswordHash !== undefined && command.ifPasswordHash !== state.passwordHash) throw conflict("the password was changed meanwhile");
        return [{ type: "UserPasswordChanged", data: { username: state.username, passwordHash: command.passwordHash } }];
      case "DisableUser":
        if (state.disabled) throw conflict("user already disabled");
        return [{ type: "UserDisabled", data: { username: state.username } }];
      case "EnableUser":
        if (!state.disabled) throw conflict("user is not disabled");
        return [{ type: "UserEnabled", data: { username: state.username } }];
      case "RevokeToken":
        return [{ type: "UserTokenRevoked", data: { username: state.username, jti: command.jti, expiresAt: command.expiresAt } }];
      case "RecordLoginSuccess":
        return [{ type: "UserLoggedIn", data: { username: state.username } }];
      case "RecordLoginFailure": {
        if (isLocked(state, command.now)) throw new DomainError("locked", "account locked", { until: state.lockedUntil });
        const failures = state.recentFailures.filter((t) => t > command.now - command.windowMs).length + 1;
        const events: UserEvent[] = [{ type: "UserLoginFailed", data: { username: state.username, failedAttempts: failures } }];
        if (failures >= command.maxAttempts) {
          events.push({ type: "UserLockedOut", data: { username: state.username, until: new Date(command.now + command.lockoutMs).toISOString() } });
        }
        return events;
      }
    }
  },
};
