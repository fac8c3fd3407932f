import { z } from "zod";
import { defineEvent, type EventsOf } from "./define.js";

export const RoleSchema = z.enum(["Admin", "Deployer", "Viewer", "Node"]);
export type Role = z.infer<typeof RoleSchema>;

export const userEvents = [
  defineEvent(
    "UserCreated",
    z.object({
      username: z.string(),
      email: z.string().optional(),
      roles: z.array(RoleSchema),
      /** scrypt$N$r$p$salt$hash: never the password */
      passwordHash: z.string(),
    }),
  ),
  defineEvent("UserRolesChanged", z.object({ username: z.string(), roles: z.array(RoleSchema) })),
  defineEvent("UserPasswordChanged", z.object({ username: z.string(), passwordHash: z.string() })),
  defineEvent("UserDisabled", z.object({ username: z.string() })),
  defineEvent("UserEnabled", z.object({ username: z.string() })),
  /** one token revoked (logout) until it would have expired anyway; the rest of the user's tokens stay valid */
  defineEvent("UserTokenRevoked", z.object({ username: z.string(), jti: z.string(), expiresAt: z.iso.datetime() })),
  defineEvent("UserLoggedIn", z.object({ username: z.string() })),
  defineEvent("UserLoginFailed", z.object({ username: z.string(), failedAttempts: z.number().int() })),
  defineEvent("UserLockedOut", z.object({ username: z.string(), until: z.iso.datetime() })),
] as const;

export type UserEvent = EventsOf<typeof userEvents>;
