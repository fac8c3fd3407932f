import type { Role } from "../events/catalog/user.js";
import type { EventLog } from "../events/event-log.js";
import { streams } from "../events/streams.js";
import { WrongExpectedRevisionError } from "../events/store/port.js";
import { burnPasswordCheck, hashPassword, verifyPassword } from "../platform/password.js";
import { fold } from "./decider.js";
import { DomainError } from "./errors.js";
import { handleCommand, type CommandContext } from "./handler.js";
import { isLocked, userDecider, type UserState } from "./user.js";

export const DEMO_USERS = [
  { username: "admin", password: "Admin123!", roles: ["Admin", "Deployer", "Viewer"] as Role[], description: "Full administrative access" },
  { username: "deployer", password: "Deploy123!", roles: ["Deployer", "Viewer"] as Role[], description: "Can create deployments" },
  { username: "viewer", password: "Viewer123!", roles: ["Viewer"] as Role[], description: "Read-only access" },
];

export async function loadUser(log: EventLog, username: string): Promise<UserState> {
  const events = await log.readStream(streams.user(username));
  return fold(userDecider, events as never[]);
}

export async function createUser(
  log: EventLog,
  input: { username: string; password: string; roles: Role[]; email?: string },
  ctx: CommandContext,
) {
  const passwordHash = await hashPassword(input.password);
  return handleCommand(log, streams.user(input.username), userDecider, { type: "CreateUser", ...input, passwordHash }, ctx);
}

/** Creates the demo users if missing; safe to run on every start and from two processes at once. */
export async function seedDemoUsers(log: EventLog, now: number): Promise<void> {
  for (const u of DEMO_USERS) {
    if ((await loadUser(log, u.username)).exists) continue;
    try {
      await createUser(log, u, { actor: { kind: "system", id: "seed" }, correlationId: "seed-demo-users", now });
    } catch (err) {
      // another instance seeded it first
      if (!(err instanceof DomainError && err.code === "conflict") && !(err instanceof WrongExpectedRevisionError)) throw err;
    }
  }
}

export interface LockoutSettings {
  maxAttempts: number;
  windowMs: number;
  durationMs: number;
}

/**
 * Checks a password and records the outcome as events. Unknown users cost the same time as
 * known ones and leave no stream behind (so the log cannot be filled by guessing names).
 */
export async function login(
  log: EventLog,
  username: string,
  password: string,
  lockout: LockoutSettings,
  ctx: CommandContext,
): Promise<UserState> {
  const stream = streams.user(username);
  const user = await loadUser(log, username);
  if (!user.exists || user.disabled) {
    await burnPasswordCheck(password);
    throw new DomainError("unauthorized", "invalid username or password");
  }
  if (isLocked(user, ctx.now)) throw lockedError(user.lockedUntil, ctx.now);
  if (await verifyPassword(password, user.passwordHash)) {
    await handleCommand(log, stream, userDecider, { type: "RecordLoginSuccess", now: ctx.now }, ctx);
    return user;
  }
  const result = await handleCommand(
    log,
    stream,
    userDecider,
    { type: "RecordLoginFailure", now: ctx.now, maxAttempts: lockout.maxAttempts, windowMs: lockout.windowMs, lockoutMs: lockout.durationMs },
    ctx,
  );
  if (result.events.some((e) => e.type === "UserLockedOut")) throw lockedError(ctx.now + lockout.durationMs, ctx.now);
  throw new DomainError("unauthorized", "invalid username or password");
}

function lockedError(until: number, now: number): DomainError {
  const retryAfterSeconds = Math.max(1, Math.ceil((until - now) / 1000));
  return new DomainError("locked", `account locked after too many failed logins; retry after ${new Date(until).toISOString()}`, {
    lockedUntil: new Date(until).toISOString(),
    retryAfterSeconds,
  });
}
