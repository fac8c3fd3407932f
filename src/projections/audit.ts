import { chainHash, GENESIS_HASH } from "../audit/chain.js";
import { environmentIn, summarize, traceIdOf } from "../audit/summaries.js";
import type { Actor, RecordedEvent } from "../events/envelope.js";
import { streamPrefixes } from "../events/streams.js";
import type { ProjectedDoc, Projection } from "./projection.js";
import type { IndexSpec } from "./store/port.js";

export const AUDIT_COLLECTION = "audit_log";
/** the chain head: hash after the newest event applied */
export const CHAIN_HEAD_ID = "_chain:head";
export const DEFAULT_AUDIT_RETENTION_MS = 90 * 86_400_000;

/** Entry ids sort like their positions (the memory store pages on _id without a full sort). */
export const auditEntryId = (position: number) => `e:${String(position).padStart(16, "0")}`;
const streamDocId = (streamId: string) => `_stream:${streamId}`;

/** Streams whose later events do not name their environment: it is carried per stream. */
const carriesEnvironment = (streamId: string) =>
  streamId.startsWith(streamPrefixes.deployment) || streamId.startsWith(streamPrefixes.node) || streamId.startsWith(streamPrefixes.cluster);

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
  environment: string | null;
  eventId: string;
  correlationId: string;
  causationId: string;
  traceId: string | null;
  sourceIp: string | null;
  userAgent: string | null;
  tenantId: string;
  /** the chain: hash = sha256(prevHash, canonical event); null only if the head was unknown (see apply) */
  prevHash: string | null;
  hash: string | null;
}

export interface ChainHeadDoc extends ProjectedDoc {
  kind: "head";
  hash: string;
  position: number;
}

interface StreamDoc extends ProjectedDoc {
  kind: "stream";
  streamId: string;
  environment: string | null;
}

export type AuditDoc = AuditEntryDoc | ChainHeadDoc | StreamDoc;

/** What one event has computed so far, shared by the apply calls for its two or three documents. */
interface Step {
  keys: string[];
  next: number;
  prevHash: string | null;
  hash: string | null;
  environment: string | null;
}

export interface AuditProjectionOptions {
  /** entries older than this are dropped from the read model (never from the event log) */
  retentionMs?: number;
}

/**
 * The audit log: one entry per event in the log, plus a chain head document and a small
 * per-stream document carrying the environment. keys() lists [head, stream?, entry] and the
 * runner applies them in that order; the entry takes its hash from the head's apply for the
 * same event, handed over in `steps` (keyed by the event object, so two appliers sharing this
 * projection cannot mix their events). A document passed as null is recognised by its place
 * in that order. One case stays ambiguous: an entry missing (pruned by TTL) while the head has
 * already passed its event, replayed after a crash between a batch write and its checkpoint;
 * the head's apply then meets the entry key and the runner stops the projection with an
 * "_id" error. A rebuild (npm run projections:rebuild -- audit) repairs it.
 */
export function createAuditProjection(options: AuditProjectionOptions = {}): Projection<AuditDoc> & { indexes: IndexSpec[] } {
  const retentionSeconds = Math.round((options.retentionMs ?? DEFAULT_AUDIT_RETENTION_MS) / 1000);
  const steps = new WeakMap<RecordedEvent, Step>();
  return {
    name: "audit",
    version: 1,
    collection: AUDIT_COLLECTION,
    indexes: [
      { name: "audit_ttl", keys: { occurredAtDate: 1 }, expireAfterSeconds: retentionSeconds },
      { name: "audit_position", keys: { kind: 1, position: -1 } },
      { name: "audit_type", keys: { type: 1, position: -1 } },
      { name: "audit_actor", keys: { "actor.id": 1, position: -1 } },
      { name: "audit_stream", keys: { streamId: 1, position: -1 } },
      { name: "audit_environment", keys: { environment: 1, position: -1 } },
    ],
    keys(event) {
      const keys = [CHAIN_HEAD_ID];
      if (carriesEnvironment(event.streamId)) keys.push(streamDocId(event.streamId));
      keys.push(auditEntryId(event.position));
      steps.set(event, { keys, next: 0, prevHash: null, hash: null, environment: environmentIn(event) });
      return keys;
    },
    apply(doc, event) {
      const step = steps.get(event);
      if (!step) throw new Error("audit projection: apply() without keys() for this event");
      const key = doc ? doc._id : step.keys[step.next];
      if (key === undefined) throw new Error(`audit projection: unexpected document for position ${event.position}`);
      step.next = step.keys.indexOf(key) + 1;

      if (key === CHAIN_HEAD_ID) {
        const prev = doc?.kind === "head" ? doc.hash : GENESIS_HASH;
        step.prevHash = prev;
        step.hash = chainHash(prev, event);
        return { _id: CHAIN_HEAD_ID, kind: "head", hash: step.hash, position: event.position };
      }
      if (key.startsWith("_stream:")) {
        step.environment ??= doc?.kind === "stream" ? doc.environment : null;
        return { _id: key, kind: "stream", streamId: event.streamId, environment: step.environment };
      }
      steps.delete(event);
      // entries never change once written; the runner's position guard keeps it that way
      if (doc) return doc;
      const m = event.metadata;
      return {
        _id: key,
        kind: "entry",
        position: event.position,
        streamId: event.streamId,
        revision: event.revision,
        type: event.type,
        summary: summarize(event),
        actor: { kind: m.actor.kind, id: m.actor.id },
        occurredAt: m.occurredAt,
        occurredAtDate: new Date(m.occurredAt),
        environment: step.environment,
        eventId: m.eventId,
        correlationId: m.correlationId,
        causationId: m.causationId,
        traceId: traceIdOf(m.traceparent),
        sourceIp: m.sourceIp ?? null,
        userAgent: m.userAgent ?? null,
        tenantId: m.tenantId,
        prevHash: step.prevHash,
        hash: step.hash,
      };
    },
  };
}

/** With the default retention; the server builds its own from config.auditRetentionMs. */
export const auditProjection = createAuditProjection();
