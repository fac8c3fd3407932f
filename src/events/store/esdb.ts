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
  type AppendExpectedRevision,
  type Filter,
  type JSONType,
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
} from "./port.js";

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

/** Server-side filtering is one kind at a time; the exact port filter is re-applied on the client. */
function serverFilter(filter: EventFilter | undefined): Filter {
  if (filter?.streamPrefixes && filter.streamPrefixes.length > 0) return streamNameFilter({ prefixes: filter.streamPrefixes });
  if (filter?.eventTypes && filter.eventTypes.length > 0) return eventTypeFilter({ prefixes: filter.eventTypes });
  return excludeSystemEvents();
}

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
      return {
        nextRevision: Number(result.nextExpectedRevision),
        position: result.position ? Number(result.position.commit) : await this.headPosition(),
      };
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

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    const after = options.after ?? 0;
    const out: RecordedEvent[] = [];
    if (options.maxCount === 0) return out;
    for await (const resolved of this.client.readAll({ direction: FORWARDS, fromPosition: afterPosition(after) })) {
      const e = toRecorded(resolved);
      if (!e || e.position <= after || !matchesFilter(e, options.filter)) continue;
      out.push(e);
      if (options.maxCount !== undefined && out.length >= options.maxCount) break;
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

  subscribe(options: SubscribeOptions, handler: (event: RecordedEvent) => Promise<void> | void): Subscription {
    const after = options.after ?? 0;
    const source = this.client.subscribeToAll({ fromPosition: afterPosition(after), filter: serverFilter(options.filter) });
    let stopped = false;
    let handling = false;
    const run = async () => {
      // for-await pulls the next event only after the handler finished: the awaited-handler rule
      for await (const resolved of source) {
        if (stopped) break;
        const e = toRecorded(resolved);
        if (!e || e.position <= after || !matchesFilter(e, options.filter)) continue;
        handling = true;
        try {
          await handler(e);
        } finally {
          handling = false;
        }
      }
    };
    const done = run().finally(() => {
      stopped = true;
      this.subscriptions.delete(subscription);
      return source.unsubscribe();
    });
    const subscription: Subscription = {
      done,
      stop: async () => {
        stopped = true;
        await source.unsubscribe();
        // stop() awaited from inside the handler would otherwise wait for itself
        if (!handling) await done.catch(() => undefined);
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
