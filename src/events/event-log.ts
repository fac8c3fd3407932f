import { randomUUID } from "node:crypto";
import type { Catalog } from "./catalog/index.js";
import type { EventMetadata, NewEvent, RecordedEvent } from "./envelope.js";
import type {
  AppendResult,
  EventStore,
  ExpectedRevision,
  ReadAllOptions,
  ReadStreamOptions,
  SubscribeOptions,
  Subscription,
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

/**
 * The typed face of an EventStore: validates data against the catalog on append, upcasts old
 * schema versions and validates again on read. Adapters stay dumb; this logic is shared.
 */
export class EventLog {
  constructor(
    readonly store: EventStore,
    readonly catalog: Catalog,
  ) {}

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
  append(streamId: string, events: NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    const valid = events.map((e) => {
      const def = this.catalog.get(e.type);
      if (!def) throw new EventValidationError(e.type, "unknown event type", "append");
      const parsed = def.schema.safeParse(e.data);
      if (!parsed.success) throw new EventValidationError(e.type, parsed.error.issues, "append");
      return { ...e, data: parsed.data, metadata: { ...e.metadata, schemaVersion: def.version } };
    });
    return this.store.append(streamId, valid, expected);
  }

  async readStream(streamId: string, options?: ReadStreamOptions): Promise<RecordedEvent[]> {
    return (await this.store.readStream(streamId, options)).map((e) => this.upcast(e));
  }

  async readAll(options?: ReadAllOptions): Promise<RecordedEvent[]> {
    return (await this.store.readAll(options)).map((e) => this.upcast(e));
  }

  subscribe(options: SubscribeOptions, handler: (event: RecordedEvent) => Promise<void> | void): Subscription {
    return this.store.subscribe(options, (e) => handler(this.upcast(e)));
  }

  headPosition(): Promise<number> {
    return this.store.headPosition();
  }

  /** Lifts an event written with an older schemaVersion to the current one; never rewrites the log. */
  upcast(event: RecordedEvent): RecordedEvent {
    const def = this.catalog.get(event.type);
    if (!def) throw new EventValidationError(event.type, "unknown event type", "read");
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
