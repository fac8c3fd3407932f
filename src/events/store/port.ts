import type { NewEvent, RecordedEvent } from "../envelope.js";

/**
 * What the writer expects the stream to look like:
 * "no_stream" (must not exist), "stream_exists", "any", or the exact revision of its last event.
 */
export type ExpectedRevision = "no_stream" | "stream_exists" | "any" | number;

export interface AppendResult {
  /** revision of the last event written (or already present, on an idempotent retry) */
  nextRevision: number;
  /** global position of the last event written */
  position: number;
}

export class WrongExpectedRevisionError extends Error {
  constructor(
    readonly streamId: string,
    readonly expected: ExpectedRevision,
    readonly actual: number | "no_stream",
  ) {
    super(`stream ${streamId}: expected revision ${String(expected)}, actual ${String(actual)}`);
    this.name = "WrongExpectedRevisionError";
  }
}

export interface ReadStreamOptions {
  direction?: "forwards" | "backwards";
  /** inclusive; forwards defaults to 0, backwards to the end */
  fromRevision?: number;
  maxCount?: number;
  /** only events with occurredAt <= this ISO time */
  untilTime?: string;
  /** only events with position <= this */
  untilPosition?: number;
}

/** What a subscription or projection takes; a constant once handed over (see hasType). */
export interface EventFilter {
  streamPrefixes?: string[];
  eventTypes?: string[];
}

export interface ReadAllOptions {
  /** exclusive: events strictly after this position; default: from the beginning */
  after?: number;
  maxCount?: number;
  filter?: EventFilter;
  /**
   * Read what the storage holds now, past any copy an adapter keeps of its own recent appends (the
   * SQLite store's commit tail): for audit verification, which looks for edits behind its back.
   */
  fromStorage?: boolean;
}

export interface SubscribeOptions {
  /** exclusive; undefined means from the beginning */
  after?: number;
  filter?: EventFilter;
}

export interface Subscription {
  /**
   * Resolves once the subscription has stopped: called from outside, once the handler in flight
   * has finished. Called from the handler itself before its first await, it does not wait (the
   * handler cannot finish while it waits); after an await, the handler must use its
   * SubscriptionControl instead, since nothing else tells that call from an outside one.
   */
  stop(): Promise<void>;
  /** resolves when the handler failed or the subscription ended */
  done: Promise<void>;
}

/**
 * Given to a subscription's handler with each event: stop() ends the subscription without waiting
 * for the handler in flight, which is the caller. (An AsyncLocalStorage told the two apart
 * before, at the price of promise hooks on every promise in the process.)
 */
export interface SubscriptionControl {
  stop(): Promise<void>;
}

export type SubscriptionHandler = (event: RecordedEvent, control: SubscriptionControl) => Promise<void> | void;

/**
 * The raw event store port. Adapters store and return envelopes verbatim; validation and
 * upcasting happen one layer up (EventLog), so every adapter shares that logic.
 */
export interface EventStore {
  readonly kind: string;
  append(streamId: string, events: NewEvent[], expected: ExpectedRevision): Promise<AppendResult>;
  /** events of one stream; [] when the stream does not exist */
  readStream(streamId: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]>;
  /** position of the newest event, or 0 when the log is empty (positions start at 1) */
  headPosition(): Promise<number>;
  /**
   * Catch-up subscription to all streams: delivers history after `after`, then live events,
   * in position order with no gap or duplicate. The handler is awaited before the next event.
   */
  subscribe(options: SubscribeOptions, handler: SubscriptionHandler): Subscription;
  /** readiness probe */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A long list of event types as a Set, made once per list: scanning a projection's ~36 types for
 * every event it is offered showed in profiles. A filter is a constant: its list is read once.
 */
const typeSets = new WeakMap<readonly string[], Set<string>>();
function hasType(types: readonly string[], type: string): boolean {
  if (types.length <= 8) return types.includes(type);
  let set = typeSets.get(types);
  if (!set) typeSets.set(types, (set = new Set(types)));
  return set.has(type);
}

export function matchesFilter(event: { streamId: string; type: string }, filter?: EventFilter): boolean {
  if (!filter) return true;
  if (filter.streamPrefixes && !filter.streamPrefixes.some((p) => event.streamId.startsWith(p))) return false;
  if (filter.eventTypes && !hasType(filter.eventTypes, event.type)) return false;
  return true;
}
