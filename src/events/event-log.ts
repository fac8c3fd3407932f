import { randomUUID } from "node:crypto";
import type { Catalog } from "./catalog/index.js";
import type { EventMetadata, NewEvent, RecordedEvent } from "./envelope.js";
import { resubscribing, type Backoff } from "./resubscribing.js";
import {
  WrongExpectedRevisionError,
  type AppendResult,
  type EventStore,
  type ExpectedRevision,
  type ReadAllOptions,
  type ReadStreamOptions,
  type SubscribeOptions,
  type Subscription,
  type SubscriptionHandler,
} from "./store/port.js";
import type { DomainEvent } from "../commands/decider.js";

export class EventValidationError extends Error {
  constructor(
    readonly eventType: string,
    readonly issues: unknown,
    where: "append" | "read",
  ) {
    super(`invalid ${eventType} event on ${where}`);
    this.name = "EventValidationError";
  }
}

/** The part of the envelope the caller supplies; eventId, occurredAt and schemaVersion have defaults. */
export type MetadataInput = Omit<EventMetadata, "eventId" | "occurredAt" | "schemaVersion" | "tenantId"> &
  Partial<Pick<EventMetadata, "eventId" | "occurredAt" | "tenantId">>;

/** What the log tells operators about; metrics and logs subscribe with EventLog.observe. */
export interface EventLogObserver {
  /** `count` more events of a type this code does not know were skipped on read */
  unknownType?(type: string, count: number): void;
  /** a subscription's store stream failed or ended; it resubscribes after delayMs */
  subscriptionDropped?(error: unknown, delayMs: number): void;
}

export interface EventLogOptions {
  /** resubscription backoff after a dropped subscription (tests shorten it) */
  backoff?: Backoff;
}

/** Distinct type labels kept for skipped events; a flood of odd names must not grow metrics without bound. */
const MAX_UNKNOWN_TYPE_LABELS = 100;
/** Conflicts caused only by unknown events that one append tolerates before giving up. */
const MAX_UNKNOWN_ONLY_RETRIES = 5;
/**
 * Events this log appended lately whose data it validated: read back (by every subscription, the
 * runner's folds, the next command on the stream), mostly within moments, they are not validated
 * again. Enough for those reads; an event read later is validated as any other.
 */
const MAX_VALIDATED_HERE = 16_384;

/**
 * The typed face of an EventStore: validates data against the catalog on append, upcasts old
 * schema versions and validates again on read. Adapters stay dumb; this logic is shared.
 *
 * Events of a type the catalog does not know were written by newer code (a rolling upgrade) and
 * are skipped by every read and subscription, counted, never an error. They still count as
 * history for positions and revisions: a subscription resumes after them, a read with maxCount
 * reads on past them, and an append whose expected revision is only behind by such events goes
 * through (the decision it carries could not have depended on them).
 */
export class EventLog {
  private readonly skipped = new Map<string, number>();
  private readonly observers = new Set<EventLogObserver>();
  /** ids of events appended through this log with data its schemas accepted (oldest first), and the schema version */
  private readonly validatedHere = new Map<string, number>();

  constructor(
    readonly store: EventStore,
    readonly catalog: Catalog,
    private readonly options: EventLogOptions = {},
  ) {}

