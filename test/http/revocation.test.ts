// A token proves who; what the holder may do is looked up on every request from the server's own
// state: a role change applies to the next request, a disabled account or a changed password
// shuts out older tokens at once, on every instance sharing the event log.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";

const t = suite<{ s: TestServer; admin: string }>("revocation and account state");
t.before(async (ctx) => {
  ctx.s = await startTestServer();
  ctx.admin = await ctx.s.login(...DEMO.admin);
});
t.after(async (ctx) => ctx.s.stop());

let counter = 0;
/** A fresh user with a token, so the cases do not depend on each other. */
async function newUser(s: TestServer, admin: string, roles: string[], password = "first-password-1") {
  const username = `u${++counter}-${roles[0]!.toLowerCase()}`;
  const res = await s.call("/api/v1/users", { method: "POST", token: admin, json: { username, password, roles } });
  assert.is(res.status, 201, await res.clone().text());
  return { username, password, token: await s.login(username, password) };
}

const me = (s: TestServer, token: string) => s.call("/api/v1/authentication/me", { token });
const loginStatus = async (s: TestServer, username: string, password: string) =>
  (await s.call("/api/v1/authentication/login", { method: "POST", json: { username, password } })).status;
const deploy = (s: TestServer, token: string) =>
  s.call("/api/v1/deployments", {
    method: "POST",
    token,
    json: { moduleName: "netfilter", version: "1.0.0", targetEnvironment: "Development", requesterEmail: "ops@example.com" },
  });

t("a Deployer demoted to Viewer cannot deploy with the token issued before (403 on the next request)", async ({ s, admin }) => {
  const u = await newUser(s, admin, ["Deployer", "Viewer"]);
  assert.equal(((await (await me(s, u.token)).json()) as { roles: string[] }).roles, ["Deployer", "Viewer"]);
  const changed = await s.call(`/api/v1/users/${u.username}/roles`, { method: "PUT", token: admin, json: { roles: ["Viewer"] } });
  assert.is(changed.status, 200);
  const refused = await deploy(s, u.token);
  assert.is(refused.status, 403);
  assert.match(refused.headers.get("content-type") ?? "", "application/problem+json");
  assert.equal(((await (await me(s, u.token)).json()) as { roles: string[] }).roles, ["Viewer"]);
});

t("a promotion also applies to the token in hand", async ({ s, admin }) => {
  const u = await newUser(s, admin, ["Viewer"]);
  assert.is((await s.call("/api/v1/audit-logs", { token: u.token })).status, 403);
  await s.call(`/api/v1/users/${u.username}/roles`, { method: "PUT", token: admin, json: { roles: ["Admin", "Viewer"] } });
  assert.is((await s.call("/api/v1/audit-logs", { token: u.token })).status, 200);
});

t("disable: the user's tokens get 401 at once and login fails; enable lets them log in again, old tokens stay dead", async ({ s, admin }) => {
  const u = await newUser(s, admin, ["Deployer", "Viewer"]);
  const disabled = await s.call(`/api/v1/users/${u.username}/disable`, { method: "POST", token: admin });
  assert.is(disabled.status, 200);
  const view = (await disabled.json()) as { username: string; roles: string[]; disabled: boolean; position: number };
  assert.equal({ ...view, position: 0 }, { username: u.username, roles: ["Deployer", "Viewer"], disabled: true, position: 0 });
  assert.is((await me(s, u.token)).status, 401);
  assert.is(await loginStatus(s, u.username, u.password), 401);
  // disabling twice does not apply
  assert.is((await s.call(`/api/v1/users/${u.username}/disable`, { method: "POST", token: admin })).status, 409);

  const enabled = await s.call(`/api/v1/users/${u.username}/enable`, { method: "POST", token: admin });
  assert.is(enabled.status, 200);
  assert.is(((await enabled.json()) as { disabled: boolean }).disabled, false);
  assert.is((await me(s, u.token)).status, 401, "a token from before the disable stays revoked");
  const fresh = await s.login(u.username, u.password);
  assert.is((await me(s, fresh)).status, 200);
  assert.is((await s.call(`/api/v1/users/${u.username}/enable`, { method: "POST", token: admin })).status, 409);
});

t("an Admin's password reset revokes every older token; the new password works, the old one not", async ({ s, admin }) => {
  const u = await newUser(s, admin, ["Viewer"]);
  const second = await s.login(u.username, u.password);
  const reset = await s.call(`/api/v1/users/${u.username}/password`, { method: "PUT", token: admin, json: { password: "second-password-2" } });
  assert.is(reset.status, 200);
  assert.is((await me(s, u.token)).status, 401);
  assert.is((await me(s, second)).status, 401);
  assert.is(await loginStatus(s, u.username, u.password), 401);
  const fresh = await s.login(u.username, "second-password-2");
  assert.is((await me(s, fresh)).status, 200);
});

