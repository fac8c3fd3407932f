import type { Role } from "../events/catalog/user.js";
import type { EventLog } from "../events/event-log.js";
import { streams } from "../events/streams.js";
import { WrongExpectedRevisionError } from "../events/store/port.js";
import { burnPasswordCheck, hashPassword, verifyPassword } from "../platform/password.js";
import { loadAggregate } from "./aggregate-cache.js";
import { DomainError } from "./errors.js";
import { handleCommand, type CommandContext } from "./handler.js";
import type { LoginGuard } from "./login-guard.js";
import { userDecider, type UserState } from "./user.js";

export const DEMO_USERS = [
  { username: "admin", password: "Admin123!", roles: ["Admin", "Deployer", "Viewer"] as Role[], description: "Full administrative access" },
  { username: "deployer", password: "Deploy123!", roles: ["Deployer", "Viewer"] as Role[], description: "Can create deployments" },
  { username: "viewer", password: "Viewer123!", roles: ["Viewer"] as Role[], description: "Read-only access" },
];

export async function loadUser(log: EventLog, username: string): Promise<UserState> {
  return (await loadAggregate(log, streams.user(username), userDecider)).state;
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

export interface LoginDeps {
  log: EventLog;
  guard: LoginGuard;
  /** called once per scrypt check, a real one or one spent on an unknown name */
  onPasswordCheck?: () => void;
}

/**
 * Checks a password and records the outcome. At most one check runs at a time per username (on
 * every instance), and only while the caller's address is not locked out for that name; the lock
 * is judged again in the same atomic step that records the outcome, so a right password that
 * comes in while locked is refused. Known and unknown names take the same path, the same checks
 * and the same answers; only a known user's stream gets the audit events (so the log cannot be
 * filled by guessing names).
 */
export async function login(deps: LoginDeps, username: string, password: string, ctx: CommandContext): Promise<UserState> {
  const { guard, log } = deps;
  const address = ctx.sourceIp ?? "unknown";
  return guard.exclusive(username, async () => {
    const before = await guard.status(username, address);
    if (before.lockedForMs > 0) throw lockedError(before.lockedForMs, ctx.now);
    const user = await loadUser(log, username);
    const known = user.exists && !user.disabled;
    deps.onPasswordCheck?.();
    const ok = known ? await verifyPassword(password, user.passwordHash) : (await burnPasswordCheck(password), false);
    const stream = streams.user(username);
    if (ok) {
      const after = await guard.success(username, address);
      if (after.lockedForMs > 0) throw lockedError(after.lockedForMs, ctx.now);
      await handleCommand(log, stream, userDecider, { type: "RecordLoginSuccess" }, ctx);
      return user;
    }
    const after = await guard.failure(username, address);
    const counted = after.lockedForMs === 0 || after.lockedNow;
    if (user.exists && counted) {
      const lockedUntil = after.lockedNow ? ctx.now + after.lockedForMs : undefined;
      await handleCommand(log, stream, userDecider, { type: "RecordLoginFailure", failedAttempts: after.failures, lockedUntil }, ctx);
    }
    if (after.lockedForMs > 0) throw lockedError(after.lockedForMs, ctx.now);
    throw new DomainError("unauthorized", "invalid username or password");
  });
}

/** The same words for every name: whether the account exists is not the caller's to learn. */
function lockedError(lockedForMs: number, now: number): DomainError {
  const until = new Date(now + lockedForMs).toISOString();
  return new DomainError("locked", `too many failed logins for this username from this address; retry after ${until}`, {
    lockedUntil: until,
    retryAfterSeconds: Math.max(1, Math.ceil(lockedForMs / 1000)),
  });
}
