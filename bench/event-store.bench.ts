// Event store throughput, each figure beside its baseline in the same run: single-event commits
// from 64 concurrent writers (group commit) against raw better-sqlite3 doing one INSERT per
// transaction; 100-event batches against raw batched INSERTs of the same rows; both against a peer,
// @event-driven-io/emmett-sqlite, installed into bench/peer/ (never a dependency of ours). Every
// pair runs back to back, BENCH_REPEATS times, each on a fresh file: this machine is shared and
// noisy, so figures are medians with their range, and ratios are taken within a repetition.
// Then reading all and a catch-up subscription. BENCH_SECONDS sets each measurement's length.
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { monitorEventLoopDelay } from "node:perf_hooks";
import Database from "better-sqlite3";
import type { NewEvent } from "../src/events/envelope.js";
import { SqliteEventStore, type SqliteSynchronous } from "../src/events/store/sqlite.js";
import { emit } from "./emit.js";
import { QUICK, sized } from "./quick.js";

const SECONDS_PER_FIGURE = sized("BENCH_SECONDS", 2, 0.5);
const REPEATS = Math.max(1, sized("BENCH_REPEATS", 3, 1));
const STREAMS = 100;
const BATCH = 100;
const WRITERS = 64;

const dir = mkdtempSync(join(tmpdir(), "bench-event-store-"));
const peerDir = fileURLToPath(new URL("./peer/", import.meta.url));
let files = 0;
const freshFile = (label: string) => join(dir, `${label}-${files++}.db`);

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
const batchOf = (size: number) => Array.from({ length: size }, (_, k) => event(k));

interface Rate {
  perSecond: number;
  events: number;
  errors: number;
  /** event-loop delay p99 during the run, ms: how long other work (requests, SSE) would wait */
  loopDelayP99Ms?: number;
}

/**
 * `writers` closed loops each run `op` (which handles `perOp` events) until SECONDS_PER_FIGURE
 * has passed; returns events per second. A failed op is counted, not timed as success.
 */
async function rate(op: (writer: number, i: number) => Promise<unknown> | unknown, perOp: number, writers = 1): Promise<Rate> {
  const start = performance.now();
  const until = start + SECONDS_PER_FIGURE * 1000;
  let done = 0;
  let errors = 0;
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      for (let i = 0; performance.now() < until; i++) {
        try {
          await op(w, i);
          done++;
        } catch {
          errors++;
        }
      }
    }),
  );
  const secs = (performance.now() - start) / 1000;
  return { perSecond: (done * perOp) / secs, events: done * perOp, errors };
}

// --- raw better-sqlite3: the floor for the same rows in the same table ------------------------

/** The adapter's table and indexes, so the raw figure pays the same index maintenance. */
const SCHEMA = `
CREATE TABLE events (
  position INTEGER PRIMARY KEY, stream_id TEXT NOT NULL, revision INTEGER NOT NULL, event_id TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL, data TEXT NOT NULL, metadata TEXT NOT NULL, occurred_at TEXT NOT NULL, UNIQUE (stream_id, revision)
);
CREATE INDEX events_type ON events (type, position);
`;

/** Raw inserts, FULL, WAL: `size` rows per transaction, the JSON serialized the same way. */
async function raw(size: number): Promise<Rate> {
  const db = new Database(freshFile(`raw-${size}`));
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.exec(SCHEMA);
  const insert = db.prepare("INSERT INTO events (stream_id, revision, event_id, type, data, metadata, occurred_at) VALUES (?, ?, ?, ?, ?, ?, ?)");
  const revisions = new Map<string, number>();
  const write = (stream: string, events: NewEvent[]) => {
    let r = revisions.get(stream) ?? -1;
    for (const e of events) insert.run(stream, ++r, e.metadata.eventId, e.type, JSON.stringify(e.data), JSON.stringify(e.metadata), e.metadata.occurredAt);
    revisions.set(stream, r);
  };
  const inTransaction = db.transaction(write).immediate;
  // one row in autocommit is one transaction; more share an explicit one
  const r = await rate((_, i) => (size === 1 ? write : inTransaction)(`deployment-${i % STREAMS}`, batchOf(size)), size);
  db.close();
  return r;
}

