// The dashboard's session and page hygiene over plain HTTP (no browser): the cookie, where it
// counts and where it does not, CSRF and origin refusals, sign-in errors in words, lockout, no
// inline scripts or styles, escaping, assets.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";
import { requestDeployment } from "../helpers/deployments.js";
import { registerAgent } from "../fleet/helpers.js";

const t = suite<{ s: TestServer }>("dashboard session over HTTP");
t.before(async (ctx) => {
  ctx.s = await startTestServer({ TRUST_PROXY: "1" });
});
t.after(async (ctx) => ctx.s.stop());

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const FORM = "application/x-www-form-urlencoded";

async function signIn(s: TestServer, username: string, password: string, headers: Record<string, string> = {}) {
  return fetch(`${s.url}/ui/login`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": FORM, origin: s.url, ...headers },
    body: form({ username, password, next: "/ui/clusters" }),
  });
}
async function cookieOf(s: TestServer, username: string, password: string): Promise<string> {
  const res = await signIn(s, username, password);
  assert.is(res.status, 303);
  return res.headers.get("set-cookie")!.split(";")[0]!;
}
const csrfIn = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)![1]!;

t("sign-in sets a short-lived HttpOnly SameSite=Strict cookie (Secure behind TLS) and goes where it was asked", async ({ s }) => {
  const res = await signIn(s, ...DEMO.viewer);
  assert.is(res.status, 303);
  assert.is(res.headers.get("location"), "/ui/clusters");
  const cookie = res.headers.get("set-cookie")!;
  assert.match(cookie, /^korch_session=[\w-]+\.[\w-]+\.[\w-]+;/);
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);
  assert.match(cookie, /Path=\//);
  assert.not.match(cookie, /Secure/, "plain http");
  const maxAge = Number(/Max-Age=(\d+)/.exec(cookie)![1]);
  assert.ok(maxAge > 3500 && maxAge <= 3600, `the token's lifetime: ${maxAge}`);
  const tls = await signIn(s, ...DEMO.viewer, { "x-forwarded-proto": "https", origin: s.url.replace("http:", "https:") });
  assert.is(tls.status, 303);
  assert.match(tls.headers.get("set-cookie")!, /Secure/, "over TLS, as a trusted proxy says");

  // an open redirect is not on offer
  const evil = await fetch(`${s.url}/ui/login`, { method: "POST", redirect: "manual", headers: { "content-type": FORM, origin: s.url }, body: form({ username: "viewer", password: "Viewer123!", next: "//evil.example/x" }) });
  assert.is(evil.headers.get("location"), "/ui/deployments");
});

t("the cookie opens the dashboard and the deployment feeds, never an API command or query", async ({ s }) => {
  const cookie = await cookieOf(s, ...DEMO.deployer);
  assert.is((await fetch(`${s.url}/ui/deployments`, { headers: { cookie } })).status, 200);
  const ac = new AbortController();
  const feed = await fetch(`${s.url}/api/v1/deployments/events`, { headers: { cookie }, signal: ac.signal });
  assert.is(feed.status, 200);
  assert.match(feed.headers.get("content-type")!, /text\/event-stream/);
  ac.abort();
  assert.is((await fetch(`${s.url}/api/v1/deployments`, { headers: { cookie } })).status, 401);
  const command = await fetch(`${s.url}/api/v1/deployments`, {
    method: "POST",
    headers: { cookie, "content-type": "application/json", origin: s.url },
    body: JSON.stringify({ moduleName: "netfilter", version: "1.0.0", targetEnvironment: "Development", requesterEmail: "a@example.com" }),
  });
  assert.is(command.status, 401);
  // without a cookie a page sends the browser to sign in, and back
  const anonymous = await fetch(`${s.url}/ui/clusters/QA`, { redirect: "manual" });
  assert.is(anonymous.status, 303);
  assert.is(anonymous.headers.get("location"), "/ui/login?next=%2Fui%2Fclusters%2FQA");
  assert.is((await fetch(`${s.url}/ui/deployments/events`)).status, 401, "a feed without a session");
});

