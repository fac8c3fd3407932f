import { AsyncLocalStorage } from "node:async_hooks";
import { chmodSync, closeSync, openSync } from "node:fs";
import Database from "better-sqlite3";
import type { NewEvent, RecordedEvent } from "../envelope.js";
import {
  WrongExpectedRevisionError,
  type AppendResult,
  type EventFilter,
  type EventStore,
  type ExpectedRevision,
  type ReadAllOptions,
  type ReadStreamOptions,
  type SubscribeOptions,
  type Subscription,
} from "./port.js";

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
}

/** One caller's append waiting for its group's transaction. */
interface PendingAppend {
  streamId: string;
  events: NewEvent[];
  expected: ExpectedRevision;
  resolve: (result: AppendResult) => void;
  reject: (error: unknown) => void;
}

type Outcome = { ok: true; result: AppendResult } | { ok: false; error: unknown };

/** A group also stops growing at this many events, so one huge batch does not drag others along. */
const MAX_GROUP_EVENTS = 10_000;

interface EventRow {
  position: number;
  stream_id: string;
  revision: number;
  event_id: string;
  type: string;
  data: string;
  metadata: string;
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

function toRecorded(row: EventRow): RecordedEvent {
  return {
    streamId: row.stream_id,
    revision: row.revision,
    position: row.position,
    type: row.type,
    data: JSON.parse(row.data) as unknown,
    metadata: JSON.parse(row.metadata) as RecordedEvent["metadata"],
  };
}

/** ISO times are compared as text, so both sides are normalised to one exact format first. */
function canonicalTime(iso: string): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) throw new Error(`not an ISO time: ${iso}`);
  return new Date(t).toISOString();
}

