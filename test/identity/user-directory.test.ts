// The user directory against a real event log: it catches up on history (in batches), follows
// what is appended after, and judges tokens by the users' current state.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { fold } from "../../src/commands/decider.js";
import { userDecider } from "../../src/commands/user.js";
import { catalog } from "../../src/events/catalog/index.js";
import type { UserEvent } from "../../src/events/catalog/user.js";
import { EventLog } from "../../src/events/event-log.js";
import { LiveFeed } from "../../src/events/live-feed.js";
import { SqliteEventStore } from "../../src/events/store/sqlite.js";
import { streams } from "../../src/events/streams.js";
import type { Principal } from "../../src/http/auth.js";
import { judgeAccess } from "../../src/identity/access.js";
import { UserDirectory } from "../../src/identity/user-directory.js";
import { ManualClock } from "../../src/platform/clock.js";

const created = (username: string, roles: string[] = ["Viewer"]) =>
  ({ type: "UserCreated", data: { username, roles, passwordHash: "scrypt$not-a-hash" } }) as UserEvent;

const t = suite("token standing, judged from the user's state");
const user = (...events: UserEvent[]) => fold(userDecider, events);
const alice = created("alice", ["Deployer", "Viewer"]);

t("roles come from the state; unknown, revoked, superseded and disabled are refused", () => {
  assert.equal(judgeAccess(user(alice), { ver: 0, revoked: false }), { ok: true, roles: ["Deployer", "Viewer"] });
  assert.equal(judgeAccess(user(alice), { revoked: false }), { ok: true, roles: ["Deployer", "Viewer"] }, "tokens without ver count as version 0");
  assert.is(judgeAccess(undefined, { ver: 0, revoked: false }).ok, false);
  assert.equal(judgeAccess(user(alice), { ver: 0, revoked: true }), { ok: false, reason: "token revoked", final: true });
});

t("a password change or a disable moves the token version on; an enable does not move it back", () => {
  const changed = user(alice, { type: "UserPasswordChanged", data: { username: "alice", passwordHash: "x" } });
  assert.is(changed.tokenVersion, 1);
  assert.equal(judgeAccess(changed, { ver: 0, revoked: false }), { ok: false, reason: "token superseded", final: true });
  assert.is(judgeAccess(changed, { ver: 1, revoked: false }).ok, true);

  const disabled = user(alice, { type: "UserDisabled", data: { username: "alice" } });
  assert.is(judgeAccess(disabled, { ver: 0, revoked: false }).ok, false);
  const enabled = user(alice, { type: "UserDisabled", data: { username: "alice" } }, { type: "UserEnabled", data: { username: "alice" } });
  assert.is(enabled.disabled, false);
  assert.is(judgeAccess(enabled, { ver: 0, revoked: false }).ok, false, "tokens from before the disable stay dead");
  assert.is(judgeAccess(enabled, { ver: 1, revoked: false }).ok, true);
});

t("doubts that a fresher view could settle are not final", () => {
  assert.is((judgeAccess(undefined, { revoked: false }) as { final: boolean }).final, false);
  assert.is((judgeAccess(user(alice), { ver: 3, revoked: false }) as { final: boolean }).final, false);
});

const d = suite<{ dir: string; store: SqliteEventStore; log: EventLog; feed: LiveFeed; users: UserDirectory }>("user directory");
d.before(async (ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), "korch-directory-"));
  ctx.store = new SqliteEventStore({ file: join(ctx.dir, "events.db"), synchronous: "NORMAL", pollIntervalMs: 20 });
  ctx.log = new EventLog(ctx.store, catalog);
  ctx.feed = new LiveFeed(ctx.log);
});
d.after(async (ctx) => {
  ctx.users?.stop();
  await ctx.feed.stop();
  await ctx.store.close();
  rmSync(ctx.dir, { recursive: true, force: true });
});

const meta = (i: number) => ({ actor: { kind: "system" as const, id: "test" }, correlationId: `c${i}`, causationId: `c${i}` });
async function append(log: EventLog, username: string, events: UserEvent[]): Promise<number> {
  const r = await log.append(streams.user(username), log.envelope(events, (i) => meta(i)), "any");
  return r.position;
}
const principal = (sub: string, extra: Partial<Principal> = {}): Principal => ({ sub, roles: ["Admin"], jti: `jti-${sub}`, exp: 4_000_000_000, ver: 0, ...extra });

d("catches up on history longer than one batch, then follows the live feed", async (ctx) => {
  await append(ctx.log, "bob", [created("bob", ["Deployer", "Viewer"])]);
  // more events than one catch-up batch, so the paging is exercised
  await append(ctx.log, "bob", Array.from({ length: 1200 }, () => ({ type: "UserLoggedIn", data: { username: "bob" } }) as UserEvent));
  await append(ctx.log, "bob", [{ type: "UserRolesChanged", data: { username: "bob", roles: ["Viewer"] } }]);
  await ctx.feed.start();
  ctx.users = new UserDirectory(ctx.log, ctx.feed, new ManualClock(), { syncTimeoutMs: 2000 });
  await ctx.users.start();
  assert.equal(ctx.users.get("bob")?.roles, ["Viewer"]);
  assert.is(ctx.users.position(), await ctx.log.headPosition());
  assert.equal((await ctx.users.admit(principal("bob")))?.roles, ["Viewer"], "roles from the state, not the token's Admin");

  const p = await append(ctx.log, "carol", [created("carol")]);
  assert.ok(await ctx.users.waitFor(p, 2000));
  assert.equal(ctx.users.get("carol")?.roles, ["Viewer"]);
});

d("admit: unknown users, revoked tokens and disabled accounts are refused; Node principals keep only the Node role", async (ctx) => {
  assert.is(await ctx.users.admit(principal("nobody")), null);
  const revoked = await append(ctx.log, "carol", [{ type: "UserTokenRevoked", data: { username: "carol", jti: "jti-carol", expiresAt: new Date(4_000_000_000_000).toISOString() } }]);
  assert.ok(await ctx.users.waitFor(revoked, 2000));
  assert.is(await ctx.users.admit(principal("carol")), null);
  assert.ok(await ctx.users.admit(principal("carol", { jti: "another" })));

  // a user the directory has not seen yet is looked for once more at the log's head
  await append(ctx.log, "dave", [created("dave")]);
  assert.equal((await ctx.users.admit(principal("dave")))?.roles, ["Viewer"]);

  const disabled = await append(ctx.log, "dave", [{ type: "UserDisabled", data: { username: "dave" } }]);
  assert.ok(await ctx.users.waitFor(disabled, 2000));
  assert.is(await ctx.users.admit(principal("dave")), null);
  assert.is(await ctx.users.admit(principal("dave", { ver: 1 })), null);

  assert.equal(await ctx.users.admit({ sub: "SIM-QA-01", roles: ["Node", "Admin"] }), { sub: "SIM-QA-01", roles: ["Node"] });
});

t.run();
d.run();
