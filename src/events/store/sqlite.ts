import { chmodSync, closeSync, openSync } from "node:fs";
import { Worker } from "node:worker_threads";
import Database from "better-sqlite3";
import type { NewEvent, RecordedEvent } from "../envelope.js";
import {
  type AppendResult,
  type EventFilter,
  type EventStore,
  type ExpectedRevision,
  type ReadAllOptions,
  type ReadStreamOptions,
  type SubscribeOptions,
  type Subscription,
  type SubscriptionControl,
  type SubscriptionHandler,
} from "./port.js";
import { HandlerCall } from "./handler-call.js";
import { CommitTail, tailMatch, toRecorded, type EventRow, type TailLimits, type TailMatch } from "./commit-tail.js";
import { FALLBACK_AUTOCHECKPOINT_PAGES, WalCheckpointer } from "./sqlite-checkpointer.js";
import { outcomeError, SqliteWriter, type AppendRequest, type EventRowInput, type FromWriter, type Outcome, type ToWriter, type WriterThreadData } from "./sqlite-writer.js";

export type SqliteSynchronous = "FULL" | "NORMAL" | "EXTRA" | "OFF";

export interface SqliteEventStoreOptions {
  file: string;
  /** FULL (default): an acknowledged append survives power loss. NORMAL may lose the last ones. */
  synchronous?: SqliteSynchronous;
  /** how often a live subscription looks for appends made by another process on the same file */
  pollIntervalMs?: number;
  /** how long a writer waits for another process's write lock before failing */
  busyTimeoutMs?: number;
  /**
   * Most appends one group commit (one transaction, one fsync) takes; the rest wait for the
   * next. Bounds how long the write lock is held and how late the first caller hears back.
   */
  maxGroupAppends?: number;
  /**
   * "inline" (default): commits run on this thread, so with FULL each group's fsync pauses the
   * event loop. "thread": on a connection of their own in a worker thread; the loop goes on
   * serving meanwhile and what it appends forms the next group. Measured (docs/benchmarks.md):
   * the thread halves event-loop delay p99 under a write flood, but while the loop is busy with
   * other work it costs commands/s (smaller groups, a thread more on two cores), so the server
   * stays inline for now. Always inline for ":memory:".
   */
  writer?: "thread" | "inline";
  /**
   * WAL checkpoints on a thread of their own (sqlite-checkpointer.ts) rather than inside the commit
   * that crossed the threshold, on this thread. Default: with NORMAL or OFF, where commits do not
   * sync and the checkpoint is the loop's one wait on the disk (canary x0.84-0.93 wall, commands/s
   * x1.08 measured); not with FULL or EXTRA, where every commit syncs anyway and the thread's syncs
   * queued behind or ahead of them cost commands/s (x0.92 measured).
   */
  checkpointer?: boolean;
  /** bounds of the in-memory tail of this store's own commits (commit-tail.ts); tests make it small */
  commitTail?: TailLimits;
}

const syncsEveryCommit = (synchronous: SqliteSynchronous) => synchronous === "FULL" || synchronous === "EXTRA";

/** One caller's append waiting for its group's transaction. */
interface PendingAppend {
  request: AppendRequest;
  resolve: (result: AppendResult) => void;
  reject: (error: unknown) => void;
}

/** A group also stops growing at this many events, so one huge batch does not drag others along. */
const MAX_GROUP_EVENTS = 10_000;
/** Writer threads that die in a row before the store commits on its own thread instead. */
const MAX_WRITER_RESTARTS = 3;

/**
 * Starts the writer thread's module. From TypeScript sources (development, tests) the thread
 * must register tsx itself: loader hooks of the main thread do not reach workers.
 */
const WRITER_BOOTSTRAP = `
const { workerData } = require("node:worker_threads");
(async () => {
  if (workerData.tsxApi) (await import(workerData.tsxApi)).register();
  await import(workerData.entry);
})().catch((err) => setImmediate(() => { throw err; }));
`;

/** Where the writer thread's module is, or why there is none (then commits run inline). */
function writerEntry(): { entry: string; tsxApi?: string } | { unavailable: string } {
  const here = import.meta.url;
  if (!here.endsWith(".ts")) return { entry: new URL("./sqlite-writer-thread.js", here).href };
  try {
    return { entry: new URL("./sqlite-writer-thread.ts", here).href, tsxApi: import.meta.resolve("tsx/esm/api") };
  } catch (err) {
    return { unavailable: `running from TypeScript without tsx's API: ${(err as Error).message}` };
  }
}

