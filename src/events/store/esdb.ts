// The EventStoreDB adapter. Everything that depends on @eventstore/db-client lives in this one
// file: its successor @kurrent/kurrentdb-client renames `expectedRevision` to `streamState`
// (and the client class), and switching must touch nothing else.
//
// Positions: the port's position is Number(commit position). It is exact while the log is
// below 2^53 bytes (8 PiB), and it is what ESDB orders $all by. Resuming "after p" asks the server
// for {commit: p, prepare: p} and drops events at or before p on the client side. If a server
// version reports one commit position for every event of a multi-event append, those events
// share a position; the contract suite (run with EVENTSTORE_URL) is what checks this.
import {
  ANY,
  BACKWARDS,
  END,
  EventStoreDBClient,
  FORWARDS,
  NO_STREAM,
  START,
  STREAM_EXISTS,
  StreamNotFoundError,
  WrongExpectedVersionError,
  eventTypeFilter,
  excludeSystemEvents,
  jsonEvent,
  streamNameFilter,
  type AllStreamResolvedEvent,
  type AllStreamSubscription,
  type AppendExpectedRevision,
  type Filter,
  type JSONType,
  type Position,
  type ReadPosition,
  type ResolvedEvent,
} from "@eventstore/db-client";
import type { EventMetadata, NewEvent, RecordedEvent } from "../envelope.js";
import {
  WrongExpectedRevisionError,
  matchesFilter,
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

function toEsdbExpected(expected: ExpectedRevision): AppendExpectedRevision {
  if (expected === "no_stream") return NO_STREAM;
  if (expected === "stream_exists") return STREAM_EXISTS;
  if (expected === "any") return ANY;
  return BigInt(expected);
}

function afterPosition(after: number | undefined): ReadPosition {
  if (!after) return START;
  const p = BigInt(after);
  return { commit: p, prepare: p };
}

/** System events ($stats, $metadata, projections' output) are not ours. */
function isSystem(streamId: string, type: string): boolean {
  return streamId.startsWith("$") || type.startsWith("$");
}

function toRecorded(resolved: ResolvedEvent | AllStreamResolvedEvent): RecordedEvent | undefined {
  const e = resolved.event;
  if (!e || !e.isJson || isSystem(e.streamId, e.type)) return undefined;
  // a stream read may not carry the commit position (older servers); -1 then means "unknown"
  const commit = e.position?.commit ?? resolved.commitPosition;
  return {
    streamId: e.streamId,
    revision: Number(e.revision),
    position: commit === undefined ? -1 : Number(commit),
    type: e.type,
    data: e.data,
    // the envelope's metadata is stored as ESDB event metadata, unchanged
    metadata: e.metadata as EventMetadata,
  };
}

type CheckpointReached = (subscription: AllStreamSubscription, position: Position) => Promise<void> | void;

/**
 * Server-side filtering is one kind at a time; the exact port filter is re-applied on the client.
 * Event types are matched exactly (an anchored regex), not as prefixes: "Node" must not bring
 * "NodeUpdated" along. `checkpointReached` hears how far the server has scanned.
 */
function serverFilter(filter: EventFilter | undefined, checkpointReached?: CheckpointReached): Filter {
  const progress = checkpointReached ? { checkpointInterval: 1, checkpointReached } : {};
  if (filter?.streamPrefixes && filter.streamPrefixes.length > 0) return streamNameFilter({ prefixes: filter.streamPrefixes, ...progress });
  if (filter?.eventTypes && filter.eventTypes.length > 0) return eventTypeFilter({ regex: `^(?:${filter.eventTypes.map(escapeRegex).join("|")})$`, ...progress });
  return excludeSystemEvents(progress);
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** An empty list of prefixes or types matches nothing: no need to ask the server. */
const matchesNothing = (filter: EventFilter | undefined) => filter?.streamPrefixes?.length === 0 || filter?.eventTypes?.length === 0;

/** How far back locate() looks for an event it just appended. */
const LOCATE_SCAN_LIMIT = 10_000;

export class EsdbEventStore implements EventStore {
  readonly kind = "eventstoredb";
  private readonly client: EventStoreDBClient;
  private readonly subscriptions = new Set<Subscription>();

  constructor(connectionString: string) {
    this.client = EventStoreDBClient.connectionString(connectionString);
  }

  async append(streamId: string, events: NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    const data = events.map((e) =>
      jsonEvent({
        id: e.metadata.eventId,
        type: e.type,
        // event data is a JSON object validated by the catalog before it reaches the store
        data: e.data as JSONType,
        metadata: e.metadata,
      }),
    );
    try {
      const result = await this.client.appendToStream(streamId, data, { expectedRevision: toEsdbExpected(expected) });
      if (result.position) return { nextRevision: Number(result.nextExpectedRevision), position: Number(result.position.commit) };
      // no position in the answer (an idempotent repeat, an older server): the head would be
      // wherever any writer got to, so find our own last event instead
      return await this.locate(streamId, events.at(-1)!.metadata.eventId);
    } catch (err) {
      if (err instanceof WrongExpectedVersionError) {
        const actual = err.actualVersion === NO_STREAM ? "no_stream" : Number(err.actualVersion);
        throw new WrongExpectedRevisionError(streamId, expected, actual);
      }
      throw err;
    }
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const backwards = options.direction === "backwards";
    const clientSideFilter = options.untilTime !== undefined || options.untilPosition !== undefined;
    const until = options.untilTime === undefined ? undefined : Date.parse(options.untilTime);
    const read = this.client.readStream(streamId, {
      direction: backwards ? BACKWARDS : FORWARDS,
      fromRevision: options.fromRevision === undefined ? (backwards ? END : START) : BigInt(options.fromRevision),
      // with a client-side filter the server cannot know how many to send
      ...(options.maxCount !== undefined && !clientSideFilter ? { maxCount: options.maxCount } : {}),
    });
    const out: RecordedEvent[] = [];
    try {
      for await (const resolved of read) {
        const e = toRecorded(resolved);
        if (!e) continue;
        if (options.untilPosition !== undefined && e.position > options.untilPosition) {
          if (!backwards) break;
          continue;
        }
        if (until !== undefined && Date.parse(e.metadata.occurredAt) > until) continue;
        out.push(e);
        if (options.maxCount !== undefined && out.length >= options.maxCount) break;
      }
    } catch (err) {
      if (err instanceof StreamNotFoundError) return [];
      throw err;
    }
    return out;
  }

  /** Revision and position of the event with this id, searched from the end of its stream, then of $all. */
  private async locate(streamId: string, eventId: string): Promise<AppendResult> {
    let revision: number | undefined;
    let scanned = 0;
    for await (const resolved of this.client.readStream(streamId, { direction: BACKWARDS, fromRevision: END })) {
      const e = toRecorded(resolved);
      if (e?.metadata.eventId === eventId) {
        if (e.position >= 0) return { nextRevision: e.revision, position: e.position };
        revision = e.revision;
        break;
      }
      if (++scanned >= LOCATE_SCAN_LIMIT) break;
    }
    if (revision !== undefined) {
      scanned = 0;
      for await (const resolved of this.client.readAll({ direction: BACKWARDS, fromPosition: END })) {
        const e = toRecorded(resolved);
        if (e?.streamId === streamId && e.metadata.eventId === eventId) return { nextRevision: revision, position: e.position };
        if (++scanned >= LOCATE_SCAN_LIMIT) break;
      }
    }
    throw new Error(`${streamId}: appended, but event ${eventId} was not found near the end of the stream and of $all to learn its position`);
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    const after = options.after ?? 0;
    const out: RecordedEvent[] = [];
    if (options.maxCount === 0 || matchesNothing(options.filter)) return out;
    if (options.filter) return this.readAllFiltered(after, options.maxCount, options.filter);
    for await (const resolved of this.client.readAll({ direction: FORWARDS, fromPosition: afterPosition(after) })) {
      const e = toRecorded(resolved);
      if (!e || e.position <= after) continue;
      out.push(e);
      if (options.maxCount !== undefined && out.length >= options.maxCount) break;
    }
    return out;
  }

  /**
   * The client's readAll takes no filter, but a catch-up subscription does, and the server then
   * skips what does not match instead of sending all of $all over the wire. The read ends at the
   * head as it was when it began: the first event past it, a checkpoint past it (the server's
   * word for "scanned this far" when nothing matched), or the switch to live.
   */
  private async readAllFiltered(after: number, maxCount: number | undefined, filter: EventFilter): Promise<RecordedEvent[]> {
    const head = await this.headPosition();
    const out: RecordedEvent[] = [];
    if (head <= after) return out;
    let finished = false;
    let source: AllStreamSubscription | undefined;
    const finish = () => {
      if (finished) return;
      finished = true;
      // cancelling ends the stream: the loop below drains what already arrived, then stops
      void source?.unsubscribe();
    };
    source = this.client.subscribeToAll({
      fromPosition: afterPosition(after),
      filter: serverFilter(filter, (_sub, position) => {
        if (Number(position.commit) >= head) finish();
      }),
    });
    source.once("caughtUp", finish);
    try {
      for await (const resolved of source) {
        const e = toRecorded(resolved);
        if (!e || e.position <= after || !matchesFilter(e, filter)) continue;
        if (e.position > head) break;
        out.push(e);
        if ((maxCount !== undefined && out.length >= maxCount) || e.position === head) break;
      }
    } finally {
      finish();
    }
    return out;
  }

  async headPosition(): Promise<number> {
    for await (const resolved of this.client.readAll({ direction: BACKWARDS, fromPosition: END })) {
      const e = toRecorded(resolved);
      if (e) return e.position;
    }
    return 0;
  }

  /**
   * A catch-up subscription to $all. If the connection drops, `done` rejects with the client's
   * error (and ends if the server closes the stream): the EventLog above resubscribes from the
   * last position it passed, the same way for every adapter.
   */
  subscribe(options: SubscribeOptions, handler: SubscriptionHandler): Subscription {
    const after = options.after ?? 0;
    let stopped = false;
    const handlerCall = new HandlerCall();
    if (matchesNothing(options.filter)) {
      // nothing can ever match: an idle subscription that only ends when stopped
      let end!: () => void;
      const idle: Subscription = { done: new Promise<void>((resolve) => (end = resolve)), stop: async () => end() };
      return idle;
    }
    const source = this.client.subscribeToAll({ fromPosition: afterPosition(after), filter: serverFilter(options.filter) });
    const halt = async () => {
      stopped = true;
      await source.unsubscribe().catch(() => undefined);
    };
    // the handler's own stop (SubscriptionControl): waiting for the loop would wait for itself
    const control: SubscriptionControl = { stop: halt };
    const run = async () => {
      // for-await pulls the next event only after the handler finished: the awaited-handler rule
      for await (const resolved of source) {
        if (stopped) break;
        const e = toRecorded(resolved);
        if (!e || e.position <= after || !matchesFilter(e, options.filter)) continue;
        await handlerCall.call(handler, e, control);
      }
    };
    const done = run().finally(async () => {
      stopped = true;
      this.subscriptions.delete(subscription);
      // the stream may already be gone (the error that ended the loop): that is not news
      await source.unsubscribe().catch(() => undefined);
    });
    const subscription: Subscription = {
      done,
      stop: async () => {
        // from inside the handler (its synchronous part), waiting for the loop would wait for
        // itself; from anywhere else, stop() returns only once the handler in flight has finished
        const inside = handlerCall.calling;
        await halt();
        if (inside) return;
        await done.catch(() => undefined);
      },
    };
    this.subscriptions.add(subscription);
    return subscription;
  }

  async ping(): Promise<void> {
    for await (const _ of this.client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1 })) break;
  }

  async close(): Promise<void> {
    await Promise.all([...this.subscriptions].map((s) => s.stop()));
    await this.client.dispose();
  }
}
