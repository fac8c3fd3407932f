// Runs every test file in its own Node process (uvu + tsx), two at a time, and ends with the
// plain "N passed, N failed" line CI reads. A file that crashes or times out counts as a failure,
// and its report says which it was, with the error that ended it (see test-guard.mjs).
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { GUARD_PREFIX } from "./test-guard.mjs";

const root = new URL("..", import.meta.url).pathname;
const only = process.argv.slice(2);
const concurrency = Number(process.env.TEST_CONCURRENCY ?? 2);
const fileTimeoutMs = Number(process.env.TEST_FILE_TIMEOUT_MS ?? 240_000);
const guard = pathToFileURL(join(root, "scripts/test-guard.mjs")).href;
const TAIL_LINES = 80;

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith(".test.ts") ? [p] : [];
  });
}

const files = walk(join(root, "test"))
  .map((f) => relative(root, f))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();

const strip = (s) => s.replace(/\x1b\[[0-9;]*m/g, "");
let passed = 0;
let failed = 0;
let skipped = 0;
const failures = [];

function runFile(file) {
  return new Promise((resolve) => {
    const started = Date.now();
    let timedOut = false;
    const child = spawn(process.execPath, ["--import", "tsx", "--import", guard, file], {
      cwd: root,
      env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0", LOG_LEVEL: process.env.LOG_LEVEL ?? "silent" },
    });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    const timer = setTimeout(() => {
      timedOut = true;
      out += `\n[test runner] ${file} timed out after ${fileTimeoutMs} ms\n`;
      child.kill("SIGKILL");
    }, fileTimeoutMs);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const text = strip(out);
      const total = Number(/Total:\s+(\d+)/.exec(text)?.[1] ?? NaN);
      const ok = Number(/Passed:\s+(\d+)/.exec(text)?.[1] ?? NaN);
      const skip = Number(/Skipped:\s+(\d+)/.exec(text)?.[1] ?? 0);
      let filePassed = 0;
      let fileFailed = 0;
      let reason = "";
      const exit = signal ? `signal ${signal}` : `code ${code}`;
      if (Number.isNaN(total) || Number.isNaN(ok)) {
        fileFailed = 1;
        reason = timedOut
          ? `timed out after ${fileTimeoutMs} ms (TEST_FILE_TIMEOUT_MS)`
          : `ended (${exit}) before uvu printed its totals: it crashed or exited early`;
      } else {
        filePassed = ok;
        // uvu's Total already leaves skipped tests out
        fileFailed = total - ok;
        if (fileFailed) reason = `${fileFailed} of ${total} tests failed`;
        if (code !== 0 && fileFailed === 0) {
          fileFailed = 1;
          reason = timedOut
            ? `every test passed, but the process did not exit within ${fileTimeoutMs} ms (an open handle: server, socket, timer)`
            : `every test passed, but the process ended with ${exit} (an error after the tests)`;
        }
      }
      passed += filePassed;
      failed += fileFailed;
      skipped += skip;
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      console.log(`${fileFailed ? "FAIL" : "ok  "} ${file} (${filePassed} passed, ${fileFailed} failed, ${secs}s)`);
      for (const line of text.split("\n")) if (/SKIPPED/.test(line)) console.log(`     ${line.trim()}`);
      if (fileFailed) failures.push({ file, text, reason });
      resolve();
    });
  });
}

const queue = [...files];
await Promise.all(
  Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
    while (queue.length) await runFile(queue.shift());
  }),
);

for (const f of failures) {
  const lines = f.text.split("\n");
  const tail = lines.slice(-TAIL_LINES);
  // the error that ended a file can be printed far above a long dump; keep it in view
  const guarded = lines.slice(0, -TAIL_LINES).filter((l) => l.includes(GUARD_PREFIX));
  console.log(`\n===== ${f.file}: ${f.reason} =====`);
  if (guarded.length) console.log(`${guarded.join("\n")}\n----- last ${TAIL_LINES} lines of its output -----`);
  console.log(tail.join("\n"));
}
if (skipped) console.log(`(${skipped} skipped)`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
