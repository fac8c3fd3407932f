// Event store throughput: appends (single, with synchronous FULL and NORMAL, and 100-event
// batches), reading all, and a subscription catching up; then the same appends on a peer,
// @event-driven-io/emmett-sqlite, installed into bench/peer/ (never a dependency of ours).
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { NewEvent } from "../src/events/envelope.js";
import { SqliteEventStore, type SqliteSynchronous } from "../src/events/store/sqlite.js";
import { emit } from "./emit.js";

const SECONDS_PER_FIGURE = Number(process.env.BENCH_SECONDS ?? 3);
const STREAMS = 100;
const BATCH = 100;

const dir = mkdtempSync(join(tmpdir(), "bench-event-store-"));
const peerDir = fileURLToPath(new URL("./peer/", import.meta.url));

function event(i: number): NewEvent {
  return {
    type: "NodeUpdated",
    data: { nodeId: `node-${i % 20}`, version: "1.2.3", i },
    metadata: {
      eventId: randomUUID(),
      occurredAt: new Date().toISOString(),
      actor: { kind: "system", id: "bench" },
      correlationId: "bench",
      causationId: "bench",
      schemaVersion: 1,
      tenantId: "default",
    },
  };
}

/** Runs `op` (which handles `perOp` events) for about SECONDS_PER_FIGURE; returns events per second. */
async function rate(op: (i: number) => Promise<unknown>, perOp: number): Promise<{ perSecond: number; events: number }> {
  const until = performance.now() + SECONDS_PER_FIGURE * 1000;
  const start = performance.now();
  let i = 0;
  while (performance.now() < until) await op(i++);
  const secs = (performance.now() - start) / 1000;
  return { perSecond: (i * perOp) / secs, events: i * perOp };
}

async function ours(synchronous: SqliteSynchronous, file: string, size: number) {
  const store = new SqliteEventStore({ file: join(dir, file), synchronous });
  const r = await rate((i) => store.append(`deployment-${i % STREAMS}`, Array.from({ length: size }, (_, k) => event(k)), "any"), size);
  return { store, ...r };
}

const single = await ours("FULL", "single-full.db", 1);
await single.store.close();
emit("event-store.sqlite.append.single", single.perSecond, "events/s", { synchronous: "FULL", streams: STREAMS, events: single.events });

const singleNormal = await ours("NORMAL", "single-normal.db", 1);
await singleNormal.store.close();
emit("event-store.sqlite.append.single", singleNormal.perSecond, "events/s", { synchronous: "NORMAL", streams: STREAMS, events: singleNormal.events });
emit("event-store.sqlite.append.single.full-cost", singleNormal.perSecond / single.perSecond, "ratio NORMAL/FULL", {
  meaning: "how many times faster single appends are when an acknowledged append may be lost on power failure",
});

const batch = await ours("FULL", "batch.db", BATCH);
emit("event-store.sqlite.append.batch", batch.perSecond, "events/s", { synchronous: "FULL", batchSize: BATCH, events: batch.events });

// reads use the log the batch run left behind
const store = batch.store;
const head = await store.headPosition();
{
  const start = performance.now();
  let after = 0;
  let read = 0;
  for (;;) {
    const page = await store.readAll({ after, maxCount: 1000 });
    if (page.length === 0) break;
    read += page.length;
    after = page[page.length - 1]!.position;
  }
  emit("event-store.sqlite.read-all", read / ((performance.now() - start) / 1000), "events/s", { events: read, pageSize: 1000 });
}
{
  const start = performance.now();
  let seen = 0;
  let reachedHead!: () => void;
  const caughtUp = new Promise<void>((r) => (reachedHead = r));
  const sub = store.subscribe({}, (e) => {
    seen++;
    if (e.position === head) reachedHead();
  });
  await caughtUp;
  const secs = (performance.now() - start) / 1000;
  await sub.stop();
  emit("event-store.sqlite.subscription.catch-up", seen / secs, "events/s", { events: seen });
}
await store.close();

// --- the peer -------------------------------------------------------------------------------

/** The part of emmett-sqlite's API this bench calls (its types live in bench/peer, outside our tsconfig's view). */
interface PeerEventStore {
  appendToStream(streamName: string, events: { type: string; data: Record<string, unknown>; metadata?: Record<string, unknown> }[]): Promise<unknown>;
}
interface PeerModule {
  getSQLiteEventStore(options: { fileName: string }): PeerEventStore;
}

function ensurePeerInstalled(): string | undefined {
  if (existsSync(join(peerDir, "node_modules/@event-driven-io/emmett-sqlite"))) return undefined;
  process.stderr.write("installing the peer benchmark's own packages into bench/peer (once)...\n");
  const r = spawnSync("npm", ["install", "--prefix", peerDir, "--no-audit", "--no-fund"], {
    stdio: ["ignore", "pipe", "pipe"],
    encoding: "utf8",
    timeout: 15 * 60_000,
  });
  if (r.status === 0) return undefined;
  const why = r.error?.message ?? (r.stderr || r.stdout || `exit ${r.status}`);
  return why.trim().split("\n").slice(-5).join(" | ");
}

const installProblem = ensurePeerInstalled();
let peer: PeerModule | undefined;
let peerProblem = installProblem;
if (!installProblem) {
  try {
    const entry = join(peerDir, "node_modules/@event-driven-io/emmett-sqlite/dist/index.js");
    peer = (await import(pathToFileURL(entry).href)) as PeerModule;
  } catch (err) {
    peerProblem = `import failed: ${(err as Error).message}`;
  }
}

if (!peer) {
  process.stdout.write(JSON.stringify({ name: "event-store.peer.emmett-sqlite", skipped: true, reason: peerProblem }) + "\n");
} else {
  const peerConditions = {
    peer: "@event-driven-io/emmett-sqlite 0.38.5 (sqlite3 driver, WAL, default synchronous, opens a connection per call)",
  };
  const plain = (e: NewEvent) => ({ type: e.type, data: e.data as Record<string, unknown>, metadata: e.metadata });
  for (const [label, size, ourRate] of [
    ["single", 1, single.perSecond],
    ["batch", BATCH, batch.perSecond],
  ] as const) {
    const es = peer.getSQLiteEventStore({ fileName: join(dir, `peer-${label}.db`) });
    const r = await rate((i) => es.appendToStream(`deployment-${i % STREAMS}`, Array.from({ length: size }, (_, k) => plain(event(k)))), size);
    emit(`event-store.peer.emmett-sqlite.append.${label}`, r.perSecond, "events/s", { ...peerConditions, batchSize: size, events: r.events });
    emit(`event-store.sqlite.vs-peer.append.${label}`, ourRate / r.perSecond, "ratio ours/peer", {
      ours: "synchronous=FULL",
      ...peerConditions,
    });
  }
}

rmSync(dir, { recursive: true, force: true });
