import type { Role, UserEvent } from "../events/catalog/user.js";
import type { Decider } from "./decider.js";
import { conflict, notFound } from "./errors.js";

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
}

export type UserCommand =
  | { type: "CreateUser"; username: string; email?: string; roles: Role[]; passwordHash: string }
  | { type: "ChangeRoles"; roles: Role[] }
  /** ifPasswordHash: only if the password is still the one the caller proved (self-service change) */
  | { type: "ChangePassword"; passwordHash: string; ifPasswordHash?: string }
  | { type: "DisableUser" }
  | { type: "EnableUser" }
  | { type: "RevokeToken"; jti: string; expiresAt: string }
  /** audit only: the lockout is decided per (username, address) in Coordination (src/commands/login-guard.ts) */
  | { type: "RecordLoginSuccess" }
  | { type: "RecordLoginFailure"; failedAttempts: number; lockedUntil?: number };

export const initialUserState: UserState = {
  exists: false,
  username: "",
  roles: [],
  passwordHash: "",
  disabled: false,
  tokenVersion: 0,
};

export function evolveUser(state: UserState, event: UserEvent): UserState {
  switch (event.type) {
    case "UserCreated":
      return { ...state, exists: true, username: event.data.username, roles: event.data.roles, passwordHash: event.data.passwordHash };
    case "UserRolesChanged":
      return { ...state, roles: event.data.roles };
    case "UserPasswordChanged":
      return { ...state, passwordHash: event.data.passwordHash, tokenVersion: state.tokenVersion + 1 };
    case "UserDisabled":
      // a disabled account may be compromised: its tokens stay dead after it is enabled again
      return { ...state, disabled: true, tokenVersion: state.tokenVersion + 1 };
    case "UserEnabled":
      return { ...state, disabled: false };
    case "UserTokenRevoked":
      return state; // the user directory keeps revoked token ids until they expire
    case "UserLoggedIn":
    case "UserLoginFailed":
    case "UserLockedOut":
      // the audit trail of logins; lockouts are judged in Coordination, not from this history
      return state;
  }
}

export const userDecider: Decider<UserState, UserCommand, UserEvent> = {
  initialState: initialUserState,
  cacheable: true,
  evolve: evolveUser,
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
        const events: UserEvent[] = [{ type: "UserLoginFailed", data: { username: state.username, failedAttempts: command.failedAttempts } }];
        if (command.lockedUntil !== undefined) {
          events.push({ type: "UserLockedOut", data: { username: state.username, until: new Date(command.lockedUntil).toISOString() } });
        }
        return events;
      }
    }
  },
};
