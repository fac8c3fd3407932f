// The real process (src/main.ts): a promise rejected with nobody listening, somewhere in the
// background, is logged and the service keeps serving; Node's default would exit on it.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";

test("an unhandled rejection is logged, the process keeps serving, and SIGTERM still ends it cleanly", async () => {
  const dir = mkdtempSync(join(tmpdir(), "korch-unhandled-"));
  // loaded before main.ts: a stray rejection once the server is up
  const stray = join(dir, "stray.mjs");
  writeFileSync(stray, 'process.once("SIGUSR2", () => void Promise.reject(new Error("stray background failure")));\n');
  const child = spawn(process.execPath, ["--import", "tsx", "--import", stray, "src/main.ts"], {
    cwd: new URL("../..", import.meta.url).pathname,
    env: { ...process.env, APP_MODE: "development", PORT: "0", HOST: "127.0.0.1", DATA_DIR: dir, SIMULATOR: "false", LOG_LEVEL: "silent", RATE_LIMIT_ENABLED: "false" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  try {
    const deadline = Date.now() + 60_000;
    while (!/listening on (http:\/\/\S+)/.test(out)) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`did not start: ${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill("SIGUSR2"); // the preload rejects a promise on this signal
    while (!/unhandled rejection/i.test(out)) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`exited or said nothing on the stray rejection: ${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(out, /stray background failure/);
    const url = /listening on (http:\/\/\S+)/.exec(out)![1]!;
    const health = await fetch(`${url}/health`);
    assert.is(health.status, 200, "still serving");
    child.kill("SIGTERM");
    assert.is(await exited, 0);
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