  /** Subscribes `observer`; it first hears the unknown-type counts so far. Returns an unsubscribe. */
  observe(observer: EventLogObserver): () => void {
    for (const [type, count] of this.skipped) observer.unknownType?.(type, count);
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  /** Unknown event types skipped so far, by type label, in reads (an event read twice counts twice). */
  unknownTypes(): ReadonlyMap<string, number> {
    return this.skipped;
  }

  /**
   * The event as this code understands it (upcast, validated), or null for one it cannot: a type
   * it does not know, or a schemaVersion newer than its own whose data its schema does not accept
   * (newer versions that only add fields are read, the additions dropped).
   */
  decode(event: RecordedEvent): RecordedEvent | null {
    const unknown = this.unknownLabel(event);
    if (unknown === null) return this.upcast(event);
    const label = this.skipped.has(unknown) || this.skipped.size < MAX_UNKNOWN_TYPE_LABELS ? unknown : "other";
    this.skipped.set(label, (this.skipped.get(label) ?? 0) + 1);
    for (const o of this.observers) o.unknownType?.(label, 1);
    return null;
  }

  /** Whether decode() gives this event to its readers (rather than skipping it as newer code's). */
  knows(event: RecordedEvent): boolean {
    return this.unknownLabel(event) === null;
  }

  /** null when this code can read the event, else the label its skip is counted under. */
  private unknownLabel(event: RecordedEvent): string | null {
    const def = this.catalog.get(event.type);
    const version = event.metadata.schemaVersion;
    if (def && (version <= def.version || def.schema.safeParse(event.data).success)) return null;
    if (!/^[A-Za-z][A-Za-z0-9_.-]{0,99}$/.test(event.type)) return "other";
    return def ? `${event.type}@v${version}` : event.type;
  }

  /** Wraps domain events in envelopes; one metadata per event (eventIds must differ). Validation happens on append. */
  envelope(events: DomainEvent[], metadata: MetadataInput[] | ((index: number) => MetadataInput)): NewEvent[] {
    return events.map((e, i) => {
      const m = typeof metadata === "function" ? metadata(i) : metadata[i];
      if (!m) throw new Error("missing metadata for event " + i);
      return {
        type: e.type,
        data: e.data,
        metadata: {
          ...m,
          eventId: m.eventId ?? randomUUID(),
          occurredAt: m.occurredAt ?? new Date().toISOString(),
          tenantId: m.tenantId ?? "default",
          schemaVersion: this.catalog.get(e.type)?.version ?? 1,
        },
      };
    });
  }

  /** Validates every event's data against its schema (and writes the parsed form), then appends. */
  async append(streamId: string, events: NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    const valid = events.map((e) => {
      const def = this.catalog.get(e.type);
      if (!def) throw new EventValidationError(e.type, "unknown event type", "append");
      const parsed = def.schema.safeParse(e.data);
      if (!parsed.success) throw new EventValidationError(e.type, parsed.error.issues, "append");
      return { ...e, data: parsed.data, metadata: { ...e.metadata, schemaVersion: def.version } };
    });
    for (let attempt = 0; ; attempt++) {
      try {
        const result = await this.store.append(streamId, valid, expected);
        this.rememberValidated(valid);
        return result;
      } catch (err) {
        const behind = attempt < MAX_UNKNOWN_ONLY_RETRIES ? await this.onlyUnknownSince(streamId, expected, err) : undefined;
        if (behind === undefined) throw err;
        expected = behind;
      }
    }
  }

  private rememberValidated(events: NewEvent[]): void {
    for (const e of events) {
      this.validatedHere.delete(e.metadata.eventId);
      this.validatedHere.set(e.metadata.eventId, e.metadata.schemaVersion);
    }
    for (const id of this.validatedHere.keys()) {
      if (this.validatedHere.size <= MAX_VALIDATED_HERE) break;
      this.validatedHere.delete(id);
    }
  }

  /**
   * After a conflict: when everything the stream gained beyond `expected` is of types this code
   * does not know, the revision to expect instead; else undefined (a real conflict).
   */
  private async onlyUnknownSince(streamId: string, expected: ExpectedRevision, err: unknown): Promise<number | undefined> {
    if (!(err instanceof WrongExpectedRevisionError) || typeof err.actual !== "number") return undefined;
    if (expected !== "no_stream" && typeof expected !== "number") return undefined;
    const from = expected === "no_stream" ? 0 : expected + 1;
    if (err.actual < from) return undefined;
    const gained = await this.store.readStream(streamId, { fromRevision: from });
    if (gained.length === 0 || gained.some((e) => this.knows(e))) return undefined;
    for (const e of gained) this.decode(e);
    return gained.at(-1)!.revision;
  }

  /** Known events of one stream; `maxCount` counts known events (reads go on past unknown ones). */
  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const out: RecordedEvent[] = [];
    const backwards = options.direction === "backwards";
    let page = options;
    for (;;) {
      const raw = await this.store.readStream(streamId, page);
      for (const e of raw) {
        const known = this.decode(e);
        if (known) out.push(known);
      }
      const last = raw.at(-1);
      const want = options.maxCount === undefined ? 0 : options.maxCount - out.length;
      // a short page is the end; a full one that lost events to skipping may have more behind it
      if (!last || page.maxCount === undefined || raw.length < page.maxCount || want <= 0) return out;
      if (backwards && last.revision === 0) return out;
      page = { ...options, fromRevision: backwards ? last.revision - 1 : last.revision + 1, maxCount: want };
    }
  }

  /** Known events of the whole log; `maxCount` counts known events (reads go on past unknown ones). */
  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    const out: RecordedEvent[] = [];
    let page = options;
    for (;;) {
      const raw = await this.store.readAll(page);
      for (const e of raw) {
        const known = this.decode(e);
        if (known) out.push(known);
      }
      const last = raw.at(-1);
      const want = options.maxCount === undefined ? 0 : options.maxCount - out.length;
      if (!last || page.maxCount === undefined || raw.length < page.maxCount || want <= 0) return out;
      page = { ...options, after: last.position, maxCount: want };
    }
  }

  /**
   * A catch-up subscription of known events. It survives its store stream: a drop (connection
   * lost, store error) resubscribes after the last position passed, with capped backoff. Only the
   * handler's own failure ends it, as the port says.
   */
  subscribe(options: SubscribeOptions, handler: SubscriptionHandler): Subscription {
    return resubscribing(this.store, options, handler, {
      decode: (e) => this.decode(e),
      dropped: (error, delayMs) => {
        for (const o of this.observers) o.subscriptionDropped?.(error, delayMs);
      },
      ...(this.options.backoff && { backoff: this.options.backoff }),
    });
  }

  headPosition(): Promise<number> {
    return this.store.headPosition();
  }

  /** Lifts an event written with an older schemaVersion to the current one; never rewrites the log. */
  upcast(event: RecordedEvent): RecordedEvent {
    const def = this.catalog.get(event.type);
    if (!def) throw new EventValidationError(event.type, "unknown event type", "read");
    // Appended here moments ago, as the JSON of data this schema version accepted: the schemas only
    // check (no defaults, transforms or coercion), so validating its read-back copy again could only
    // give the same data. The store's copy is handed out as it is (the SQLite store's own recent
    // commits come from its commit tail: one frozen object per event, shared by every reader).
    const version = event.metadata.schemaVersion;
    if (version === def.version && this.validatedHere.get(event.metadata.eventId) === version) return event;
    let data = event.data as Record<string, unknown>;
    for (let v = event.metadata.schemaVersion; v < def.version; v++) {
      const up = def.upcasters[v - 1];
      if (!up) throw new EventValidationError(event.type, `no upcaster from version ${v}`, "read");
      data = up(data);
    }
    const parsed = def.schema.safeParse(data);
    if (!parsed.success) throw new EventValidationError(event.type, parsed.error.issues, "read");
    if (event.metadata.schemaVersion === def.version) return { ...event, data: parsed.data };
    return { ...event, data: parsed.data, metadata: { ...event.metadata, schemaVersion: def.version } };
  }
}
