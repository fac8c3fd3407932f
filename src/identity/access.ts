import type { Role } from "../events/catalog/user.js";
import type { UserState } from "../commands/user.js";

/** What a verified token claims about its holder's standing; everything else is looked up. */
export interface TokenStanding {
  /** token version the token was issued at; tokens from before versions existed count as 0 */
  ver?: number;
  revoked: boolean;
}

export type AccessVerdict =
  | { ok: true; roles: Role[] }
  /**
   * final: no later event can make this token good again (revoked, superseded version);
   * otherwise the caller's view may just lag the log (a user created or enabled a moment ago)
   */
  | { ok: false; reason: string; final: boolean };

/** Whether a human user's token still speaks for them, judged by their current state. */
export function judgeAccess(user: UserState | undefined, token: TokenStanding): AccessVerdict {
  if (!user?.exists) return { ok: false, reason: "unknown user", final: false };
  if (token.revoked) return { ok: false, reason: "token revoked", final: true };
  const ver = token.ver ?? 0;
  if (ver < user.tokenVersion) return { ok: false, reason: "token superseded", final: true };
  if (ver > user.tokenVersion) return { ok: false, reason: "token from a newer state", final: false };
  if (user.disabled) return { ok: false, reason: "account disabled", final: false };
  return { ok: true, roles: user.roles };
}
