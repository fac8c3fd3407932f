import type { EventLog } from "../events/event-log.js";
import { streams } from "../events/streams.js";
import { verifyPassword } from "../platform/password.js";
import { loadAggregate } from "./aggregate-cache.js";
import { userDecider } from "./user.js";
import { DEMO_USERS } from "./users.js";

/** The actor seedDemoUsers records its users under. */
const SEED_ACTOR = { kind: "system", id: "seed" } as const;

/**
 * Enabled accounts whose credentials are printed in the README: created by the development seed,
 * or holding a demo password still. A data directory that once ran in development carries them
 * into production unless someone disables them, so production refuses to start while any is left.
 */
export async function enabledDemoUsers(log: EventLog): Promise<string[]> {
  const found: string[] = [];
  for (const demo of DEMO_USERS) {
    const stream = streams.user(demo.username);
    const user = (await loadAggregate(log, stream, userDecider)).state;
    if (!user.exists || user.disabled) continue;
    // a user is created once, by its stream's first event (a login's events follow it for good)
    const [created] = await log.readStream(stream, { maxCount: 1 });
    const seeded = created?.type === "UserCreated" && created.metadata.actor.kind === SEED_ACTOR.kind && created.metadata.actor.id === SEED_ACTOR.id;
    if (seeded || (await verifyPassword(demo.password, user.passwordHash))) found.push(demo.username);
  }
  return found;
}

export function demoUsersRefusal(usernames: string[]): string {
  return (
    `production mode refuses to start while demo users with published passwords are enabled: ${usernames.join(", ")}. ` +
    `Disable them with: npm run users -- disable ${usernames.join(" ")}`
  );
}