t("sign-in errors are said in words; five failures lock the account (423)", async ({ s }) => {
  const wrong = await signIn(s, "deployer", "nope", { "x-forwarded-for": "203.0.113.9" });
  assert.is(wrong.status, 401);
  assert.match(await wrong.text(), /Wrong username or password/);
  for (let i = 0; i < 5; i++) await signIn(s, "viewer", "wrong", { "x-forwarded-for": "203.0.113.10" });
  const locked = await signIn(s, "viewer", "Viewer123!", { "x-forwarded-for": "203.0.113.10" });
  assert.is(locked.status, 423);
  assert.match(await locked.text(), /locked/);
  assert.ok(locked.headers.get("retry-after"));
  const crossSite = await signIn(s, "admin", "Admin123!", { origin: "http://evil.example" });
  assert.is(crossSite.status, 403, "a sign-in form posted from another site");
});

t("pages: CSP without inline code, escaped data, roles named on 403, 404 in words", async ({ s }) => {
  const deployer = await s.login(...DEMO.deployer);
  const { executionId, position } = await requestDeployment(s, deployer, { moduleName: "netfilter", version: "1.0.0", targetEnvironment: "Staging" });
  const api = await fetch(`${s.url}/api/v1/deployments/${executionId}?minPosition=${position}`, { headers: { authorization: `Bearer ${deployer}` } });
  assert.is(api.status, 200);
  const cookie = await cookieOf(s, ...DEMO.admin);
  const xss = `<script>alert(1)</script>"'`;
  // a hostile description, requested through the dashboard's own form
  const page = await (await fetch(`${s.url}/ui/deployments`, { headers: { cookie } })).text();
  const created = await fetch(`${s.url}/ui/deployments`, {
    method: "POST",
    redirect: "manual",
    headers: { cookie, origin: s.url, "content-type": FORM },
    body: form({ _csrf: csrfIn(page), moduleName: "netfilter", version: "1.0.1", targetEnvironment: "Production", requesterEmail: "a@example.com", description: xss }),
  });
  assert.is(created.status, 303);
  const location = created.headers.get("location")!;
  for (const path of ["/ui/deployments", location, "/ui/approvals", "/ui/clusters", "/ui/clusters/QA", "/ui/matrix", "/ui/modules", "/ui/secrets", "/ui/audit"]) {
    const res = await fetch(s.url + path, { headers: { cookie } });
    assert.is(res.status, 200, path);
    const csp = res.headers.get("content-security-policy")!;
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /style-src 'self'(;|$)/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.is(res.headers.get("cache-control"), "no-store");
    const html = await res.text();
    assert.not.match(html, /<script(?![^>]*\ssrc=)[^>]*>/, `${path}: no inline script`);
    assert.not.match(html, /\sstyle=|<style/, `${path}: no inline style`);
    assert.not.match(html, /\son[a-z]+=/, `${path}: no inline handlers`);
    assert.not.match(html, /<script>alert/, `${path}: user text is escaped`);
  }
  assert.match(await (await fetch(s.url + location, { headers: { cookie } })).text(), /&lt;script&gt;alert\(1\)&lt;\/script&gt;&quot;&#39;/);

  const deployerCookie = await cookieOf(s, ...DEMO.deployer);
  const audit = await fetch(`${s.url}/ui/audit`, { headers: { cookie: deployerCookie } });
  assert.is(audit.status, 403);
  assert.match(await audit.text(), /needs the Admin role\. You are signed in as deployer with Deployer, Viewer/);
  const missing = await fetch(`${s.url}/ui/deployments/00000000-0000-4000-8000-000000000000`, { headers: { cookie } });
  assert.is(missing.status, 404);
  assert.match(await missing.text(), /deployment 00000000-0000-4000-8000-000000000000 not found/);
  const future = await fetch(`${s.url}/ui/clusters/QA?at=2999-01-01T00:00:00Z`, { headers: { cookie } });
  assert.is(future.status, 400);
  assert.match(await future.text(), /in the future/);
});

t("a live view refused before it streams answers a page with the same CSP and no-store as every page", async ({ s }) => {
  const cookie = await cookieOf(s, ...DEMO.admin);
  const missing = await fetch(`${s.url}/ui/deployments/00000000-0000-4000-8000-000000000000/events`, { headers: { cookie } });
  assert.is(missing.status, 404);
  assert.match(missing.headers.get("content-type")!, /text\/html/);
  assert.match(missing.headers.get("content-security-policy") ?? "", /script-src 'self'(;|$)/);
  assert.is(missing.headers.get("cache-control"), "no-store");
  await missing.text();
});

t("secrets: metadata for Admins with a Rotate button running the API's rotation; 403 for others", async ({ s }) => {
  const admin = await s.login(...DEMO.admin);
  const created = await s.call("/api/v1/secrets", { method: "POST", token: admin, json: { name: "ui-test-secret", kind: "generic", value: "s3cr3t-value-for-ui" } });
  assert.is(created.status, 201);
  const cookie = await cookieOf(s, ...DEMO.admin);
  const page = await (await fetch(`${s.url}/ui/secrets`, { headers: { cookie } })).text();
  assert.match(page, /id="secret-ui-test-secret"/);
  assert.not.match(page, /s3cr3t-value-for-ui/, "no value on the page");
  const rotate = await fetch(`${s.url}/ui/secrets/ui-test-secret/rotate`, { method: "POST", redirect: "manual", headers: { cookie, origin: s.url, "content-type": FORM }, body: form({ _csrf: csrfIn(page) }) });
  assert.is(rotate.status, 303);
  assert.is(rotate.headers.get("location"), "/ui/secrets?rotated=ui-test-secret");
  const detail = (await (await s.call("/api/v1/secrets/ui-test-secret", { token: admin })).json()) as { rotations: number };
  assert.is(detail.rotations, 1, "the API's rotation was requested once");
  const deployerCookie = await cookieOf(s, ...DEMO.deployer);
  const denied = await fetch(`${s.url}/ui/secrets`, { headers: { cookie: deployerCookie } });
  assert.is(denied.status, 403);
  assert.match(await denied.text(), /Secrets needs the Admin role/);
});

t("modules: registered versions with their verification, and where each runs", async ({ s }) => {
  const deployer = await s.login(...DEMO.deployer);
  const f = new FormData();
  f.set("name", "uimod");
  f.set("version", "1.2.3");
  f.set("artifact", new Blob([new Uint8Array(2048).fill(7)]), "uimod.ko");
  const res = await s.call("/api/v1/modules", { method: "POST", token: deployer, body: f });
  assert.is(res.status, 201, await res.clone().text());
  const cookie = await cookieOf(s, ...DEMO.deployer);
  const list = await (await fetch(`${s.url}/ui/modules`, { headers: { cookie } })).text();
  assert.match(list, /<tr data-module="uimod" data-version="1.2.3">/);
  assert.match(list, /s-paused">unsigned</);
  const detail = await fetch(`${s.url}/ui/modules/uimod/1.2.3`, { headers: { cookie } });
  assert.is(detail.status, 200);
  const text = await detail.text();
  assert.match(text, /authenticity/);
  assert.match(text, /No node runs this version now/);
  assert.is((await fetch(`${s.url}/ui/modules/uimod/9.9.9`, { headers: { cookie } })).status, 404);
});

t("assets: content-versioned URLs cached for a year, others not; unknown names 404", async ({ s }) => {
  const page = await (await fetch(`${s.url}/ui/login`)).text();
  const src = /src="(\/ui\/assets\/[\w-]+\/htmx\.min\.js)"/.exec(page)![1]!;
  const res = await fetch(s.url + src);
  assert.is(res.status, 200);
  assert.match(res.headers.get("content-type")!, /javascript/);
  assert.match(res.headers.get("cache-control")!, /max-age=31536000, immutable/);
  const stale = await fetch(`${s.url}/ui/assets/old/htmx.min.js`);
  assert.is(stale.headers.get("cache-control"), "no-cache");
  assert.is((await fetch(`${s.url}/ui/assets/x/..%2F..%2Fpackage.json`)).status, 404);
  assert.is((await fetch(`${s.url}/ui/assets/x/constructor`)).status, 404);
});

t("sign-out needs the CSRF token, revokes the token and clears the cookie", async ({ s }) => {
  const cookie = await cookieOf(s, ...DEMO.deployer);
  const page = await (await fetch(`${s.url}/ui/deployments`, { headers: { cookie } })).text();
  const forged = await fetch(`${s.url}/ui/logout`, { method: "POST", redirect: "manual", headers: { cookie, origin: s.url, "content-type": FORM }, body: "" });
  assert.is(forged.status, 403);
  assert.is((await fetch(`${s.url}/ui/deployments`, { headers: { cookie } })).status, 200, "still signed in");
  const out = await fetch(`${s.url}/ui/logout`, { method: "POST", redirect: "manual", headers: { cookie, origin: s.url, "content-type": FORM }, body: form({ _csrf: csrfIn(page) }) });
  assert.is(out.status, 303);
  assert.match(out.headers.get("set-cookie")!, /korch_session=;.*Max-Age=0/);
  const after = await fetch(`${s.url}/ui/deployments`, { headers: { cookie }, redirect: "manual" });
  assert.is(after.status, 303, "the old cookie no longer counts anywhere");
  const bearer = await fetch(`${s.url}/api/v1/authentication/me`, { headers: { authorization: `Bearer ${cookie.split("=")[1]}` } });
  assert.is(bearer.status, 401, "the token itself is revoked");
});

t("signing out ends the live views opened with that session", async ({ s }) => {
  const cookie = await cookieOf(s, ...DEMO.admin);
  const page = await (await fetch(`${s.url}/ui/approvals`, { headers: { cookie } })).text();
  const live = await fetch(`${s.url}/ui/approvals/events`, { headers: { cookie } });
  assert.is(live.status, 200);
  const reader = live.body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const ended = (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return text;
      text += decoder.decode(value, { stream: true });
    }
  })();
  const out = await fetch(`${s.url}/ui/logout`, { method: "POST", redirect: "manual", headers: { cookie, origin: s.url, "content-type": FORM }, body: form({ _csrf: csrfIn(page) }) });
  assert.is(out.status, 303);
  const timeout = new Promise<string>((resolve) => setTimeout(() => resolve("still open"), 5000).unref());
  const outcome = await Promise.race([ended, timeout]);
  if (outcome === "still open") await reader.cancel();
  assert.match(outcome, /access changed/, "the live view outlived the session");
});

t("a big cluster is counted whole and drawn a page at a time, with a link to the next page", async ({ s }) => {
  const cookie = await cookieOf(s, ...DEMO.viewer);
  for (let i = 0; i < 205; i += 41) {
    await Promise.all(Array.from({ length: 41 }, (_, k) => registerAgent(s, `stg-${String(i + k).padStart(3, "0")}`, "Staging")));
  }
  const first = await (await fetch(`${s.url}/ui/clusters/Staging`, { headers: { cookie } })).text();
  assert.is(first.match(/<li class="node /g)?.length, 200);
  assert.match(first, /200 of 205 shown/);
  const next = /href="(\/ui\/clusters\/Staging\?cursor=[^"]+)"/.exec(first)?.[1];
  assert.ok(next, "a link to the next page");
  const second = await (await fetch(`${s.url}${next!.replace(/&amp;/g, "&")}`, { headers: { cookie } })).text();
  assert.is(second.match(/<li class="node /g)?.length, 5);
  assert.match(second, /stg-204/);
  assert.not.match(second, /stg-000/);
  const forged = await fetch(`${s.url}/ui/clusters/Staging?cursor=not-ours`, { headers: { cookie } });
  assert.is(forged.status, 400);
});

t.run();
