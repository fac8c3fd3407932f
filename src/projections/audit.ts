import { eventDigest } from "../audit/chain.js";
import { environmentIn, summarize, traceIdOf } from "../audit/summaries.js";
import type { Actor } from "../events/envelope.js";
import { streamPrefixes } from "../events/streams.js";
import type { ProjectedDoc, Projection } from "./projection.js";
import { fixedDate } from "./store/kept-as-is.js";
import type { IndexSpec } from "./store/port.js";

export const AUDIT_COLLECTION = "audit_log";
/** the environment of each stream whose later events do not name it (deployments, nodes) */
export const AUDIT_STREAMS_COLLECTION = "audit_streams";
export const DEFAULT_AUDIT_RETENTION_MS = 90 * 86_400_000;

const ZEROS = "0".repeat(16);

/**
 * Entry ids sort like their positions (the memory store pages on _id without a full sort):
 * String(position).padStart(16, "0") behind "e:", the zeros cut from a constant (padStart built
 * its filler anew, ~200 bytes and a tenth of a microsecond for each of the two calls an event).
 */
export const auditEntryId = (position: number): string => {
  const digits = String(position);
  return "e:" + ZEROS.slice(digits.length) + digits;
};

export interface AuditEntryDoc extends ProjectedDoc {
  kind: "entry";
  position: number;
  streamId: string;
  revision: number;
  type: string;
  summary: string;
  actor: Actor;
  occurredAt: string;
  /** the TTL index's field: MongoDB expires on a Date, never on a string */
  occurredAtDate: Date;
  /** the environment this event names itself; the stream's is joined in at query time (src/audit/query.ts) */
  environment: string | null;
  eventId: string;
  correlationId: string;
  causationId: string;
  traceId: string | null;
  sourceIp: string | null;
  userAgent: string | null;
  tenantId: string;
  /** sha-256 of this event's canonical bytes as the projection read it; verify compares it with the log */
  hash: string;
}

/** The audit collection holds entries only; the name stays for the code that reads it. */
export type AuditDoc = AuditEntryDoc;

export interface AuditStreamDoc extends ProjectedDoc {
  streamId: string;
  environment: string;
}

export interface AuditProjectionOptions {
  /** entries older than this are dropped from the read model (never from the event log) */
  retentionMs?: number;
}

/**
 * The audit log: one entry per event, a pure function of that event (DESIGN.md section 5). What
 * depends on other events lives elsewhere: the hash chain in the log's own AuditAnchored events
 * (src/processes/audit-anchor.ts), a stream's environment in the audit-streams projection below.
 */
export function createAuditProjection(options: AuditProjectionOptions = {}): Projection<AuditEntryDoc> & { indexes: IndexSpec[] } {
  const retentionSeconds = Math.round((options.retentionMs ?? DEFAULT_AUDIT_RETENTION_MS) / 1000);
  return {
    name: "audit",
    // 2: entries carry their event's digest instead of a chain link, and no chain head document
    version: 2,
    collection: AUDIT_COLLECTION,
    indexes: [
      { name: "audit_ttl", keys: { occurredAtDate: 1 }, expireAfterSeconds: retentionSeconds },
      { name: "audit_position", keys: { kind: 1, position: -1 } },
      { name: "audit_type", keys: { type: 1, position: -1 } },
      { name: "audit_actor", keys: { "actor.id": 1, position: -1 } },
      { name: "audit_stream", keys: { streamId: 1, position: -1 } },
      { name: "audit_environment", keys: { environment: 1, position: -1 } },
    ],
    keys: (event) => [auditEntryId(event.position)],
    // an entry is a pure function of its event: written without looking for one written before
    madeByEventAlone: () => true,
    apply(doc, event) {
      // entries never change once written
      if (doc) return doc;
      const m = event.metadata;
      // Built frozen, with its lastPosition, from frozen parts (the event's own actor when it is
      // frozen and bare, a Date noted as never changing): the runner and a memory store keep it as
      // it is. A copy of it on each side cost more than making it, a sixth of the projection's time.
      const entry: AuditEntryDoc = {
        _id: auditEntryId(event.position),
        kind: "entry",
        position: event.position,
        streamId: event.streamId,
        revision: event.revision,
        type: event.type,
        summary: summarize(event),
        actor: frozenActor(m.actor),
        occurredAt: m.occurredAt,
        occurredAtDate: fixedDate(m.occurredAt),
        environment: environmentIn(event),
        eventId: m.eventId,
        correlationId: m.correlationId,
        causationId: m.causationId,
        traceId: traceIdOf(m.traceparent),
        sourceIp: m.sourceIp ?? null,
        userAgent: m.userAgent ?? null,
        tenantId: m.tenantId,
        hash: eventDigest(event),
        lastPosition: event.position,
      };
      return Object.freeze(entry);
    },
  };
}

/**
 * An entry's actor: the event's own when it is a frozen plain object of kind and id alone (as the
 * log's events are), else a frozen copy of those two. Either way what is stored is {kind, id}.
 */
function frozenActor(actor: Actor): Actor {
  if (Object.isFrozen(actor) && Object.getPrototypeOf(actor) === Object.prototype) {
    let n = 0;
    let bare = true;
    for (const k in actor) if (k !== (n++ === 0 ? "kind" : "id")) bare = false;
    if (bare && n === 2) return actor;
  }
  return Object.freeze({ kind: actor.kind, id: actor.id });
}

/**
 * A deployment's or node's environment, from the one event that names it (DeploymentRequested,
 * NodeRegistered), keyed by stream id: the audit log's environment filter and view join it to the
 * entries of the same stream. Neither kind of stream ever changes environment.
 */
export const auditStreamsProjection: Projection<AuditStreamDoc> & { indexes: IndexSpec[] } = {
  name: "audit-streams",
  version: 1,
  collection: AUDIT_STREAMS_COLLECTION,
  filter: { streamPrefixes: [streamPrefixes.deployment, streamPrefixes.node] },
  indexes: [{ name: "audit_streams_environment", keys: { environment: 1 } }],
  keys: (event) => (environmentIn(event) ? [event.streamId] : []),
  apply(doc, event) {
    const environment = environmentIn(event) ?? doc?.environment;
    return environment ? { _id: event.streamId, streamId: event.streamId, environment } : doc;
  },
};

/** Both audit read models. The casts: a Projection of a narrower document type is used as the generic one. */
export function auditProjections(options: AuditProjectionOptions = {}): (Projection & { indexes: IndexSpec[] })[] {
  return [createAuditProjection(options) as unknown as Projection & { indexes: IndexSpec[] }, auditStreamsProjection as unknown as Projection & { indexes: IndexSpec[] }];
}

/** With the default retention; the server builds its own from config.auditRetentionMs. */
export const auditProjection = createAuditProjection();
