import Database from "better-sqlite3";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";

interface Entry {
  position: number;
  type: string;
  streamId: string;
  summary: string;
  actor: { kind: string; id: string };
  environment: string | null;
  sourceIp: string | null;
  userAgent: string | null;
  traceId: string | null;
  hash: string;
}
interface Page {
  items: Entry[];
  nextCursor: string | null;
}

const t = suite<{ s: TestServer; admin: string; executionId: string; lastPosition: number }>("audit log over HTTP");

t.before(async (ctx) => {
  ctx.s = await startTestServer({ LOCKOUT_MAX_ATTEMPTS: "2" });
  const s = ctx.s;
  ctx.admin = await s.login(...DEMO.admin);
  const ua = { "user-agent": "audit-test/1.0", traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" };
  // user creation, role change, failed logins and lockout
  assert.is((await s.call("/api/v1/users", { method: "POST", token: ctx.admin, headers: ua, json: { username: "auditee", password: "correct-horse-1", roles: ["Viewer"] } })).status, 201);
  assert.is((await s.call("/api/v1/users/auditee/roles", { method: "PUT", token: ctx.admin, json: { roles: ["Deployer"] } })).status, 200);
  for (let i = 0; i < 2; i++) await s.call("/api/v1/authentication/login", { method: "POST", json: { username: "auditee", password: "wrong" } });
  // a deployment that needs approval, approved by the admin
  const deployer = await s.login(...DEMO.deployer);
  const res = await s.call("/api/v1/deployments", {
    method: "POST",
    token: deployer,
    json: { moduleName: "netfilter-ext", version: "1.2.3", targetEnvironment: "Staging", requesterEmail: "d@example.com" },
  });
  assert.is(res.status, 202);
  ctx.executionId = ((await res.json()) as { executionId: string }).executionId;
  const approved = await s.call(`/api/v1/approvals/deployments/${ctx.executionId}/approve`, { method: "POST", token: ctx.admin, json: { reason: "looks fine" } });
  assert.is(approved.status, 200);
  ctx.lastPosition = ((await approved.json()) as { position: number }).position;
});
t.after(async (ctx) => ctx.s.stop());

const list = async (ctx: { s: TestServer; admin: string; lastPosition: number }, query = "", limit = 500) => {
  const res = await ctx.s.call(`/api/v1/audit-logs?minPosition=${ctx.lastPosition}&limit=${limit}${query}`, { token: ctx.admin });
  assert.is(res.status, 200, await res.clone().text());
  return (await res.json()) as Page;
};

t("every command path leaves an entry with actor and summary", async (ctx) => {
  const { items } = await list(ctx);
  const find = (type: string, pred: (e: Entry) => boolean = () => true) => {
    const e = items.find((i) => i.type === type && pred(i));
    assert.ok(e, `no ${type} entry`);
    assert.ok(e!.actor.id.length > 0);
    assert.ok(e!.summary.length > 0);
    return e!;
  };
  assert.match(find("UserLoggedIn", (e) => e.streamId === "user-admin").summary, "admin logged in");
  assert.match(find("UserLoginFailed", (e) => e.streamId === "user-auditee").summary, "failed login for auditee");
  assert.match(find("UserLockedOut").summary, "auditee locked out");
  const created = find("UserCreated", (e) => e.streamId === "user-auditee");
  assert.is(created.actor.id, "admin");
  assert.match(created.summary, "user auditee created with roles Viewer");
  assert.is(created.userAgent, "audit-test/1.0");
  assert.ok(created.sourceIp);
  assert.is(find("UserRolesChanged").summary, "roles of auditee set to Deployer");
  const requested = find("DeploymentRequested");
  assert.is(requested.actor.id, "deployer");
  assert.is(requested.environment, "Staging");
  assert.match(requested.summary, "deployer requested netfilter-ext@1.2.3 to Staging");
  const granted = find("ApprovalGranted");
  assert.is(granted.actor.id, "admin");
  assert.is(granted.environment, "Staging", "environment carried along the deployment stream");
  assert.match(granted.summary, "approved by admin");
  // newest first, positions strictly decreasing, each entry with its event's own digest
  for (let i = 1; i < items.length; i++) assert.ok(items[i - 1]!.position > items[i]!.position);
  assert.ok(items.every((e) => /^[0-9a-f]{64}$/.test(e.hash)));
  assert.is(new Set(items.map((e) => e.hash)).size, items.length);
});

t("the trace id comes from the traceparent when the request carried one", async (ctx) => {
  const { items } = await list(ctx, "&type=UserCreated&stream=user-auditee");
  assert.is(items.length, 1);
  assert.ok(items[0]!.traceId === null || /^[0-9a-f]{32}$/.test(items[0]!.traceId!));
});

t("filters: type (several), actor, stream prefix, environment, time range, order", async (ctx) => {
  const types = await list(ctx, "&type=UserLoginFailed,UserLockedOut");
  assert.ok(types.items.length >= 3);
  assert.ok(types.items.every((e) => e.type === "UserLoginFailed" || e.type === "UserLockedOut"));
  const byActor = await list(ctx, "&actor=deployer");
  assert.ok(byActor.items.length >= 1 && byActor.items.every((e) => e.actor.id === "deployer"));
  const prefix = await list(ctx, "&stream=deployment-*");
  assert.ok(prefix.items.length >= 2 && prefix.items.every((e) => e.streamId.startsWith("deployment-")));
  const exact = await list(ctx, `&stream=deployment-${ctx.executionId}`);
  assert.equal(exact.items.map((e) => e.position), prefix.items.filter((e) => e.streamId === `deployment-${ctx.executionId}`).map((e) => e.position));
  const env = await list(ctx, "&environment=Staging");
  assert.ok(env.items.length >= 2 && env.items.every((e) => e.environment === "Staging"));
  const production = await list(ctx, "&environment=Production");
  assert.ok(production.items.every((e) => e.environment === "Production" && !e.streamId.startsWith("deployment-")));
  const future = new Date(Date.now() + 3600_000).toISOString();
  assert.is((await list(ctx, `&from=${future}`)).items.length, 0);
  const all = await list(ctx);
  assert.is((await list(ctx, `&to=${future}`)).items.length, all.items.length);
  const asc = await list(ctx, "&order=asc");
  assert.equal(asc.items.map((e) => e.position), [...all.items].reverse().map((e) => e.position));
});

t("cursor pagination walks every entry once, in both orders", async (ctx) => {
  const all = (await list(ctx)).items.map((e) => e.position);
  for (const order of ["desc", "asc"]) {
    const seen: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: Page = await list(ctx, `&order=${order}${cursor ? `&cursor=${cursor}` : ""}`, 3);
      assert.ok(page.items.length <= 3);
      seen.push(...page.items.map((e) => e.position));
      cursor = page.nextCursor;
      pages++;
    } while (cursor && pages < 1000);
    assert.equal(seen, order === "desc" ? all : [...all].reverse());
  }
  // like the deployments list: a well-formed request with a cursor this server never issued
  const bad = await ctx.s.call("/api/v1/audit-logs?cursor=bogus", { token: ctx.admin });
  assert.is(bad.status, 400);
});

