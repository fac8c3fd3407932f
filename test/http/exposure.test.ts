import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { MemoryReadStore } from "../../src/projections/store/memory.js";
import { DEMO, startTestServer } from "../helpers/server.js";

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "korch-exposure-"));
  dirs.push(d);
  return d;
}
const modeOf = (path: string) => statSync(path).mode & 0o777;

test("events.db, its WAL and shared memory, and a data dir the server creates are private to the owner, whatever the umask", async () => {
  const dataDir = join(tempDir(), "data");
  const previous = process.umask(0o000);
  let s;
  try {
    s = await startTestServer({}, { dataDir });
  } finally {
    process.umask(previous);
  }
  try {
    await s.login(...DEMO.admin); // a write, so the WAL has content
    assert.is(modeOf(dataDir), 0o700);
    for (const name of ["events.db", "events.db-wal", "events.db-shm"]) {
      assert.is(modeOf(join(dataDir, name)), 0o600, name);
    }
    // and everything else the server keeps there (secret keys, master key, demo PKI, artifacts)
    for (const entry of readdirSync(dataDir, { recursive: true, withFileTypes: true })) {
      const path = join(entry.parentPath, entry.name);
      assert.is(modeOf(path), entry.isDirectory() ? 0o700 : 0o600, path);
    }
  } finally {
    await s.stop();
  }
});

test("an events.db left readable by an older version is tightened on open", async () => {
  const dataDir = tempDir();
  const first = await startTestServer({}, { dataDir });
  await first.stop();
  for (const name of ["events.db", "events.db-wal", "events.db-shm"]) {
    if (existsSync(join(dataDir, name))) chmodSync(join(dataDir, name), 0o644);
  }
  const s = await startTestServer({}, { dataDir });
  try {
    assert.is(modeOf(join(dataDir, "events.db")), 0o600);
    assert.is(modeOf(join(dataDir, "events.db-wal")), 0o600);
  } finally {
    await s.stop();
  }
});

function exportCli(args: string[], dataDir: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/events/export-cli.ts", ...args], {
      env: { ...process.env, APP_MODE: "development", DATA_DIR: dataDir, LOG_LEVEL: "silent" },
    });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("close", (code) => resolve({ code: code ?? -1, out }));
  });
}

test("an export file holds password hashes: it is written 0600, also over an existing readable file", async () => {
  const dataDir = tempDir();
  const s = await startTestServer({}, { dataDir });
  await s.stop();
  const fresh = join(dataDir, "export.ndjson");
  const r = await exportCli(["--out", fresh], dataDir);
  assert.is(r.code, 0, r.out);
  assert.is(modeOf(fresh), 0o600);
  const existing = join(dataDir, "old-export.ndjson");
  writeFileSync(existing, "stale\n");
  chmodSync(existing, 0o644);
  const again = await exportCli(["--out", existing], dataDir);
  assert.is(again.code, 0, again.out);
  assert.is(modeOf(existing), 0o600);
});

/** a read store whose health probe fails with text that must not reach strangers */
class LeakyReadStore extends MemoryReadStore {
  override async ping(): Promise<void> {
    throw new Error("connect ECONNREFUSED mongodb://orchestrator:hunter2@10.1.2.3:27017");
  }
}

test("/health: anonymous callers and non-admins get status only; an Admin gets the error text", async () => {
  const s = await startTestServer({}, { readStore: new LeakyReadStore() });
  try {
    const anon = await s.call("/health");
    assert.is(anon.status, 503);
    const text = await anon.text();
    assert.not.match(text, "hunter2");
    assert.not.match(text, "10.1.2.3");
    const body = JSON.parse(text) as { status: string; ready: boolean; live: boolean; readPosition: number; checks: Record<string, Record<string, unknown>> };
    assert.is(body.status, "degraded");
    assert.is(body.ready, false);
    assert.is(body.live, true);
    assert.type(body.readPosition, "number");
    assert.is(body.checks.readStore!.status, "down");
    assert.is(body.checks.eventStore!.status, "up");
    for (const check of Object.values(body.checks)) assert.not.ok("error" in check, JSON.stringify(check));

    const viewer = await s.login(...DEMO.viewer);
    assert.not.match(await (await s.call("/health", { token: viewer })).text(), "hunter2");
    // a token that does not verify is just anonymous here, not an error
    assert.is((await s.call("/health", { token: "not-a-jwt" })).status, 503);

    const admin = await s.login(...DEMO.admin);
    const full = (await (await s.call("/health", { token: admin })).json()) as { checks: Record<string, { error?: string }> };
    assert.match(full.checks.readStore!.error ?? "", "ECONNREFUSED");
  } finally {
    await s.stop();
  }
});

test("/metrics is open without METRICS_TOKEN", async () => {
  const s = await startTestServer();
  try {
    const res = await s.call("/metrics");
    assert.is(res.status, 200);
    assert.match(await res.text(), "# HELP");
  } finally {
    await s.stop();
  }
});

test("/metrics with METRICS_TOKEN needs exactly Authorization: Bearer <token>; anything else is a 401 problem", async () => {
  const token = "metrics-" + "x".repeat(24);
  const s = await startTestServer({ METRICS_TOKEN: token });
  try {
    const admin = await s.login(...DEMO.admin);
    const refused: Array<[string, RequestInit & { token?: string }]> = [
      ["/metrics", {}],
      ["/metrics", { token: "metrics-" + "y".repeat(24) }],
      ["/metrics", { token: token.slice(0, -1) }],
      ["/metrics", { token: token + "x" }],
      // a query string ends up in access logs and browser history
      [`/metrics?token=${token}`, {}],
      ["/metrics", { headers: { authorization: `Basic ${Buffer.from(`x:${token}`).toString("base64")}` } }],
      // a user's token is not the scraper's
      ["/metrics", { token: admin }],
    ];
    for (const [path, init] of refused) {
      const res = await s.call(path, init);
      assert.is(res.status, 401, `${path} ${JSON.stringify(init)}`);
      assert.match(res.headers.get("content-type") ?? "", "application/problem+json");
      assert.match(res.headers.get("www-authenticate") ?? "", "Bearer");
      assert.not.match(await res.text(), token);
    }
    const ok = await s.call("/metrics", { token });
    assert.is(ok.status, 200);
    assert.match(await ok.text(), "# HELP");
    // health stays open for load balancers
    assert.is((await s.call("/health")).status, 200);
  } finally {
    await s.stop();
  }
});

test.after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test.run();