// --- ours ---------------------------------------------------------------------------------------

async function ours(synchronous: SqliteSynchronous, size: number, writers: number, writer: "inline" | "thread" = "inline"): Promise<Rate & { store: SqliteEventStore }> {
  const store = new SqliteEventStore({ file: freshFile(`ours-${synchronous}-${size}-${writers}-${writer}`), synchronous, writer });
  // the writer thread (if any) has started and the file is warm before the clock starts
  await store.append("warm-up", [event(0)], "any");
  // with several writers each has its own stream and appends with the exact expected revision
  const revisions = new Array<number | "no_stream">(writers).fill("no_stream");
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const r = await rate(
    async (w, i) => {
      if (writers === 1) return store.append(`deployment-${i % STREAMS}`, batchOf(size), "any");
      const result = await store.append(`deployment-${w}`, batchOf(size), revisions[w]!);
      revisions[w] = result.nextRevision;
    },
    size,
    writers,
  );
  delay.disable();
  // no sample at all: the loop never got a turn while the appends ran (appends that complete
  // synchronously), so other work would have waited the whole run
  return { store, ...r, loopDelayP99Ms: delay.count === 0 ? SECONDS_PER_FIGURE * 1000 : delay.percentile(99) / 1e6 };
}

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
const peerConditions = {
  peer: "@event-driven-io/emmett-sqlite 0.38.5 (sqlite3 driver, WAL, default synchronous, opens a connection per call)",
};
const plain = (e: NewEvent) => ({ type: e.type, data: e.data as Record<string, unknown>, metadata: e.metadata });

/**
 * emmett-sqlite 0.38.5 now and then fails a commit with "SQLITE_BUSY: cannot commit transaction -
 * SQL statements in progress" (its connection per call closes asynchronously); such appends are
 * counted as errors, not as throughput.
 */
async function peerRate(size: number): Promise<Rate> {
  const es = peer!.getSQLiteEventStore({ fileName: freshFile(`peer-${size}`) });
  // it also console.logs each such error, which would break this bench's JSON lines on stdout
  const log = console.log;
  console.log = () => {};
  try {
    return await rate((_, i) => es.appendToStream(`deployment-${i % STREAMS}`, batchOf(size).map(plain)), size);
  } finally {
    console.log = log;
  }
}

// --- the runs -------------------------------------------------------------------------------

