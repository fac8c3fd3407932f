// The operator dashboard in a real browser (Debian's Chromium through playwright-core), against a
// real server with a small simulated fleet: sign-in, live updates over SSE without reloads,
// approvals, role-aware actions, CSRF and cross-site refusals, time travel, phone width.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";
import { requestDeployment, waitForStatus } from "../helpers/deployments.js";
import { cleanUpScreenshots, hasChromium, launch, newContext, screenshot, signIn, watch, watchProblems } from "./browser.js";

interface Ctx {
  s: TestServer;
  browser: Browser;
  contexts: BrowserContext[];
  deployer: string;
  viewer: string;
  /** the deployment the Deployer requested from the form */
  devId?: string;
}

const FLEET = { Development: 3, QA: 3, Staging: 3, Production: 5 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function page(ctx: Ctx, viewport?: { width: number; height: number }): Promise<Page> {
  const context = await newContext(ctx.browser, viewport);
  ctx.contexts.push(context);
  return context.newPage();
}

/** the session cookie and the page's CSRF token, for posts made outside the browser */
async function session(p: Page): Promise<{ cookie: string; csrf: string }> {
  const cookies = await p.context().cookies();
  const c = cookies.find((x) => x.name === "korch_session");
  assert.ok(c, "signed in");
  assert.ok(c.httpOnly, "the session cookie is HttpOnly");
  assert.is(c.sameSite, "Strict");
  return { cookie: `${c.name}=${c.value}`, csrf: await p.locator("input[name=_csrf]").first().inputValue() };
}

function post(s: TestServer, path: string, fields: Record<string, string>, headers: Record<string, string>): Promise<Response> {
  return fetch(s.url + path, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    body: new URLSearchParams(fields).toString(),
  });
}

async function deploymentCount(s: TestServer, token: string): Promise<number> {
  const res = await s.call("/api/v1/deployments?limit=200", { token });
  return ((await res.json()) as { items: unknown[] }).items.length;
}

const nodePhases = (p: Page) => p.locator("#dep-nodes li.node").evaluateAll((els) => els.map((e) => e.getAttribute("data-phase")).join(","));
const statusOf = (p: Page) => p.locator("#dep-summary .badge").first().textContent();

