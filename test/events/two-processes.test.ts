// Two server processes may share one SQLite file: their writes must queue behind each other
// (busy_timeout + BEGIN IMMEDIATE) rather than fail, and the log must stay gap-free.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { SqliteEventStore } from "../../src/events/store/sqlite.js";

const writer = fileURLToPath(new URL("./burst-writer.ts", import.meta.url));
const COUNT = 300;

function run(file: string, name: string, mode: "inline" | "thread"): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", writer, file, name, String(COUNT), mode]);
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("exit", (code) => {
      if (code === 0) resolve((JSON.parse(out) as { acked: number }).acked);
      else reject(new Error(`${name} exited ${code}: ${err}`));
    });
  });
}

test("two processes appending to one file both succeed, and the log stays gap-free", async () => {
  const dir = mkdtempSync(join(tmpdir(), "two-processes-"));
  const file = join(dir, "events.db");
  // a live subscriber in this process must see the other processes' events (by polling)
  const store = new SqliteEventStore({ file, pollIntervalMs: 10 });
  try {
    const seen: number[] = [];
    const sub = store.subscribe({}, (e) => {
      seen.push(e.position);
    });
    // one commits on its own thread (as the server does), the other on the opt-in writer thread
    const [a, b] = await Promise.all([run(file, "alpha", "inline"), run(file, "beta", "thread")]);
    assert.is(a, COUNT);
    assert.is(b, COUNT);
    const events = await store.readAll();
    assert.equal(
      events.map((e) => e.position),
      events.map((_, i) => i + 1),
    );
    assert.is(events.length, 2 * COUNT);
    const perStream = new Map<string, number[]>();
    for (const e of events) perStream.set(e.streamId, [...(perStream.get(e.streamId) ?? []), e.revision]);
    for (const [stream, revs] of perStream) assert.equal(revs, revs.map((_, i) => i), `revisions of ${stream}`);
    const deadline = Date.now() + 10_000;
    while (seen.length < 2 * COUNT && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await sub.stop();
    assert.equal(seen, events.map((e) => e.position));
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