const runs = {
  rawSingle: [] as Rate[],
  group: [] as Rate[],
  groupThread: [] as Rate[],
  single: [] as Rate[],
  rawBatch: [] as Rate[],
  batch: [] as Rate[],
  peerSingle: [] as Rate[],
  peerBatch: [] as Rate[],
};
let lastBatchStore: SqliteEventStore | undefined;
for (let rep = 0; rep < REPEATS; rep++) {
  runs.rawSingle.push(await raw(1));
  const group = await ours("FULL", 1, WRITERS);
  await group.store.close();
  runs.group.push(group);
  const groupThread = await ours("FULL", 1, WRITERS, "thread");
  await groupThread.store.close();
  runs.groupThread.push(groupThread);
  const single = await ours("FULL", 1, 1);
  await single.store.close();
  runs.single.push(single);
  runs.rawBatch.push(await raw(BATCH));
  const batch = await ours("FULL", BATCH, 1);
  if (lastBatchStore) await lastBatchStore.close();
  lastBatchStore = batch.store;
  runs.batch.push(batch);
  if (peer) {
    runs.peerSingle.push(await peerRate(1));
    runs.peerBatch.push(await peerRate(BATCH));
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const round = (x: number) => Number(x.toFixed(x < 10 ? 3 : 0));
const spread = (xs: number[]) => ({ runs: xs.map(round), min: round(Math.min(...xs)), max: round(Math.max(...xs)) });

function figure(name: string, rs: Rate[], conditions: Record<string, unknown>): void {
  const errors = rs.reduce((n, r) => n + r.errors, 0);
  const delays = rs.flatMap((r) => (r.loopDelayP99Ms === undefined ? [] : [r.loopDelayP99Ms]));
  emit(name, median(rs.map((r) => r.perSecond)), "events/s", {
    ...conditions,
    ...spread(rs.map((r) => r.perSecond)),
    repeats: rs.length,
    secondsEach: SECONDS_PER_FIGURE,
    ...(errors && { failedAppends: errors }),
    ...(delays.length && { eventLoopDelayP99Ms: round(median(delays)) }),
  });
}

/** The median of per-repetition ratios: each compares two runs made back to back. */
function ratio(name: string, num: Rate[], den: Rate[], unit: string, conditions: Record<string, unknown>): void {
  const rs = num.map((n, i) => n.perSecond / den[i]!.perSecond);
  const value = median(rs);
  process.stdout.write(
    JSON.stringify({ name, value: Number(value.toFixed(3)), unit, conditions: { node: process.version, ...(QUICK && { quick: true }), ...conditions, ...spread(rs) }, ratio: Number(value.toFixed(3)) }) + "\n",
  );
}

const full = { synchronous: "FULL", journal: "WAL" };
figure("event-store.raw.commit.single", runs.rawSingle, { ...full, what: "raw better-sqlite3: one INSERT per transaction (autocommit), same table and indexes, same rows serialized the same way" });
figure("event-store.sqlite.append.group", runs.group, { ...full, writers: WRITERS, what: "single-event appends, each writer to its own stream with its exact expected revision; concurrent appends share one transaction and fsync (group commit)" });
ratio("event-store.sqlite.append.group.vs-raw", runs.group, runs.rawSingle, "ratio ours (64 writers) / raw single-transaction commits", { ...full, target: ">= 2" });
figure("event-store.sqlite.append.group.writer-thread", runs.groupThread, { ...full, writers: WRITERS, what: "the same with writer: \"thread\": commits (and their fsync) on a worker thread, the event loop free meanwhile" });
ratio("event-store.sqlite.append.group.writer-thread.vs-raw", runs.groupThread, runs.rawSingle, "ratio ours (64 writers, writer thread) / raw single-transaction commits", full);
figure("event-store.sqlite.append.single", runs.single, { ...full, writers: 1, streams: STREAMS, what: "one writer, one event per append, awaited: a lone commit's latency bounds it" });
figure("event-store.raw.commit.batch", runs.rawBatch, { ...full, batchSize: BATCH, what: "raw better-sqlite3: 100 INSERTs in one BEGIN IMMEDIATE transaction, same table, same rows" });
figure("event-store.sqlite.append.batch", runs.batch, { ...full, batchSize: BATCH, streams: STREAMS, expected: "any" });
ratio("event-store.sqlite.append.batch.vs-raw", runs.batch, runs.rawBatch, "ratio ours / raw batched inserts", { ...full, batchSize: BATCH, target: ">= 0.6" });
if (peer) {
  figure("event-store.peer.emmett-sqlite.append.single", runs.peerSingle, { ...peerConditions, batchSize: 1 });
  figure("event-store.peer.emmett-sqlite.append.batch", runs.peerBatch, { ...peerConditions, batchSize: BATCH });
  ratio("event-store.sqlite.vs-peer.append.single", runs.group, runs.peerSingle, "ratio ours (64 writers, group commit) / peer (one writer)", { ours: "synchronous=FULL", ...peerConditions });
  ratio("event-store.sqlite.vs-peer.append.batch", runs.batch, runs.peerBatch, "ratio ours / peer", { ours: "synchronous=FULL", ...peerConditions, target: ">= 1.5" });
} else {
  process.stdout.write(JSON.stringify({ name: "event-store.peer.emmett-sqlite", skipped: true, reason: peerProblem }) + "\n");
}

const singleNormal = await ours("NORMAL", 1, 1);
await singleNormal.store.close();
emit("event-store.sqlite.append.single", singleNormal.perSecond, "events/s", { synchronous: "NORMAL", writers: 1, streams: STREAMS, events: singleNormal.events });
emit("event-store.sqlite.append.single.full-cost", singleNormal.perSecond / runs.single.at(-1)!.perSecond, "ratio NORMAL/FULL", {
  meaning: "how many times faster single appends are when an acknowledged append may be lost on power failure",
});

// reads use the log the last batch run left behind
const store = lastBatchStore!;
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
rmSync(dir, { recursive: true, force: true });
// the peer's connections close asynchronously and may keep the loop alive
process.exit(0);