if (!hasChromium()) {
  console.log("SKIPPED: dashboard browser tests (no Chromium at /usr/bin/chromium; CI installs it with apt-get install chromium)");
  suite("dashboard in a browser (skipped)").run();
} else {
  const t = suite<Ctx>("dashboard in a browser");

  t.before(async (ctx) => {
    // uvu reports a failing before hook only as tests not run: say why
    await setUp(ctx).catch((err: unknown) => {
      console.error("dashboard tests: setting up failed:", err);
      throw err;
    });
  });

  async function setUp(ctx: Ctx): Promise<void> {
    ctx.contexts = [];
    ctx.s = await startTestServer({
      SIMULATOR: "true",
      SIMULATOR_CLUSTER_SIZES: Object.entries(FLEET).map(([e, n]) => `${e}:${n}`).join(","),
    });
    ctx.deployer = await ctx.s.login(...DEMO.deployer);
    ctx.viewer = await ctx.s.login(...DEMO.viewer);
    const total = Object.values(FLEET).reduce((a, b) => a + b, 0);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const clusters = (await (await ctx.s.call("/api/v1/clusters", { token: ctx.viewer })).json()) as { healthyCount: number }[];
      if (clusters.reduce((n, c) => n + c.healthyCount, 0) === total) break;
      if (Date.now() > deadline) throw new Error("simulated fleet did not come up");
      await sleep(100);
    }
    ctx.browser = await launch();
  }

  t.after(async (ctx) => {
    for (const c of ctx.contexts ?? []) await c.close().catch(() => {});
    await ctx.browser?.close();
    await ctx.s?.stop();
    cleanUpScreenshots();
  });

  t("a Deployer signs in, requests a Development deployment from the form and watches it succeed without a reload", async (ctx) => {
    const p = await page(ctx);
    const problems = watchProblems(p);
    await p.goto(`${ctx.s.url}/`);
    assert.match(p.url(), /\/ui\/login\?next=/, "/ redirects to the dashboard, which asks to sign in");
    await screenshot(p, "sign-in");
    await signIn(p, ctx.s.url, ...DEMO.deployer);
    await assert.ok(await p.getByRole("heading", { name: "New deployment" }).isVisible());

    await p.getByLabel("Module", { exact: true }).fill("netfilter");
    await p.getByLabel("Version", { exact: true }).fill("1.4.0");
    await p.getByLabel("Environment", { exact: true }).selectOption("Development");
    await p.getByLabel("E-mail", { exact: true }).fill("deployer@example.com");
    // Rolling moves the nodes in batches with health checks between, so the grid visibly changes
    await p.getByLabel("Strategy", { exact: true }).selectOption("Rolling");
    await p.getByRole("button", { name: "Deploy" }).click();
    await p.waitForURL(/\/ui\/deployments\/[0-9a-f-]{36}$/);
    ctx.devId = p.url().split("/").at(-1)!;
    await p.evaluate(() => ((window as unknown as { sameDocument: boolean }).sameDocument = true));

    // each fragment of a redraw is its own SSE message, swapped on its own: the page has settled
    // once the last of them is in, so the probe waits for the final status and the final grid both
    const grids = await watch(async () => ({ status: await statusOf(p), phases: await nodePhases(p) }), (v) => v.status === "Succeeded" && v.phases === "updated,updated,updated", 60_000);
    const phases = [...new Set(grids.map((g) => g.phases))];
    assert.ok(phases.length >= 2, `the node grid changed while watching: ${JSON.stringify(phases)}`);
    assert.is(phases.at(-1), "updated,updated,updated");
    assert.ok(await p.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument === true), "no reload happened");
    assert.is(await p.locator("#dep-summary progress").getAttribute("value"), "100");
    await assert.ok(await p.getByRole("button", { name: "Roll back" }).isVisible(), "a Deployer may roll back a succeeded deployment");
    await screenshot(p, "deployment-rolling");

    await p.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Deployments" }).click();
    await p.waitForURL(/\/ui\/deployments$/);
    await assert.ok(await p.locator(`tr[data-id="${ctx.devId}"]`).getByText("Succeeded").isVisible());
    await screenshot(p, "deployments");
    assert.equal(problems, [], "no CSP refusals or script errors");
  });

  t("an Admin approves a Production deployment from the inbox and watches the canary waves advance", async (ctx) => {
    const { executionId } = await requestDeployment(ctx.s, ctx.deployer, { moduleName: "netfilter", version: "1.4.0", targetEnvironment: "Production", requesterEmail: "deployer@example.com" });
    await waitForStatus(ctx.s, ctx.deployer, executionId, ["PendingApproval"]);
    const p = await page(ctx);
    const problems = watchProblems(p);
    await signIn(p, ctx.s.url, ...DEMO.admin);
    const nav = p.getByRole("navigation", { name: "Main" });
    assert.is((await nav.locator("#pending-count").textContent())?.trim(), "1", "the pending count shows in the navigation");
    await nav.getByRole("link", { name: /Approvals/ }).click();
    await p.waitForURL(/\/ui\/approvals$/);
    const card = p.locator(`#approval-${executionId}`);
    await assert.ok(await card.getByText("netfilter 1.4.0").isVisible());
    await screenshot(p, "approvals");
    await card.getByLabel("Reason").fill("change ticket 4711");
    await card.getByRole("button", { name: "Approve" }).click();
    await p.waitForURL(new RegExp(`/ui/deployments/${executionId}`));
    await assert.ok(await p.getByText("Approved. The deployment starts now.").isVisible());
    await p.evaluate(() => ((window as unknown as { sameDocument: boolean }).sameDocument = true));

    let shot = false;
    const waves = await watch(
      async () => {
        const statuses = await p.locator("#dep-waves li.wave").evaluateAll((els) => els.map((e) => e.getAttribute("data-status")));
        const v = { status: await statusOf(p), completed: statuses.filter((s) => s === "completed").length, total: statuses.length };
        if (!shot && v.completed >= 1 && v.completed < v.total) {
          shot = true;
          await screenshot(p, "deployment-canary");
        }
        return v;
      },
      // the summary's fragment is swapped before the waves' (separate SSE messages): settled when both are
      (v) => v.status === "Succeeded" && v.total > 0 && v.completed === v.total,
      90_000,
    );
    const completed = [...new Set(waves.map((w) => w.completed))];
    assert.ok(completed.length >= 3, `waves advanced one after another on the page: ${JSON.stringify(waves)}`);
    assert.equal(completed, [...completed].sort((a, b) => a - b), "completed waves only grow");
    assert.is(waves.at(-1)!.total, 4, "canary 10 -> 30 -> 50 -> 100 %");
    assert.is(waves.at(-1)!.completed, 4);
    assert.ok(await p.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument === true), "no reload happened");
    const summaryText = await p.locator("#dep-summary").textContent();
    assert.ok(summaryText?.includes("change ticket 4711"), `the reason is shown with the approval: ${summaryText}`);
    assert.is((await nav.locator("#pending-count").textContent())?.trim(), "", "the count went away live");

    await p.goto(`${ctx.s.url}/ui/audit`);
    await p.getByText("Verified.").waitFor();
    await screenshot(p, "audit");
    assert.equal(problems, []);
  });

  t("a Viewer sees no actions, and a forged form post with the Viewer's session and CSRF token answers 403", async (ctx) => {
    assert.ok(ctx.devId, "the first test left a deployment");
    const p = await page(ctx);
    // by keyboard: the sign-in form is reachable and submits with Enter
    await p.goto(`${ctx.s.url}/ui/login`);
    await p.getByLabel("Username").focus();
    await p.keyboard.type(DEMO.viewer[0]);
    await p.keyboard.press("Tab");
    await p.keyboard.type(DEMO.viewer[1]);
    await p.keyboard.press("Enter");
    await p.waitForURL(/\/ui\/deployments$/);
    assert.is(await p.getByRole("heading", { name: "New deployment" }).count(), 0);
    assert.is(await p.getByRole("button", { name: "Deploy" }).count(), 0);

    await p.goto(`${ctx.s.url}/ui/deployments/${ctx.devId}`);
    for (const name of ["Pause", "Resume", "Abort", "Roll back"]) assert.is(await p.getByRole("button", { name }).count(), 0, `no ${name} button`);
    await assert.ok(await p.getByText("need the Deployer or Admin role").isVisible());
    await p.goto(`${ctx.s.url}/ui/approvals`);
    assert.is(await p.getByRole("button", { name: "Approve" }).count(), 0);

    const { cookie, csrf } = await session(p);
    const headers = { cookie, origin: ctx.s.url };
    const before = await deploymentCount(ctx.s, ctx.viewer);
    const forged = await post(ctx.s, "/ui/deployments", { _csrf: csrf, moduleName: "netfilter", version: "9.9.9", targetEnvironment: "Development", requesterEmail: "x@example.com" }, headers);
    assert.is(forged.status, 403);
    assert.match(await forged.text(), /needs one of the roles Deployer, Admin/);
    const rollback = await post(ctx.s, `/ui/deployments/${ctx.devId}/actions`, { _csrf: csrf, action: "rollback" }, headers);
    assert.is(rollback.status, 403);
    const approve = await post(ctx.s, `/ui/approvals/${ctx.devId}`, { _csrf: csrf, decision: "approve" }, headers);
    assert.is(approve.status, 403);
    assert.match(await approve.text(), /needs the Admin role/);
    assert.is(await deploymentCount(ctx.s, ctx.viewer), before, "nothing was requested");

    const audit = await p.goto(`${ctx.s.url}/ui/audit`);
    assert.is(audit?.status(), 403);
    await assert.ok(await p.getByText("The audit log needs the Admin role").isVisible());

    // phone width: nothing wider than the screen
    const phone = await page(ctx, { width: 390, height: 844 });
    await signIn(phone, ctx.s.url, ...DEMO.viewer);
    for (const path of ["/ui/clusters/Production", "/ui/deployments", `/ui/deployments/${ctx.devId}`]) {
      await phone.goto(ctx.s.url + path);
      const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 0, `${path} fits a phone (overflows by ${overflow}px)`);
    }
    await screenshot(phone, "deployment-phone");

    // sign-out revokes the token: the old cookie no longer opens a page
    await p.getByRole("button", { name: "Sign out" }).click();
    await p.waitForURL(/\/ui\/login\?signedOut=1$/);
    const replay = await fetch(`${ctx.s.url}/ui/deployments`, { headers: { cookie }, redirect: "manual" });
    assert.is(replay.status, 303, "a revoked session is sent to sign in");
  });

  t("a cross-site form post without the CSRF token is refused", async (ctx) => {
    const p = await page(ctx);
    await signIn(p, ctx.s.url, ...DEMO.deployer);
    const { cookie, csrf } = await session(p);
    const before = await deploymentCount(ctx.s, ctx.deployer);
    const fields = { moduleName: "netfilter", version: "6.6.6", targetEnvironment: "Development", requesterEmail: "evil@example.com" };

    // another origin, the Deployer's cookie, no token
    const crossSite = await post(ctx.s, "/ui/deployments", fields, { cookie, origin: "http://evil.example" });
    assert.is(crossSite.status, 403);
    assert.match(await crossSite.text(), /cross-site/);
    // the right origin but no token, or the token of another session
    assert.is((await post(ctx.s, "/ui/deployments", fields, { cookie, origin: ctx.s.url })).status, 403);
    assert.is((await post(ctx.s, "/ui/deployments", { ...fields, _csrf: csrf.replace(/^./, (c) => (c === "A" ? "B" : "A")) }, { cookie, origin: ctx.s.url })).status, 403);
    // a token alone is not enough either: the origin must be ours
    assert.is((await post(ctx.s, "/ui/deployments", { ...fields, _csrf: csrf }, { cookie, origin: "http://evil.example" })).status, 403);

    // in the browser: a page on another origin (another port of the same host, so the same site and
    // the SameSite cookie still goes along) submits a form to the dashboard
    const evil: Server = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/html" });
      res.end(`<!doctype html><title>win a prize</title><form method="post" action="${ctx.s.url}/ui/deployments">${Object.entries(fields)
        .map(([k, v]) => `<input type="hidden" name="${k}" value="${v}">`)
        .join("")}<button>Claim</button></form>`);
    });
    await new Promise<void>((r) => evil.listen(0, "127.0.0.1", r));
    try {
      await p.goto(`http://127.0.0.1:${(evil.address() as AddressInfo).port}/`);
      const [res] = await Promise.all([p.waitForResponse((r) => r.url().endsWith("/ui/deployments") && r.request().method() === "POST"), p.getByRole("button", { name: "Claim" }).click()]);
      assert.is(res.status(), 403);
      await assert.ok(await p.getByText("cross-site request").isVisible());
    } finally {
      evil.close();
    }
    assert.is(await deploymentCount(ctx.s, ctx.deployer), before, "nothing was requested");
  });

  t("the time-travel picker shows the version a cluster ran before the last deployment", async (ctx) => {
    const first = await requestDeployment(ctx.s, ctx.deployer, { moduleName: "ttmod", version: "1.0.0", targetEnvironment: "Development" });
    await waitForStatus(ctx.s, ctx.deployer, first.executionId, ["Succeeded"], 60_000);
    await sleep(1100);
    // whole seconds: the picker's resolution
    const between = new Date(Math.floor(Date.now() / 1000) * 1000);
    await sleep(1100);
    const second = await requestDeployment(ctx.s, ctx.deployer, { moduleName: "ttmod", version: "2.0.0", targetEnvironment: "Development" });
    await waitForStatus(ctx.s, ctx.deployer, second.executionId, ["Succeeded"], 60_000);

    const p = await page(ctx);
    const problems = watchProblems(p);
    await signIn(p, ctx.s.url, ...DEMO.viewer);
    await p.goto(`${ctx.s.url}/ui/clusters/Development`);
    const versions = () => p.locator('#cluster-nodes [data-module="ttmod"] strong').allTextContents();
    assert.equal(await versions(), ["2.0.0", "2.0.0", "2.0.0"]);
    await p.locator("#charts .plot canvas").first().waitFor();
    await screenshot(p, "cluster");

    // the browser's local time is UTC in this context
    await p.getByLabel("As of").fill(between.toISOString().slice(0, 19));
    await p.getByRole("button", { name: "Show" }).click();
    await p.waitForURL(/[?&]at=/);
    assert.equal(await versions(), ["1.0.0", "1.0.0", "1.0.0"], "as of then, the cluster ran the version before the last deployment");
    await assert.ok(await p.getByText("Showing the state as of").isVisible());
    // a datetime-local value drops ":00" seconds ("12:34" for 12:34:00), so compare the instants
    const kept = await p.getByLabel("As of").inputValue();
    assert.is(Date.parse(`${kept}Z`), Date.parse(`${between.toISOString().slice(0, 19)}Z`), `the picker keeps the instant (${kept})`);
    await screenshot(p, "cluster-as-of");

    // the module matrix then, from the knowledge graph
    await p.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "What runs where" }).click();
    assert.match(await p.locator('tr[data-module="ttmod"] td[data-label="Development"]').innerText(), /2\.0\.0/);
    await p.getByLabel("As of").fill(between.toISOString().slice(0, 19));
    await p.getByRole("button", { name: "Show" }).click();
    await p.waitForURL(/\/ui\/matrix\?.*at=/);
    assert.match(await p.locator('tr[data-module="ttmod"] td[data-label="Development"]').innerText(), /^1\.0\.0 ×3$/);

    // the deployments list then: the later deployment had not been requested
    await p.goto(`${ctx.s.url}/ui/deployments?at=${encodeURIComponent(between.toISOString())}`);
    assert.is(await p.locator(`tr[data-id="${second.executionId}"]`).count(), 0);
    await assert.ok(await p.locator(`tr[data-id="${first.executionId}"]`).getByText("Succeeded").isVisible());
    assert.equal(problems, []);
  });

  t.run();
}
