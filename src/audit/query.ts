import { DomainError } from "../commands/errors.js";
import { auditEntryId, type AuditDoc, type AuditEntryDoc } from "../projections/audit.js";
import type { Collection, Filter } from "../projections/store/port.js";

export interface AuditQuery {
  /** any of these event types */
  types?: string[];
  /** actor id (a username, a node id, or a system component) */
  actor?: string;
  /** an exact stream id, or a prefix when it ends with "*" (e.g. "deployment-*") */
  stream?: string;
  environment?: string;
  /** inclusive bounds on occurredAt */
  from?: Date;
  to?: Date;
  limit: number;
  order: "asc" | "desc";
  cursor?: string;
}

/** An entry as the API shows it: storage-only fields removed. */
export function toAuditView(doc: AuditEntryDoc) {
  const { _id, kind, lastPosition, occurredAtDate, ...view } = doc;
  return view;
}
export type AuditView = ReturnType<typeof toAuditView>;

export function encodeAuditCursor(position: number): string {
  return Buffer.from(`audit:${position}`).toString("base64url");
}

export function decodeAuditCursor(cursor: string): number {
  const m = /^audit:(\d{1,16})$/.exec(Buffer.from(cursor, "base64url").toString());
  if (!m) throw new DomainError("validation", "cursor is not one this server issued");
  return Number(m[1]);
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** The MongoDB filter for a query; entries only (the chain head and stream docs share the collection). */
export function auditFilter(q: AuditQuery): Filter {
  const filter: Filter = { kind: "entry" };
  if (q.types?.length) filter.type = q.types.length === 1 ? q.types[0] : { $in: q.types };
  if (q.actor) filter["actor.id"] = q.actor;
  if (q.stream) {
    filter.streamId = q.stream.endsWith("*") ? { $regex: "^" + escapeRegex(q.stream.slice(0, -1)) } : q.stream;
  }
  if (q.environment) filter.environment = q.environment;
  if (q.from || q.to) filter.occurredAtDate = { ...(q.from && { $gte: q.from }), ...(q.to && { $lte: q.to }) };
  if (q.cursor !== undefined) {
    // entry ids sort like positions, so paging rides on _id (an index everywhere, no sort in memory)
    filter._id = { [q.order === "desc" ? "$lt" : "$gt"]: auditEntryId(decodeAuditCursor(q.cursor)) };
  }
  return filter;
}

/** One page of the audit log, newest first by default: the code path of GET /api/v1/audit-logs. */
export async function queryAuditLog(collection: Collection<AuditDoc>, q: AuditQuery): Promise<{ items: AuditView[]; nextCursor: string | null }> {
  const docs = (await collection.find(auditFilter(q), { sort: { _id: q.order === "desc" ? -1 : 1 }, limit: q.limit + 1 })) as AuditEntryDoc[];
  const page = docs.slice(0, q.limit);
  const nextCursor = docs.length > q.limit ? encodeAuditCursor(page.at(-1)!.position) : null;
  return { items: page.map(toAuditView), nextCursor };
}
