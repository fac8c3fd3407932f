// Drives Debian's Chromium for the dashboard tests (never a downloaded browser). Screenshots go to
// docs/ui/ when UI_SCREENSHOTS=1 (to refresh the committed ones), else to a temp dir, so a test
// run leaves the work tree clean.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const hasChromium = () => existsSync(CHROMIUM);

export function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-quic", "--disable-sync"],
  });
}

const docsDir = new URL("../../docs/ui/", import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), "korch-ui-shots-"));
export const screenshotsDir = process.env.UI_SCREENSHOTS === "1" ? docsDir : scratch;
mkdirSync(screenshotsDir, { recursive: true });
export const cleanUpScreenshots = () => rmSync(scratch, { recursive: true, force: true });

export async function screenshot(page: Page, name: string): Promise<void> {
  // caret "initial": hiding it makes Playwright inject a style element, which our CSP (rightly) refuses
  await page.screenshot({ path: join(screenshotsDir, `${name}.png`), caret: "initial" });
}

/** a fresh context (its own cookies) at the size the screenshots use; local time is UTC so "As of" values are predictable */
export function newContext(browser: Browser, viewport = { width: 1280, height: 800 }): Promise<BrowserContext> {
  return browser.newContext({ viewport, timezoneId: "UTC", locale: "en-GB" });
}

/** what the browser complained about: CSP refusals and script errors must not happen */
export function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    const text = m.text();
    if (/Content Security Policy|Refused to/i.test(text)) problems.push(`csp: ${text} (${page.url()} ${JSON.stringify(m.location())})`);
  });
  return problems;
}

export async function signIn(page: Page, baseUrl: string, username: string, password: string): Promise<void> {
  await page.goto(`${baseUrl}/ui/login`);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(/\/ui\/deployments$/);
}

/** polls `probe` until `done` says so, recording each distinct value in order */
export async function watch<T>(probe: () => Promise<T>, done: (v: T) => boolean, timeoutMs: number, intervalMs = 100): Promise<T[]> {
  const seen: T[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (!seen.length || JSON.stringify(seen.at(-1)) !== JSON.stringify(v)) seen.push(v);
    if (done(v)) return seen;
    if (Date.now() > deadline) throw new Error(`gave up after ${timeoutMs} ms; seen: ${JSON.stringify(seen).slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
