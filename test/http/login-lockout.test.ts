// Login lockout as an attacker meets it: bursts of concurrent guesses, known and unknown names,
// one address locked out while the account's owner logs in from another. Addresses are simulated
// with TRUST_PROXY and X-Forwarded-For from the loopback peer.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { streams } from "../../src/events/streams.js";
import { ManualClock } from "../../src/platform/clock.js";
import { loadConfig } from "../../src/platform/config.js";
import { attempt, passwordChecks } from "../helpers/login.js";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";

const MAX = 5;
type Problem = Record<string, unknown>;

/** status, the problem body's member names and its words (times aside): none may tell a known name from an unknown one */
async function shape(res: Response) {
  const body = (await res.json()) as Problem;
  const detail = String(body.detail).replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, "<time>");
  return { status: res.status, keys: Object.keys(body).sort(), detail, retryAfter: res.headers.get("retry-after") !== null };
}

const t = suite<{ s: TestServer; admin: string }>("login lockout");
t.before(async (ctx) => {
  ctx.s = await startTestServer({ LOCKOUT_MAX_ATTEMPTS: String(MAX), TRUST_PROXY: "127.0.0.1/32" });
  ctx.admin = await ctx.s.login(...DEMO.admin);
});
t.after(async (ctx) => ctx.s.stop());

async function createUser(ctx: { s: TestServer; admin: string }, username: string, password: string) {
  const res = await ctx.s.call("/api/v1/users", { method: "POST", token: ctx.admin, json: { username, password, roles: ["Viewer"] } });
  assert.is(res.status, 201);
}

t("a concurrent burst of 30 wrong passwords checks at most LOCKOUT_MAX_ATTEMPTS of them", async ({ s }) => {
  const before = await passwordChecks(s);
  const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => attempt(s, "viewer", `wrong-${i}`, "198.51.100.10")));
  assert.is((await passwordChecks(s)) - before, MAX);
  const statuses = answers.map((r) => r.status);
  assert.is(statuses.filter((st) => st === 401).length, MAX - 1, statuses.join(","));
  assert.is(statuses.filter((st) => st === 423).length, 30 - (MAX - 1), statuses.join(","));
  for (const r of answers.filter((r) => r.status === 423)) assert.ok(Number(r.headers.get("retry-after")) > 0);
});

t("29 wrong passwords and the right one at once: no token once locked", async (ctx) => {
  const { s } = ctx;
  await createUser(ctx, "burst", "correct-horse-1");
  const before = await passwordChecks(s);
  const guesses = [...Array.from({ length: 29 }, (_, i) => `wrong-${i}`), "correct-horse-1"];
  const answers = await Promise.all(guesses.map((p) => attempt(s, "burst", p, "198.51.100.20")));
  const statuses = answers.map((r) => r.status);
  assert.ok(statuses.every((st) => st === 200 || st === 401 || st === 423), statuses.join(","));
  // the right password may arrive among the first checks (then it wins and the count starts over);
  // once the lock is on it gets 423 like every other guess
  const types = (await s.deps.log.readStream(streams.user("burst"))).map((e) => e.type);
  const locked = types.indexOf("UserLockedOut");
  const loggedIn = types.indexOf("UserLoggedIn");
  assert.ok(locked !== -1, types.join(","));
  assert.ok(loggedIn === -1 || loggedIn < locked, types.join(","));
  assert.is(statuses.filter((st) => st === 200).length, loggedIn === -1 ? 0 : 1);
  assert.is(answers[29]?.status === 200, loggedIn !== -1);
  const checks = (await passwordChecks(s)) - before;
  assert.ok(checks <= (loggedIn === -1 ? MAX : 2 * MAX), `${checks} password checks for a burst of 30`);
  const after = await attempt(s, "burst", "correct-horse-1", "198.51.100.20");
  assert.is(after.status, 423, "still locked for this address, right password or not");
});

t("known and unknown usernames are answered alike: same statuses, same body shape, same number of checks", async (ctx) => {
  const { s } = ctx;
  await createUser(ctx, "alike", "correct-horse-1");
  const run = async (username: string) => {
    const before = await passwordChecks(s);
    const shapes = [];
    for (let i = 0; i < MAX + 2; i++) shapes.push(await shape(await attempt(s, username, "wrong", "198.51.100.30")));
    return { shapes, checks: (await passwordChecks(s)) - before };
  };
  const known = await run("alike");
  const unknown = await run("no-such-user");
  assert.equal(unknown, known);
  assert.equal(
    known.shapes.map((x) => x.status),
    [...Array<number>(MAX - 1).fill(401), 423, 423, 423],
  );
  assert.ok(known.shapes.slice(MAX - 1).every((x) => x.retryAfter), "423 keeps Retry-After");
  assert.is(known.checks, MAX, "no password is checked while locked");
  // the audit trail is the known user's stream; an unknown name leaves none
  assert.ok((await s.deps.log.readStream(streams.user("alike"))).some((e) => e.type === "UserLockedOut"));
  assert.equal(await s.deps.log.readStream(streams.user("no-such-user")), []);
});

t("the lock is per address: the owner logs in from another address while one address is locked out", async (ctx) => {
  const { s } = ctx;
  for (let i = 0; i < MAX; i++) await attempt(s, "admin", "guess", "203.0.113.66");
  const locked = await attempt(s, "admin", DEMO.admin[1], "203.0.113.66");
  assert.is(locked.status, 423, "the attacker's address is locked even with the right password");
  assert.ok(Number(locked.headers.get("retry-after")) > 0);
  assert.is((await attempt(s, "admin", DEMO.admin[1], "198.51.100.40")).status, 200, "another address");
  assert.is((await attempt(s, "admin", DEMO.admin[1])).status, 200, "the proxy's own address");
  assert.is((await attempt(s, "admin", DEMO.admin[1], "203.0.113.66")).status, 423, "success elsewhere does not unlock the attacker");
});

t("repeated lockouts of one address last longer each time, up to the cap", async () => {
  const clock = new ManualClock(Date.now());
  const s = await startTestServer(
    { LOCKOUT_MAX_ATTEMPTS: "3", LOCKOUT_DURATION_SECONDS: "60", LOCKOUT_MAX_DURATION_SECONDS: "200" },
    { clock },
  );
  try {
    const retryAfters: number[] = [];
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 2; i++) assert.is((await attempt(s, "nobody", "x")).status, 401);
      const res = await attempt(s, "nobody", "x");
      assert.is(res.status, 423);
      const retryAfter = Number(res.headers.get("retry-after"));
      retryAfters.push(retryAfter);
      clock.advance(retryAfter * 1000);
    }
    assert.equal(retryAfters, [60, 120, 200, 200]);
  } finally {
    await s.stop();
  }
});

t("lockout growth settings are checked at start", () => {
  assert.is(loadConfig({}).lockout.maxDurationMs, 86_400_000);
  assert.is(loadConfig({ LOCKOUT_DURATION_SECONDS: "172800" }).lockout.maxDurationMs, 172_800_000, "the cap is never below one lock");
  assert.throws(() => loadConfig({ LOCKOUT_DURATION_SECONDS: "600", LOCKOUT_MAX_DURATION_SECONDS: "60" }), /LOCKOUT_MAX_DURATION_SECONDS/);
});

t.run();