function checkExpected(streamId: string, expected: ExpectedRevision, current: number | null): void {
  const actual = current ?? "no_stream";
  const ok =
    expected === "any" ||
    (expected === "no_stream" && current === null) ||
    (expected === "stream_exists" && current !== null) ||
    (typeof expected === "number" && current === expected);
  if (!ok) throw new WrongExpectedRevisionError(streamId, expected, actual);
}

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
  private readonly appendTx: (streamId: string, events: NewEvent[], expected: ExpectedRevision) => AppendResult;
  private readonly groupTx: (group: PendingAppend[]) => Outcome[];
  private readonly maxGroupAppends: number;
  /** appends accepted but not yet in a transaction, in call order */
  private queue: PendingAppend[] = [];
  private flushScheduled = false;
  /** set when the group transaction's BEGIN ran, to tell "never started" from "failed midway" */
  private groupEntered = false;
  private closed = false;
  private dbClosed = false;

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
    const tx = this.db.transaction((streamId: string, events: NewEvent[], expected: ExpectedRevision) =>
      this.appendInTransaction(streamId, events, expected),
    );
    // IMMEDIATE takes the write lock at BEGIN, so the revision check and the insert see the same
    // state, and a second process waits (busy_timeout) instead of failing at commit
    this.appendTx = (s, e, x) => tx.immediate(s, e, x);
    // Inside the group's transaction the same transaction function runs as a SAVEPOINT: an append
    // that fails (conflict, duplicate id, bad time) is rolled back alone and the others stay.
    this.groupTx = this.db
      .transaction((group: PendingAppend[]): Outcome[] => {
        this.groupEntered = true;
        return group.map((p): Outcome => {
          try {
            return { ok: true, result: tx(p.streamId, p.events, p.expected) };
          } catch (error) {
            // some errors (disk full, I/O) make SQLite roll back the whole transaction: the
            // appends before this one are gone too, so the group as a whole has failed
            if (!this.db.inTransaction) throw error;
            return { ok: false, error };
          }
        });
      })
      .immediate;
    this.maxGroupAppends = Math.max(1, options.maxGroupAppends ?? 256);
  }

  private stmt(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  private currentRevision(streamId: string): number | null {
    const row = this.stmt("SELECT max(revision) AS r FROM events WHERE stream_id = ?").get(streamId) as { r: number | null };
    return row.r;
  }

  private appendInTransaction(streamId: string, events: NewEvent[], expected: ExpectedRevision): AppendResult {
    const ids = events.map((e) => e.metadata.eventId);
    // the common single event looks its id up directly, without building and parsing a JSON array
    const already = (
      ids.length === 1
        ? this.stmt("SELECT position, stream_id, revision, event_id FROM events WHERE event_id = ?").all(ids[0])
        : this.stmt(
            "SELECT position, stream_id, revision, event_id FROM events WHERE event_id IN (SELECT value FROM json_each(?)) ORDER BY position",
          ).all(JSON.stringify(ids))
    ) as Pick<EventRow, "position" | "stream_id" | "revision" | "event_id">[];
    if (already.length > 0) {
      // A retry of a batch that was acknowledged (or whose ack was lost) gets the original answer.
      const sameBatch =
        already.length === ids.length &&
        already.every(
          (r, i) => r.stream_id === streamId && r.event_id === ids[i] && r.revision === already[0]!.revision + i,
        );
      if (sameBatch) {
        const last = already[already.length - 1]!;
        return { nextRevision: last.revision, position: last.position };
      }
      throw new WrongExpectedRevisionError(streamId, expected, this.currentRevision(streamId) ?? "no_stream");
    }
    const current = this.currentRevision(streamId);
    checkExpected(streamId, expected, current);
    if (events.length === 0) return { nextRevision: current ?? -1, position: this.head() };
    const insert = this.stmt(
      "INSERT INTO events (stream_id, revision, event_id, type, data, metadata, occurred_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    let revision = current ?? -1;
    let position = 0;
    for (const e of events) {
      revision++;
      const info = insert.run(
        streamId,
        revision,
        e.metadata.eventId,
        e.type,
        JSON.stringify(e.data),
        JSON.stringify(e.metadata),
        canonicalTime(e.metadata.occurredAt),
      );
      position = Number(info.lastInsertRowid);
    }
    return { nextRevision: revision, position };
  }

  /**
   * Group commit: appends made in the same turn of the event loop (concurrent requests, each
   * awaiting its own) wait for that turn to end and share one transaction and one fsync. Each
   * append still runs its own checks in order, in its own SAVEPOINT, and its caller gets exactly
   * its own result or error; a conflict of one never fails the others. Call order is commit order.
   */
  append(streamId: string, events: NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    if (this.dbClosed) return Promise.reject(new Error("the event store is closed"));
    return new Promise<AppendResult>((resolve, reject) => {
      this.queue.push({ streamId, events, expected, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        // setImmediate runs after the I/O callbacks of this loop turn: every request read from a
        // socket in the meantime has reached its append by then (the path to it is synchronous work
        // and microtasks), so a group forms without a timer and without delaying a lone append
        setImmediate(this.flushQueued);
      }
    });
  }

  private readonly flushQueued = (): void => {
    this.flushScheduled = false;
    if (this.queue.length === 0 || this.dbClosed) return;
    this.flushOne();
    if (this.queue.length > 0) {
      this.flushScheduled = true;
      setImmediate(this.flushQueued);
    }
  };

  /** Commits the next group from the queue and settles its callers. */
  private flushOne(): void {
    let take = 0;
    let events = 0;
    while (take < this.queue.length && take < this.maxGroupAppends && (take === 0 || events + this.queue[take]!.events.length <= MAX_GROUP_EVENTS)) {
      events += this.queue[take]!.events.length;
      take++;
    }
    const group = this.queue.length === take ? this.queue : this.queue.slice(0, take);
    this.queue = this.queue.length === take ? [] : this.queue.slice(take);
    const outcomes = this.commitGroup(group);
    this.wakeSubscribers();
    for (let i = 0; i < group.length; i++) {
      const o = outcomes[i]!;
      if (o.ok) group[i]!.resolve(o.result);
      else group[i]!.reject(o.error);
    }
  }

  private commitGroup(group: PendingAppend[]): Outcome[] {
    const one = (p: PendingAppend): Outcome => {
      try {
        return { ok: true, result: this.appendTx(p.streamId, p.events, p.expected) };
      } catch (error) {
        return { ok: false, error };
      }
    };
    // alone, it needs no savepoint
    if (group.length === 1) return [one(group[0]!)];
    this.groupEntered = false;
    try {
      return this.groupTx(group);
    } catch (error) {
      // BEGIN failed (another process held the lock past busy_timeout): each caller would get
      // the same answer on its own, so they all get it now rather than wait that long again
      if (!this.groupEntered) return group.map(() => ({ ok: false, error }));
      // the group failed midway or at COMMIT, and SQLite rolled all of it back: each append goes
      // again in its own transaction, so each caller gets the answer it would have had alone (an
      // append that did reach the disk after all is answered as an idempotent retry)
      return group.map(one);
    }
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
    return this.readAllNow(options);
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

  subscribe(options: SubscribeOptions, handler: (event: RecordedEvent) => Promise<void> | void): Subscription {
    return new PollingSubscription(
      (after) => this.nextPage(after, options.filter),
      (ms) => this.waitForAppend(ms),
      () => this.wakeSubscribers(),
      options.after ?? 0,
      handler,
      this.subscriptions,
    );
  }

  /**
   * One page after `after`, read in one snapshot with the head, so that when the page is short
   * the caller may skip ahead to the head: nothing it filtered out needs scanning again.
   */
  private nextPage(after: number, filter: EventFilter | undefined): { events: RecordedEvent[]; scannedTo: number } {
    return this.db.transaction(() => {
      const events = this.readAllNow({ after, maxCount: SUBSCRIPTION_PAGE, filter });
      const scannedTo = events.length < SUBSCRIPTION_PAGE ? Math.max(this.head(), after) : events[events.length - 1]!.position;
      return { events, scannedTo };
    })();
  }

  private waitForAppend(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.min(ms, this.pollIntervalMs));
      this.waiters.add(done);
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
    // appends accepted before close (a handler finishing its work may make one) are committed
    while (this.queue.length > 0) this.flushOne();
    this.dbClosed = true;
    this.db.close();
  }
}

/** Marks code running inside a subscription's handler, so stop() called from there does not wait on itself. */
const insideHandler = new AsyncLocalStorage<PollingSubscription>();

/**
 * Catch-up and live are the same loop: read a page after the last position, deliver it, and when
 * there is nothing new, sleep until an append in this process or the poll interval. There is no
 * hand-over from "history" to "live" where an event could fall through or arrive twice.
 */
class PollingSubscription implements Subscription {
  readonly done: Promise<void>;
  private stopped = false;

  constructor(
    private readonly nextPage: (after: number) => { events: RecordedEvent[]; scannedTo: number },
    private readonly waitForAppend: (ms: number) => Promise<void>,
    private readonly wake: () => void,
    private after: number,
    private readonly handler: (event: RecordedEvent) => Promise<void> | void,
    registry: Set<{ stop(): Promise<void> }>,
  ) {
    registry.add(this);
    this.done = this.run().finally(() => registry.delete(this));
  }

  private async run(): Promise<void> {
    // let the caller keep the Subscription before the first handler call
    await Promise.resolve();
    while (!this.stopped) {
      const { events, scannedTo } = this.nextPage(this.after);
      for (const e of events) {
        if (this.stopped) return;
        await insideHandler.run(this, () => this.handler(e));
        this.after = e.position;
      }
      if (this.stopped) return;
      this.after = Math.max(this.after, scannedTo);
      if (events.length === 0) await this.waitForAppend(Number.POSITIVE_INFINITY);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    // stop() awaited from inside the handler would otherwise wait for itself
    if (insideHandler.getStore() === this) return;
    await this.done.catch(() => undefined);
  }
}
