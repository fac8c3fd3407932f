import type { EventLog } from "../events/event-log.js";
import { streams } from "../events/streams.js";
import { hashPassword, verifyPassword } from "../platform/password.js";
import { DomainError } from "./errors.js";
import { handleCommand, type CommandContext } from "./handler.js";
import { userDecider, type UserCommand } from "./user.js";
import { loadUser } from "./users.js";

/** Account changes other than sign-in: each one is a user-stream event the user directory follows. */
export function userCommand(log: EventLog, username: string, command: UserCommand, ctx: CommandContext) {
  return handleCommand(log, streams.user(username), userDecider, command, ctx);
}

/** An Admin sets a password: every token issued before stops working. */
export async function resetPassword(log: EventLog, username: string, password: string, ctx: CommandContext) {
  return userCommand(log, username, { type: "ChangePassword", passwordHash: await hashPassword(password) }, ctx);
}

/**
 * The user changes their own password, proving the current one. The change applies only if the
 * password is still the one proven (two changes at once cannot both win); older tokens stop working.
 */
export async function changeOwnPassword(log: EventLog, username: string, currentPassword: string, newPassword: string, ctx: CommandContext) {
  const user = await loadUser(log, username);
  if (!user.exists || !(await verifyPassword(currentPassword, user.passwordHash))) {
    throw new DomainError("forbidden", "the current password is not correct");
  }
  const passwordHash = await hashPassword(newPassword);
  return userCommand(log, username, { type: "ChangePassword", passwordHash, ifPasswordHash: user.passwordHash }, ctx);
}
