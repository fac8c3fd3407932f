// The tail of the log that this SQLite store committed itself, kept in memory so that its readers
// (subscriptions, readAll of recent positions) share one parsed copy of each event instead of each
// reading the same rows back from SQLite and parsing them again.
import { deepFreeze } from "../../platform/deep-freeze.js";
import type { RecordedEvent } from "../envelope.js";
import type { EventFilter } from "./port.js";

/** A row as SQLite returns it from `SELECT *` (the columns a RecordedEvent is made of). */
export interface EventRow {
  position: number;
  stream_id: string;
  revision: number;
  event_id: string;
  type: string;
  data: string;
  metadata: string;
}

/** The one way a row becomes a RecordedEvent, for rows read from SQLite and rows kept in the tail alike. */
export function toRecorded(row: Pick<EventRow, "position" | "stream_id" | "revision" | "type" | "data" | "metadata">): RecordedEvent {
  return {
    streamId: row.stream_id,
    revision: row.revision,
    position: row.position,
    type: row.type,
    data: JSON.parse(row.data) as unknown,
    metadata: JSON.parse(row.metadata) as RecordedEvent["metadata"],
  };
}

/**
 * Text SQLite hands back exactly as given and compares as JS does: no NUL (SQLite's text functions
 * stop there) and no lone surrogate (stored as CESU-8, read back as U+FFFD).
 */
const NOT_PLAIN = /[\0\p{Cs}]/u;
export const isPlain = (s: string): boolean => !NOT_PLAIN.test(s);

/** A filter as a JS predicate giving exactly what filterSql gives; undefined when it cannot (odd text). */
export type TailMatch = (streamId: string, type: string) => boolean;
export function tailMatch(filter: EventFilter | undefined): TailMatch | undefined {
  const prefixes = filter?.streamPrefixes;
  const types = filter?.eventTypes;
  if (prefixes?.some((p) => !isPlain(p)) || types?.some((t) => !isPlain(t))) return undefined;
  const typeSet = types && new Set(types);
  // substr(stream_id, 1, code points of p) = p is startsWith for plain text
  return (streamId, type) => (!prefixes || prefixes.some((p) => streamId.startsWith(p))) && (!typeSet || typeSet.has(type));
}

/** One committed event: its row until a reader first asks, then the parsed event (the text dropped). */
class Entry {
  private event: RecordedEvent | undefined;
  constructor(
    readonly position: number,
    readonly streamId: string,
    readonly revision: number,
    readonly type: string,
    private data: string,
    private metadata: string,
  ) {}

  get recorded(): RecordedEvent {
    if (!this.event) {
      this.event = toRecorded({ position: this.position, stream_id: this.streamId, revision: this.revision, type: this.type, data: this.data, metadata: this.metadata });
      deepFreeze(this.event);
      this.data = this.metadata = "";
    }
    return this.event;
  }
}

/** What one append committed: its rows, in order, at positions first.. and revisions firstRevision.. */
export interface CommittedAppend {
  streamId: string;
  firstPosition: number;
  firstRevision: number;
  rows: readonly { type: string; data: string; metadata: string }[];
}

export interface TailLimits {
  maxEvents: number;
  /** data and metadata JSON, in UTF-16 code units */
  maxChars: number;
}

/**
 * Enough for the readers that follow the head (subscriptions, SSE catch-up) and for the audit
 * anchor, which reads ranges of 1,000 events once they are complete. Parsed, an event of ~480
 * characters of JSON takes ~700 bytes of heap: ~3 MiB at most here.
 */
export const DEFAULT_TAIL_LIMITS: TailLimits = { maxEvents: 4096, maxChars: 2 << 20 };

/**
 * Exactly the events at positions (base, end] of the log, gap-free. Only this store's own commits
 * enter it, in commit order; a commit that does not start at end + 1 (another process wrote in
 * between, or a commit this store never heard back about) starts it over, so it never holds a
 * range with a hole. It is bounded by count and text size; the oldest leave first.
 */
export class CommitTail {
  private entries: Entry[] = [];
  /** index in `entries` of position base + 1 (older ones are evicted lazily) */
  private start = 0;
  private chars = 0;
  private charsOf: number[] = [];
  /** undefined until the first commit: the tail then holds nothing */
  private base: number | undefined;

  constructor(private readonly limits: TailLimits = DEFAULT_TAIL_LIMITS) {}

  /** The last position held; undefined when the tail covers no range yet. */
  get end(): number | undefined {
    return this.base === undefined ? undefined : this.base + this.entries.length - this.start;
  }

  /** Whether every position after `after` up to `end` is held (`after` may equal end: nothing then). */
  covers(after: number): boolean {
    return this.base !== undefined && after >= this.base && after <= this.base + this.entries.length - this.start;
  }

  /** Adds one append's committed events, or starts over at it when it does not follow on. */
  add(a: CommittedAppend): void {
    const n = a.rows.length;
    if (n === 0) return;
    const last = a.firstPosition + n - 1;
    if (this.end !== a.firstPosition - 1) this.restart(a.firstPosition - 1);
    // text SQLite would hand back otherwise, or compare otherwise, is not kept: the tail goes on after it
    if (!isPlain(a.streamId) || a.rows.some((r) => !isPlain(r.type))) {
      this.restart(last);
      return;
    }
    for (let i = 0; i < n; i++) {
      const r = a.rows[i]!;
      this.entries.push(new Entry(a.firstPosition + i, a.streamId, a.firstRevision + i, r.type, r.data, r.metadata));
      const c = r.data.length + r.metadata.length;
      this.charsOf.push(c);
      this.chars += c;
    }
    this.evict();
  }

  /** Forgets everything: what follows starts a new range. */
  clear(): void {
    this.entries = [];
    this.charsOf = [];
    this.start = 0;
    this.chars = 0;
    this.base = undefined;
  }

  private restart(base: number): void {
    this.clear();
    this.base = base;
  }

  private evict(): void {
    while (this.entries.length - this.start > this.limits.maxEvents || (this.chars > this.limits.maxChars && this.entries.length - this.start > 1)) {
      this.chars -= this.charsOf[this.start]!;
      this.start++;
      this.base!++;
    }
    // dropped from the arrays in bulk, so eviction stays O(1) per event
    if (this.start > 1024 && this.start * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.start);
      this.charsOf = this.charsOf.slice(this.start);
      this.start = 0;
    }
  }

  /**
   * Up to maxCount events after `after` that match, in order, and the last position looked at
   * (that of the last event returned when maxCount was reached, else end). Only for covers(after).
   */
  read(after: number, maxCount: number, match: TailMatch | undefined): { events: RecordedEvent[]; scannedTo: number } {
    const events: RecordedEvent[] = [];
    const from = this.start + (after - this.base!);
    for (let i = from; i < this.entries.length; i++) {
      const e = this.entries[i]!;
      if (match && !match(e.streamId, e.type)) continue;
      events.push(e.recorded);
      if (events.length >= maxCount) return { events, scannedTo: e.position };
    }
    return { events, scannedTo: this.end! };
  }
}
