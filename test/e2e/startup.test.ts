// A start that fails leaves nothing behind, and a start in progress holds its port and says so.
import { mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { SqliteEventStore } from "../../src/events/store/sqlite.js";
import { aroundReadStore } from "../../src/projections/store/around.js";
import { MemoryReadStore } from "../../src/projections/store/memory.js";
import { StartupRefusedError } from "../../src/server.js";
import { startTestServer } from "../helpers/server.js";

async function occupiedPort(): Promise<{ port: number; holder: Server }> {
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
  return { port: (holder.address() as { port: number }).port, holder };
}

async function freePort(): Promise<number> {
  const { port, holder } = await occupiedPort();
  await new Promise<void>((resolve) => holder.close(() => resolve()));
  return port;
}

/** files under `dir` this process holds open (Linux: /proc/self/fd) */
function openFilesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(dir)) out.push(target);
    } catch {
      // closed between the listing and the look
    }
  }
  return out;
}

async function headOf(dataDir: string): Promise<number> {
  const store = new SqliteEventStore({ file: join(dataDir, "events.db"), synchronous: "NORMAL" });
  try {
    return await store.headPosition();
  } finally {
    await store.close();
  }
}

test("a port in use refuses the start with what to do, before anything is written to the log", async () => {
  const { port, holder } = await occupiedPort();
  const dataDir = mkdtempSync(join(tmpdir(), "korch-startup-"));
  try {
    // development mode seeds the demo users: written before the listen, they were a start's side effect
    const err = await startTestServer({ PORT: String(port) }, { dataDir }).then(
      () => assert.unreachable("started on a port in use"),
      (e: unknown) => e,
    );
    assert.instance(err, StartupRefusedError);
    assert.match((err as Error).message, /EADDRINUSE/);
    assert.match((err as Error).message, /PORT/);
    assert.equal(await headOf(dataDir), 0);
  } finally {
    holder.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test("a start that fails half way closes what it opened: no file of the data dir stays open, and the port is free again", async () => {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), "korch-startup-"));
  // the artifact directory cannot be made: after the event store, its threads, the projections,
  // the live feed and the secrets have started
  writeFileSync(join(dataDir, "artifacts"), "not a directory");
  try {
    await startTestServer({ PORT: String(port) }, { dataDir }).then(
      () => assert.unreachable("started without its artifact store"),
      (e: unknown) => assert.match(String(e), /artifacts/),
    );
    assert.equal(openFilesUnder(dataDir), []);
    rmSync(join(dataDir, "artifacts"));
    const again = await startTestServer({ PORT: String(port) }, { dataDir });
    await again.stop();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test("while it starts, the server holds its port and answers 503 problem+json; then it serves", async () => {
  const port = await freePort();
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let waiting!: () => void;
  const reached = new Promise<void>((resolve) => (waiting = resolve));
  const slow = aroundReadStore(new MemoryReadStore(), async (call, run) => {
    if (call.op === "ensureIndex") {
      waiting();
      await released;
    }
    return run();
  });
  const starting = startTestServer({ PORT: String(port) }, { readStore: slow });
  await reached;
  const early = await fetch(`http://127.0.0.1:${port}/health`);
  assert.is(early.status, 503);
  assert.is(early.headers.get("content-type"), "application/problem+json");
  assert.is(early.headers.get("retry-after"), "1");
  assert.is(((await early.json()) as { status: number }).status, 503);
  release();
  const server = await starting;
  try {
    const ready = await fetch(`${server.url}/health`);
    assert.is(ready.status, 200);
    await ready.body?.cancel();
  } finally {
    await server.stop();
  }
});

test.run();