function toRow(e: NewEvent): EventRowInput {
  return {
    eventId: e.metadata.eventId,
    type: e.type,
    data: JSON.stringify(e.data),
    metadata: JSON.stringify(e.metadata),
    occurredAt: canonicalTime(e.metadata.occurredAt),
  };
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  position    INTEGER PRIMARY KEY,
  stream_id   TEXT    NOT NULL,
  revision    INTEGER NOT NULL,
  event_id    TEXT    NOT NULL UNIQUE,
  type        TEXT    NOT NULL,
  data        TEXT    NOT NULL,
  metadata    TEXT    NOT NULL,
  occurred_at TEXT    NOT NULL,
  UNIQUE (stream_id, revision)
);
CREATE INDEX IF NOT EXISTS events_type ON events (type, position);
`;

const SUBSCRIPTION_PAGE = 256;

/**
 * The log holds password hashes and client addresses, so the file and its WAL and shared memory
 * are owner-only. The database is created 0600 before SQLite opens it (SQLite would make it 0644
 * less the umask, and its WAL and -shm take the database's mode); existing files from older
 * versions are tightened too. chmod is not subject to the umask.
 */
function createPrivate(file: string): void {
  if (file === ":memory:" || file === "") return;
  closeSync(openSync(file, "a", 0o600));
  chmodPrivate(file);
}

function tightenSidecars(file: string): void {
  for (const suffix of ["-wal", "-shm"]) chmodPrivate(file + suffix);
}

/** A file that is missing, or shared with us by another owner (EPERM), is left as it is. */
function chmodPrivate(path: string): void {
  try {
    chmodSync(path, 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "ENOENT" && code !== "EPERM") throw err;
  }
}

/** ISO times are compared as text, so both sides are normalised to one exact format first. */
function canonicalTime(iso: string): string {
  // the events of one append (a step's hundred, a batch) mostly share one time: worked out once
  if (iso === lastTime.iso) return lastTime.canonical;
  const t = Date.parse(iso);
  if (Number.isNaN(t)) throw new Error(`not an ISO time: ${iso}`);
  const canonical = new Date(t).toISOString();
  lastTime.iso = iso;
  lastTime.canonical = canonical;
  return canonical;
}
const lastTime: { iso: string | undefined; canonical: string } = { iso: undefined, canonical: "" };

/** The WHERE clause of a filter, so SQLite rather than JS skips the events nobody asked for. */
function filterSql(filter: EventFilter | undefined, params: unknown[]): string {
  const clauses: string[] = [];
  if (filter?.streamPrefixes) {
    if (filter.streamPrefixes.length === 0) clauses.push("0");
    else {
      // substr counts code points, like [...prefix].length; startsWith semantics otherwise
      clauses.push("(" + filter.streamPrefixes.map(() => "substr(stream_id, 1, ?) = ?").join(" OR ") + ")");
      for (const p of filter.streamPrefixes) params.push([...p].length, p);
    }
  }
  if (filter?.eventTypes) {
    if (filter.eventTypes.length === 0) clauses.push("0");
    else {
      clauses.push(`type IN (${filter.eventTypes.map(() => "?").join(", ")})`);
      params.push(...filter.eventTypes);
    }
  }
  return clauses.map((c) => ` AND ${c}`).join("");
}

/**
 * The embedded event store: one SQLite file in WAL mode. Positions are the table's rowid, so
 * they start at 1 and, because rows are never deleted and a rolled-back insert frees its rowid,
 * stay gap-free. SQLite has a single writer, so position order is commit order and a reader that
 * asks for "everything after p" can never miss an event committed later with a smaller position.
 */
export class SqliteEventStore implements EventStore {
  readonly kind = "sqlite";
  private readonly db: Database.Database;
  private readonly pollIntervalMs: number;
  private readonly statements = new Map<string, Database.Statement>();
  /** woken on every append in this process; other processes are noticed by polling */
  private waiters = new Set<() => void>();
  private readonly subscriptions = new Set<{ stop(): Promise<void> }>();
  private readonly file: string;
  private readonly synchronous: SqliteSynchronous;
  private readonly busyTimeoutMs: number;
  private readonly maxGroupAppends: number;
  /** appends accepted but not yet sent to a transaction, in call order */
  private queue: PendingAppend[] = [];
  private flushScheduled = false;
  private mode: "thread" | "inline";
  /** why commits run inline although a thread was asked for (diagnostics) */
  writerThreadUnavailable: string | undefined;
  private inlineWriter: SqliteWriter | undefined;
  private thread: { worker: Worker; ready: boolean } | undefined;
  private writerRestarts = 0;
  /** the group the writer thread is committing: one at a time, so call order is commit order */
  private inFlight: { id: number; group: PendingAppend[] } | undefined;
  private nextGroupId = 1;
  private drained: (() => void)[] = [];
  /** checkpoints the WAL off the event loop (sqlite-checkpointer.ts); none for an in-memory database */
  checkpointer: WalCheckpointer | undefined;
  private closed = false;
  private dbClosed = false;
  /**
   * What this store committed lately, parsed once and shared by every reader of those positions
   * (subscriptions, readAll) instead of each reading the rows back from SQLite (commit-tail.ts).
   */
  private readonly tail: CommitTail;

  constructor(options: SqliteEventStoreOptions) {
    const synchronous = options.synchronous ?? "FULL";
    if (!["FULL", "NORMAL", "EXTRA", "OFF"].includes(synchronous)) throw new Error(`bad synchronous mode ${synchronous}`);
    this.pollIntervalMs = options.pollIntervalMs ?? 100;
    createPrivate(options.file);
    this.db = new Database(options.file, { timeout: options.busyTimeoutMs ?? 10_000 });
    this.db.pragma("journal_mode = WAL");
    this.db.pragma(`synchronous = ${synchronous}`);
    this.db.exec(SCHEMA);
    tightenSidecars(options.file);
    this.file = options.file;
    this.synchronous = synchronous;
    this.busyTimeoutMs = options.busyTimeoutMs ?? 10_000;
    this.mode = options.writer === "thread" && options.file !== ":memory:" && options.file !== "" ? "thread" : "inline";
    // started now, so that it is ready (its module loaded, its connection open) by the first append
    if (this.mode === "thread") this.startThread();
    if (options.file !== ":memory:" && options.file !== "" && (options.checkpointer ?? !syncsEveryCommit(synchronous))) {
      this.checkpointer = new WalCheckpointer({ file: options.file, synchronous, busyTimeoutMs: this.busyTimeoutMs }, () => {
        this.checkpointer = undefined;
        if (!this.dbClosed) this.db.pragma("wal_autocheckpoint = 1000");
      });
      this.db.pragma(`wal_autocheckpoint = ${FALLBACK_AUTOCHECKPOINT_PAGES}`);
    }
    this.maxGroupAppends = Math.max(1, options.maxGroupAppends ?? 256);
    this.tail = new CommitTail(options.commitTail);
  }

  private stmt(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  /**
   * Group commit: appends made while the previous group commits (or, when none is in flight, in
   * the same turn of the event loop) share one transaction and one fsync. Each append still runs
   * its own checks, in order, in its own SAVEPOINT, and its caller gets exactly its own result or
   * error; a conflict of one never fails the others. Call order is commit order.
   */
  append(streamId: string, events: NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    if (this.dbClosed) return Promise.reject(new Error("the event store is closed"));
    let rows: EventRowInput[];
    try {
      // serialized here, so a value JSON cannot hold or a bad time fails its own caller only
      rows = events.map(toRow);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<AppendResult>((resolve, reject) => {
      this.queue.push({ request: { streamId, expected, rows }, resolve, reject });
      this.scheduleFlush();
    });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.inFlight) return;
    this.flushScheduled = true;
    // setImmediate runs after the I/O callbacks of this loop turn: every request read from a
    // socket in the meantime has reached its append by then (the path to it is synchronous work
    // and microtasks), so a group forms without a timer and without delaying a lone append
    setImmediate(this.flushQueued);
  }

  private readonly flushQueued = (): void => {
    this.flushScheduled = false;
    if (this.dbClosed) {
      // accepted too late for close() to wait for it: refused, never written after close
      const late = this.queue;
      this.queue = [];
      for (const p of late) p.reject(new Error("the event store is closed"));
      return;
    }
    if (this.inFlight || this.queue.length === 0) return;
    if (this.mode === "inline") {
      const group = this.takeGroup();
      this.inlineWriter ??= new SqliteWriter(this.db);
      this.settle(group, this.inlineWriter.commit(group.map((p) => p.request)));
      return;
    }
    const thread = this.thread ?? this.startThread();
    if (!thread) return this.flushQueued(); // fell back to inline
    // appends waiting or in flight keep the process alive; an idle writer does not
    thread.worker.ref();
    if (!thread.ready) return; // flushed when it says it is ready
    const group = this.takeGroup();
    this.inFlight = { id: this.nextGroupId++, group };
    thread.worker.postMessage({ kind: "commit", id: this.inFlight.id, group: group.map((p) => p.request) } satisfies ToWriter);
  };

  private takeGroup(): PendingAppend[] {
    let take = 0;
    let events = 0;
    while (take < this.queue.length && take < this.maxGroupAppends && (take === 0 || events + this.queue[take]!.request.rows.length <= MAX_GROUP_EVENTS)) {
      events += this.queue[take]!.request.rows.length;
      take++;
    }
    const group = this.queue.length === take ? this.queue : this.queue.slice(0, take);
    this.queue = this.queue.length === take ? [] : this.queue.slice(take);
    return group;
  }

  /** Answers each caller of a committed group, then sends the next group, or reports the queue drained. */
  private settle(group: PendingAppend[], outcomes: Outcome[]): void {
    // into the tail before any subscriber wakes: one woken by this commit finds it there
    this.remember(group, outcomes);
    this.wakeSubscribers();
    let bytes = 0;
    for (let i = 0; i < group.length; i++) {
      const o = outcomes[i]!;
      if (o.ok) {
        group[i]!.resolve(o.result);
        for (const row of group[i]!.request.rows) bytes += row.data.length + row.metadata.length;
      } else group[i]!.reject(outcomeError(o));
    }
    this.checkpointer?.appended(bytes);
    this.afterGroup();
  }

  /** Keeps the events a group wrote in the tail, at the positions and revisions their commit gave them. */
  private remember(group: PendingAppend[], outcomes: Outcome[]): void {
    // Only while someone follows the log (a server always has its projections' and live feed's
    // subscriptions): kept for nobody, the events outlive young-generation GC and are copied and
    // promoted for nothing (appends alone cost ~5 % more CPU measured). The tail starts over at
    // the first commit after a subscription starts.
    if (this.subscriptions.size === 0) {
      if (this.tail.end !== undefined) this.tail.clear();
      return;
    }
    for (let i = 0; i < group.length; i++) {
      const o = outcomes[i]!;
      if (!o.ok || o.firstPosition === undefined) continue;
      const { streamId, rows } = group[i]!.request;
      // rowids of one transaction's inserts are consecutive; if that ever failed, the tail holds nothing rather than a guess
      if (o.result.position !== o.firstPosition + rows.length - 1) this.tail.clear();
      else this.tail.add({ streamId, firstPosition: o.firstPosition, firstRevision: o.result.nextRevision - rows.length + 1, rows });
    }
  }

  private afterGroup(): void {
    if (this.queue.length > 0) {
      // not at once: the callers just answered often append again in this turn (a command's
      // next step, a process reacting), and they join what queued while the group was in flight
      this.scheduleFlush();
      return;
    }
    const drained = this.drained;
    this.drained = [];
    for (const d of drained) d();
  }

  private startThread(): { worker: Worker; ready: boolean } | undefined {
    const where = writerEntry();
    if ("unavailable" in where) {
      this.useInline(where.unavailable);
      return undefined;
    }
    const workerData: WriterThreadData = { file: this.file, synchronous: this.synchronous, busyTimeoutMs: this.busyTimeoutMs, entry: where.entry, ...(where.tsxApi && { tsxApi: where.tsxApi }) };
    const worker = new Worker(WRITER_BOOTSTRAP, { eval: true, workerData, execArgv: [] });
    const thread = { worker, ready: false };
    this.thread = thread;
    worker.on("message", (m: FromWriter) => {
      if (this.thread !== thread) return;
      if (m.kind === "ready") {
        thread.ready = true;
        this.flushQueued();
      } else if (m.kind === "failed") {
        void worker.terminate();
        this.writerGone(thread, new Error(`${m.error.name}: ${m.error.message}`));
      } else if (this.inFlight?.id === m.id) {
        const { group } = this.inFlight;
        this.inFlight = undefined;
        this.writerRestarts = 0;
        if (this.queue.length === 0) worker.unref();
        this.settle(group, m.outcomes);
      }
    });
    worker.on("error", (err) => this.writerGone(thread, err));
    worker.on("exit", (code) => this.writerGone(thread, new Error(`the event store's writer thread exited with code ${code}`)));
    // idle, it does not keep the process alive (after the listeners: a "message" listener refs the worker)
    worker.unref();
    return thread;
  }

  /**
   * The writer thread failed. Before it was ready nothing was sent: after a few tries the store
   * commits inline. With a group in flight, whether that group reached the disk is unknown: its
   * callers get an error, and a retry with the same event ids gets the original answer if it did.
   */
  private writerGone(thread: { worker: Worker; ready: boolean }, err: Error): void {
    if (this.thread !== thread) return;
    this.thread = undefined;
    const lost = this.inFlight;
    this.inFlight = undefined;
    if (this.dbClosed) return;
    if (++this.writerRestarts >= MAX_WRITER_RESTARTS) this.useInline(`writer thread failed ${this.writerRestarts} times: ${err.message}`);
    if (lost) {
      const error = new Error(`the event store's writer thread stopped before answering (${err.message}); the append may or may not be in the log: retry it with the same event ids`, { cause: err });
      for (const p of lost.group) p.reject(error);
    }
    this.afterGroup();
  }

  private useInline(reason: string): void {
    this.mode = "inline";
    this.writerThreadUnavailable = reason;
  }

  /** Resolves once every accepted append has been answered. */
  private drain(): Promise<void> {
    if (this.queue.length === 0 && !this.inFlight) return Promise.resolve();
    return new Promise((resolve) => {
      this.drained.push(resolve);
      this.scheduleFlush();
    });
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const backwards = options.direction === "backwards";
    const params: unknown[] = [streamId];
    let sql = "SELECT * FROM events WHERE stream_id = ?";
    if (options.fromRevision !== undefined) {
      sql += backwards ? " AND revision <= ?" : " AND revision >= ?";
      params.push(options.fromRevision);
    }
    if (options.untilTime !== undefined) {
      sql += " AND occurred_at <= ?";
      params.push(canonicalTime(options.untilTime));
    }
    if (options.untilPosition !== undefined) {
      sql += " AND position <= ?";
      params.push(options.untilPosition);
    }
    sql += backwards ? " ORDER BY revision DESC" : " ORDER BY revision ASC";
    if (options.maxCount !== undefined) {
      sql += " LIMIT ?";
      params.push(options.maxCount);
    }
    return (this.stmt(sql).all(...params) as EventRow[]).map(toRecorded);
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    const after = options.after ?? 0;
    const max = options.maxCount;
    const match = options.fromStorage || !this.servable(after, max) ? undefined : tailMatch(options.filter);
    if (!match) return this.readAllNow(options);
    const { events } = this.tail.read(after, max ?? Number.POSITIVE_INFINITY, match);
    if (max !== undefined && events.length >= max) return events;
    // past the tail: what another process, or a commit not heard back about yet, added since
    const rest = this.readAllNow({ ...options, after: this.tail.end!, ...(max !== undefined && { maxCount: max - events.length }) });
    return rest.length === 0 ? events : events.concat(rest);
  }

  /** Whether the tail holds everything after `after` up to its end, for a count SQL would read alike. */
  private servable(after: number, maxCount: number | undefined): boolean {
    return Number.isSafeInteger(after) && (maxCount === undefined || (Number.isSafeInteger(maxCount) && maxCount > 0)) && this.tail.covers(after);
  }

  private readAllNow(options: ReadAllOptions): RecordedEvent[] {
    const params: unknown[] = [options.after ?? 0];
    let sql = "SELECT * FROM events WHERE position > ?" + filterSql(options.filter, params) + " ORDER BY position";
    if (options.maxCount !== undefined) {
      sql += " LIMIT ?";
      params.push(options.maxCount);
    }
    return (this.stmt(sql).all(...params) as EventRow[]).map(toRecorded);
  }

  private head(): number {
    return (this.stmt("SELECT coalesce(max(position), 0) AS p FROM events").get() as { p: number }).p;
  }

  async headPosition(): Promise<number> {
    return this.head();
  }

  subscribe(options: SubscribeOptions, handler: SubscriptionHandler): Subscription {
    const match = tailMatch(options.filter);
    return new PollingSubscription(
      (after, polled) => this.nextPage(after, options.filter, match, polled),
      (ms) => this.waitForAppend(ms),
      () => this.wakeSubscribers(),
      options.after ?? 0,
      handler,
      this.subscriptions,
    );
  }

  /**
   * One page after `after`. From the tail when it holds what follows `after`, or when `after` is
   * its end and the caller was woken by a commit of this store: that commit is in the tail, and
   * nothing can follow it unseen but a commit not heard back about yet (it wakes the caller when
   * it is) or another process's (the caller's poll, `polled`, reads SQLite, as does the next
   * commit here, which then does not follow on in the tail). Else from SQLite, read in one
   * snapshot with the head, so that when the page is short the caller may skip ahead to the head:
   * nothing it filtered out needs scanning again.
   */
  private nextPage(after: number, filter: EventFilter | undefined, match: TailMatch | undefined, polled: boolean): { events: RecordedEvent[]; scannedTo: number } {
    if (match && this.servable(after, undefined) && (after < this.tail.end! || !polled)) return this.tail.read(after, SUBSCRIPTION_PAGE, match);
    return this.db.transaction(() => {
      const events = this.readAllNow({ after, maxCount: SUBSCRIPTION_PAGE, filter });
      const scannedTo = events.length < SUBSCRIPTION_PAGE ? Math.max(this.head(), after) : events[events.length - 1]!.position;
      return { events, scannedTo };
    })();
  }

  /** Resolves true when woken (an append here, or a stop), false when the poll interval passed. */
  private waitForAppend(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      // one closure per wait, unnamed: every subscription waits after every commit, and under tsx
      // each named closure costs a defineProperty of its name (esbuild's keepNames)
      let timer: NodeJS.Timeout | undefined;
      const done = function (this: SqliteEventStore, woken: boolean): void {
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve(woken);
      }.bind(this);
      const wake = done.bind(undefined, true);
      timer = setTimeout(done, Math.min(ms, this.pollIntervalMs), false);
      this.waiters.add(wake);
    });
  }

  private wakeSubscribers(): void {
    const waiting = this.waiters;
    this.waiters = new Set();
    for (const w of waiting) w();
  }

  async ping(): Promise<void> {
    this.stmt("SELECT 1").get();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.subscriptions].map((s) => s.stop()));
    // appends accepted before close (a handler finishing its work may make one) are committed,
    // and so are those their callers make on hearing back (the next step of a command)
    do await this.drain();
    while (this.queue.length > 0);
    this.dbClosed = true;
    const thread = this.thread;
    this.thread = undefined;
    if (thread) {
      const exited = new Promise((resolve) => thread.worker.once("exit", resolve));
      thread.worker.ref();
      thread.worker.postMessage({ kind: "close" } satisfies ToWriter);
      await exited;
    }
    await this.checkpointer?.close();
    this.tail.clear();
    this.db.close();
  }
}