t("one entry with its full event; password hashes redacted; 404 for unknown", async (ctx) => {
  const created = (await list(ctx, "&type=UserCreated&stream=user-auditee")).items[0]!;
  const res = await ctx.s.call(`/api/v1/audit-logs/${created.position}`, { token: ctx.admin });
  assert.is(res.status, 200);
  assert.ok(res.headers.get("x-read-position"));
  const body = (await res.json()) as Entry & { event: { type: string; data: { username: string; passwordHash: string }; metadata: { eventId: string } } };
  assert.is(body.position, created.position);
  assert.is(body.event.type, "UserCreated");
  assert.is(body.event.data.username, "auditee");
  assert.is(body.event.data.passwordHash, "[redacted]");
  assert.is((await ctx.s.call("/api/v1/audit-logs/99999999", { token: ctx.admin })).status, 404);
  assert.is((await ctx.s.call("/api/v1/audit-logs/abc", { token: ctx.admin })).status, 400);
});

t("Admin only: 401 without a token, 403 for Deployer and Viewer on every audit endpoint", async (ctx) => {
  const deployer = await ctx.s.login(...DEMO.deployer);
  const viewer = await ctx.s.login(...DEMO.viewer);
  for (const path of ["/api/v1/audit-logs", "/api/v1/audit-logs/1", "/api/v1/audit-logs/verify"]) {
    assert.is((await ctx.s.call(path)).status, 401, path);
    assert.is((await ctx.s.call(path, { token: deployer })).status, 403, path);
    assert.is((await ctx.s.call(path, { token: viewer })).status, 403, path);
  }
});

t("verify passes on an untouched log, then finds an event edited underneath at its position", async (ctx) => {
  const ok = await ctx.s.call(`/api/v1/audit-logs/verify?minPosition=${ctx.lastPosition}`, { token: ctx.admin });
  assert.is(ok.status, 200);
  const good = (await ok.json()) as { ok: boolean; checked: number; firstMismatch: unknown; anchors: { checked: number; firstBad: unknown } };
  assert.ok(good.ok);
  assert.ok(good.checked >= ctx.lastPosition);
  assert.is(good.firstMismatch, null);
  assert.is(good.anchors.firstBad, null);

  const target = (await list(ctx, "&type=UserRolesChanged")).items[0]!;
  const db = new Database(join(ctx.s.dataDir, "events.db"));
  try {
    const changed = db.prepare("UPDATE events SET data = ? WHERE position = ?").run(JSON.stringify({ username: "auditee", roles: ["Admin"] }), target.position);
    assert.is(changed.changes, 1);
  } finally {
    db.close();
  }
  const res = await ctx.s.call("/api/v1/audit-logs/verify", { token: ctx.admin });
  const bad = (await res.json()) as { ok: boolean; firstMismatch: { position: number; expected: string; actual: string } };
  assert.is(bad.ok, false);
  assert.is(bad.firstMismatch.position, target.position);
  assert.is(bad.firstMismatch.actual, target.hash);
  assert.is.not(bad.firstMismatch.expected, target.hash);
  // a range that ends before the edit is still fine
  const before = (await (await ctx.s.call(`/api/v1/audit-logs/verify?to=${target.position - 1}`, { token: ctx.admin })).json()) as { ok: boolean };
  assert.ok(before.ok);
  // a range starting after it too (no anchor covers it yet: those come every minute or 1000 events)
  const after = (await (await ctx.s.call(`/api/v1/audit-logs/verify?from=${target.position + 1}`, { token: ctx.admin })).json()) as { ok: boolean };
  assert.ok(after.ok);
});

t.run();
