// The write half of the SQLite event store: commits a group of appends in one transaction. It runs
// either on the store's own connection (inline) or on a connection of its own in a worker thread
// (sqlite-writer-thread.ts), so that with synchronous=FULL the fsync of each commit blocks that
// thread rather than the event loop serving requests.
import type Database from "better-sqlite3";
import { WrongExpectedRevisionError, type AppendResult, type ExpectedRevision } from "./port.js";

/** One event as stored: JSON already serialized and the time already canonical (by the caller). */
export interface EventRowInput {
  eventId: string;
  type: string;
  data: string;
  metadata: string;
  occurredAt: string;
}

export interface AppendRequest {
  streamId: string;
  expected: ExpectedRevision;
  rows: EventRowInput[];
}

/** A caller's own answer: its result, or the error it alone gets. Plain data, so it crosses threads. */
export type Outcome =
  /** firstPosition: where the first of its events landed, when this append wrote them (not a retry's earlier answer) */
  | { ok: true; result: AppendResult; firstPosition?: number }
  | { ok: false; conflict: { streamId: string; expected: ExpectedRevision; actual: number | "no_stream" } }
  | { ok: false; error: { name: string; message: string; code?: string } };

/** The error a caller gets for an outcome that failed. */
export function outcomeError(o: Exclude<Outcome, { ok: true }>): Error {
  if ("conflict" in o) return new WrongExpectedRevisionError(o.conflict.streamId, o.conflict.expected, o.conflict.actual);
  const err = new Error(o.error.message) as Error & { code?: string };
  err.name = o.error.name;
  if (o.error.code !== undefined) err.code = o.error.code;
  return err;
}

function failure(error: unknown): Outcome {
  if (error instanceof WrongExpectedRevisionError) return { ok: false, conflict: { streamId: error.streamId, expected: error.expected, actual: error.actual } };
  const e = error instanceof Error ? error : new Error(String(error));
  const code = (e as { code?: unknown }).code;
  return { ok: false, error: { name: e.name, message: e.message, ...(typeof code === "string" && { code }) } };
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

interface ExistingRow {
  position: number;
  stream_id: string;
  revision: number;
  event_id: string;
}

/** An append's answer, and where its events landed when it wrote them (see Outcome). */
interface Applied {
  result: AppendResult;
  firstPosition?: number;
}

export class SqliteWriter {
  private readonly byId: Database.Statement;
  private readonly byIds: Database.Statement;
  private readonly revision: Database.Statement;
  private readonly head: Database.Statement;
  private readonly insert: Database.Statement;
  private readonly one: (a: AppendRequest) => Applied;
  private readonly group: (g: AppendRequest[]) => Outcome[];
  /** set when the group transaction's BEGIN ran, to tell "never started" from "failed midway" */
  private entered = false;

  constructor(private readonly db: Database.Database) {
    this.byId = db.prepare("SELECT position, stream_id, revision, event_id FROM events WHERE event_id = ?");
    this.byIds = db.prepare(
      "SELECT position, stream_id, revision, event_id FROM events WHERE event_id IN (SELECT value FROM json_each(?)) ORDER BY position",
    );
    this.revision = db.prepare("SELECT max(revision) AS r FROM events WHERE stream_id = ?");
    this.head = db.prepare("SELECT coalesce(max(position), 0) AS p FROM events");
    this.insert = db.prepare("INSERT INTO events (stream_id, revision, event_id, type, data, metadata, occurred_at) VALUES (?, ?, ?, ?, ?, ?, ?)");
    const tx = db.transaction((a: AppendRequest) => this.appendInTransaction(a));
    // IMMEDIATE takes the write lock at BEGIN, so the revision check and the insert see the same
    // state, and a second process waits (busy_timeout) instead of failing at commit
    this.one = (a) => tx.immediate(a);
    // Inside the group's transaction the same transaction function runs as a SAVEPOINT: an append
    // that fails (conflict, duplicate id) is rolled back alone and the others stay.
    this.group = db.transaction((g: AppendRequest[]): Outcome[] => {
      this.entered = true;
      return g.map((a): Outcome => {
        try {
          return { ok: true, ...tx(a) };
        } catch (error) {
          // some errors (disk full, I/O) make SQLite roll back the whole transaction: the
          // appends before this one are gone too, so the group as a whole has failed
          if (!db.inTransaction) throw error;
          return failure(error);
        }
      });
    }).immediate;
  }

  /** Commits what it can of `group` in one transaction (one fsync); one outcome per append, in order. */
  commit(group: AppendRequest[]): Outcome[] {
    const alone = (a: AppendRequest): Outcome => {
      try {
        return { ok: true, ...this.one(a) };
      } catch (error) {
        return failure(error);
      }
    };
    // alone, it needs no savepoint
    if (group.length === 1) return [alone(group[0]!)];
    this.entered = false;
    try {
      return this.group(group);
    } catch (error) {
      // BEGIN failed (another process held the lock past busy_timeout): each caller would get
      // the same answer on its own, so they all get it now rather than wait that long again
      if (!this.entered) return group.map(() => failure(error));
      // the group failed midway or at COMMIT, and SQLite rolled all of it back: each append goes
      // again in its own transaction, so each caller gets the answer it would have had alone (an
      // append that did reach the disk after all is answered as an idempotent retry)
      return group.map(alone);
    }
  }

  private currentRevision(streamId: string): number | null {
    return (this.revision.get(streamId) as { r: number | null }).r;
  }

  private appendInTransaction({ streamId, expected, rows }: AppendRequest): Applied {
    // the common single event looks its id up directly, without building and parsing a JSON array
    const already = (rows.length === 1 ? this.byId.all(rows[0]!.eventId) : this.byIds.all(JSON.stringify(rows.map((r) => r.eventId)))) as ExistingRow[];
    if (already.length > 0) {
      // A retry of a batch that was acknowledged (or whose ack was lost) gets the original answer.
      const sameBatch =
        already.length === rows.length &&
        already.every((r, i) => r.stream_id === streamId && r.event_id === rows[i]!.eventId && r.revision === already[0]!.revision + i);
      if (sameBatch) {
        const last = already[already.length - 1]!;
        return { result: { nextRevision: last.revision, position: last.position } };
      }
      throw new WrongExpectedRevisionError(streamId, expected, this.currentRevision(streamId) ?? "no_stream");
    }
    const current = this.currentRevision(streamId);
    checkExpected(streamId, expected, current);
    if (rows.length === 0) return { result: { nextRevision: current ?? -1, position: (this.head.get() as { p: number }).p } };
    let revision = current ?? -1;
    let position = 0;
    let firstPosition = 0;
    for (const r of rows) {
      revision++;
      position = Number(this.insert.run(streamId, revision, r.eventId, r.type, r.data, r.metadata, r.occurredAt).lastInsertRowid);
      if (firstPosition === 0) firstPosition = position;
    }
    return { result: { nextRevision: revision, position }, firstPosition };
  }
}

/** What the store tells its writer thread at start. */
export interface WriterThreadData {
  file: string;
  synchronous: string;
  busyTimeoutMs: number;
  /** tsx's API module when the writer runs from TypeScript sources (development, tests) */
  tsxApi?: string;
  entry: string;
}

/** Messages between the store and its writer thread. */
export type ToWriter = { kind: "commit"; id: number; group: AppendRequest[] } | { kind: "close" };
export type FromWriter = { kind: "ready" } | { kind: "committed"; id: number; outcomes: Outcome[] } | { kind: "failed"; error: { name: string; message: string } };