/**
 * Catch-up and live are the same loop: read a page after the last position, deliver it, and when
 * there is nothing new, sleep until an append in this process or the poll interval. There is no
 * hand-over from "history" to "live" where an event could fall through or arrive twice.
 */
class PollingSubscription implements Subscription {
  readonly done: Promise<void>;
  private stopped = false;
  private readonly handlerCall = new HandlerCall();
  /** the handler's own stop, which does not wait for the handler (see SubscriptionControl) */
  private readonly control: SubscriptionControl = { stop: async () => this.halt() };

  constructor(
    /** polled: the last wait ended at the poll interval rather than by a wake, or there was none */
    private readonly nextPage: (after: number, polled: boolean) => { events: RecordedEvent[]; scannedTo: number },
    private readonly waitForAppend: (ms: number) => Promise<boolean>,
    private readonly wake: () => void,
    private after: number,
    private readonly handler: SubscriptionHandler,
    registry: Set<{ stop(): Promise<void> }>,
  ) {
    registry.add(this);
    this.done = this.run().finally(() => registry.delete(this));
  }

  private async run(): Promise<void> {
    // let the caller keep the Subscription before the first handler call
    await Promise.resolve();
    let polled = true;
    while (!this.stopped) {
      const { events, scannedTo } = this.nextPage(this.after, polled);
      for (const e of events) {
        if (this.stopped) return;
        await this.handlerCall.call(this.handler, e, this.control);
        this.after = e.position;
      }
      if (this.stopped) return;
      this.after = Math.max(this.after, scannedTo);
      polled = false;
      if (events.length === 0) polled = !(await this.waitForAppend(Number.POSITIVE_INFINITY));
    }
  }

  private halt(): void {
    this.stopped = true;
    this.wake();
  }

  async stop(): Promise<void> {
    this.halt();
    // stop() awaited from inside the handler would otherwise wait for itself
    if (this.handlerCall.calling) return;
    await this.done.catch(() => undefined);
  }
}