t("changing one's own password checks the current one, revokes older tokens and answers a fresh token", async ({ s, admin }) => {
  const u = await newUser(s, admin, ["Viewer"]);
  const other = await s.login(u.username, u.password);
  const change = (token: string, currentPassword: string, newPassword: string) =>
    s.call("/api/v1/authentication/password", { method: "POST", token, json: { currentPassword, newPassword } });

  const wrong = await change(u.token, "not-the-password", "third-password-3");
  assert.is(wrong.status, 403);
  assert.match(wrong.headers.get("content-type") ?? "", "application/problem+json");
  assert.is((await me(s, u.token)).status, 200, "a refused change revokes nothing");
  assert.is((await change(u.token, u.password, "short")).status, 400);
  assert.is((await change(u.token, u.password, u.password)).status, 400);

  const ok = await change(u.token, u.password, "third-password-3");
  assert.is(ok.status, 200);
  const body = (await ok.json()) as { token: string; expiresAt: string; position: number };
  assert.is((await me(s, u.token)).status, 401);
  assert.is((await me(s, other)).status, 401);
  assert.is((await me(s, body.token)).status, 200);
  assert.is(await loginStatus(s, u.username, u.password), 401);
  assert.is(await loginStatus(s, u.username, "third-password-3"), 200);
});

t("logout revokes that token only", async ({ s, admin }) => {
  const u = await newUser(s, admin, ["Viewer"]);
  const other = await s.login(u.username, u.password);
  const out = await s.call("/api/v1/authentication/logout", { method: "POST", token: u.token });
  assert.is(out.status, 200);
  assert.is((await me(s, u.token)).status, 401);
  assert.is((await s.call("/api/v1/authentication/logout", { method: "POST", token: u.token })).status, 401);
  assert.is((await me(s, other)).status, 200);
});

t("account routes: Admin only, 404 for an unknown user, 400 for bad input, an Admin cannot disable themself", async ({ s, admin }) => {
  const u = await newUser(s, admin, ["Deployer", "Viewer"]);
  assert.is((await s.call(`/api/v1/users/${u.username}/disable`, { method: "POST", token: u.token })).status, 403);
  assert.is((await s.call(`/api/v1/users/${u.username}/password`, { method: "PUT", token: u.token, json: { password: "0123456789ab" } })).status, 403);
  assert.is((await s.call(`/api/v1/users/${u.username}/disable`, { method: "POST" })).status, 401);
  assert.is((await s.call("/api/v1/users/nobody-here/disable", { method: "POST", token: admin })).status, 404);
  assert.is((await s.call("/api/v1/users/nobody-here/enable", { method: "POST", token: admin })).status, 404);
  assert.is((await s.call("/api/v1/users/nobody-here/password", { method: "PUT", token: admin, json: { password: "0123456789ab" } })).status, 404);
  assert.is((await s.call("/api/v1/users/__proto__/disable", { method: "POST", token: admin })).status, 400);
  assert.is((await s.call(`/api/v1/users/${u.username}/password`, { method: "PUT", token: admin, json: { password: "short" } })).status, 400);
  assert.is((await s.call(`/api/v1/users/${u.username}/password`, { method: "PUT", token: admin, json: { password: "0123456789ab", extra: 1 } })).status, 400);
  const self = await s.call("/api/v1/users/admin/disable", { method: "POST", token: admin });
  assert.is(self.status, 409);
  assert.is((await me(s, admin)).status, 200);
});

t("two instances on one event log: a change made on one applies on the other", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "korch-revocation-"));
  const a = await startTestServer({}, { dataDir });
  const b = await startTestServer({}, { dataDir });
  try {
    const adminA = await a.login(...DEMO.admin);
    const create = await a.call("/api/v1/users", { method: "POST", token: adminA, json: { username: "roamer", password: "first-password-1", roles: ["Deployer", "Viewer"] } });
    assert.is(create.status, 201);
    // a token issued by A is honoured by B (same key, same log)
    const token = await a.login("roamer", "first-password-1");
    assert.is((await me(b, token)).status, 200);

    const demoted = (await (await a.call("/api/v1/users/roamer/roles", { method: "PUT", token: adminA, json: { roles: ["Viewer"] } })).json()) as { position: number };
    assert.ok(await b.deps.users.waitFor(demoted.position, 5000), "B follows the log");
    assert.is((await deploy(b, token)).status, 403);

    const disabled = (await (await a.call("/api/v1/users/roamer/disable", { method: "POST", token: adminA })).json()) as { position: number };
    assert.ok(await b.deps.users.waitFor(disabled.position, 5000));
    assert.is((await me(b, token)).status, 401);
  } finally {
    await a.stop();
    await b.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

t.run();
