import { DomainError } from "../commands/errors.js";
import { auditEntryId, type AuditEntryDoc, type AuditStreamDoc } from "../projections/audit.js";
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

/** An entry as the API shows it: storage-only fields removed, the stream's environment filled in. */
export function toAuditView(doc: AuditEntryDoc, streamEnvironment: string | null = null) {
  const { _id, kind, lastPosition, occurredAtDate, ...view } = doc;
  return { ...view, environment: view.environment ?? streamEnvironment };
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

/**
 * The MongoDB filter for a query, without the environment (see queryAuditLog). Entries only: a
 * read model built by an older version may still hold other documents until it is rebuilt.
 */
export function auditFilter(q: AuditQuery): Filter {
  const filter: Filter = { kind: "entry" };
  if (q.types?.length) filter.type = q.types.length === 1 ? q.types[0] : { $in: q.types };
  if (q.actor) filter["actor.id"] = q.actor;
  if (q.stream) {
    filter.streamId = q.stream.endsWith("*") ? { $regex: "^" + escapeRegex(q.stream.slice(0, -1)) } : q.stream;
  }
  if (q.from || q.to) filter.occurredAtDate = { ...(q.from && { $gte: q.from }), ...(q.to && { $lte: q.to }) };
  if (q.cursor !== undefined) {
    // entry ids sort like positions, so paging rides on _id (an index everywhere, no sort in memory)
    filter._id = { [q.order === "desc" ? "$lt" : "$gt"]: auditEntryId(decodeAuditCursor(q.cursor)) };
  }
  return filter;
}

/** Stream ids of `environment` that the query's stream condition admits. */
async function streamsIn(streams: Collection<AuditStreamDoc>, environment: string, stream: string | undefined): Promise<string[]> {
  const ids = (await streams.find({ environment }, { projection: { _id: 1 } })).map((d) => d._id);
  if (!stream) return ids;
  return stream.endsWith("*") ? ids.filter((id) => id.startsWith(stream.slice(0, -1))) : ids.filter((id) => id === stream);
}

/**
 * One page of the audit log, newest first by default: the code path of GET /api/v1/audit-logs.
 * An entry is in an environment when its event names it or its stream (a deployment, a node) is
 * in it; that is two indexed queries whose pages are merged by position.
 */
export async function queryAuditLog(
  entries: Collection<AuditEntryDoc>,
  q: AuditQuery,
  streams?: Collection<AuditStreamDoc>,
): Promise<{ items: AuditView[]; nextCursor: string | null }> {
  const base = auditFilter(q);
  const options = { sort: { _id: q.order === "desc" ? -1 : 1 } as const, limit: q.limit + 1 };
  let docs: AuditEntryDoc[];
  if (!q.environment) {
    docs = await entries.find(base, options);
  } else {
    const named = await entries.find({ ...base, environment: q.environment }, options);
    const ids = streams ? await streamsIn(streams, q.environment, q.stream) : [];
    const carried = ids.length ? await entries.find({ ...base, streamId: ids.length === 1 ? ids[0] : { $in: ids } }, options) : [];
    const byId = new Map([...named, ...carried].map((d) => [d._id, d]));
    docs = [...byId.values()].sort((a, b) => (q.order === "desc" ? b.position - a.position : a.position - b.position)).slice(0, q.limit + 1);
  }
  const page = docs.slice(0, q.limit);
  const nextCursor = docs.length > q.limit ? encodeAuditCursor(page.at(-1)!.position) : null;
  const environments = await streamEnvironments(page, streams);
  return { items: page.map((d) => toAuditView(d, environments.get(d.streamId) ?? null)), nextCursor };
}

/** The environments of the streams of entries that do not name one. */
async function streamEnvironments(page: AuditEntryDoc[], streams: Collection<AuditStreamDoc> | undefined): Promise<Map<string, string>> {
  const wanted = [...new Set(page.filter((d) => d.environment === null).map((d) => d.streamId))];
  if (!streams || wanted.length === 0) return new Map();
  return new Map((await streams.find({ _id: { $in: wanted } })).map((d) => [d._id, d.environment]));
}

/** One entry as the API shows it, its stream's environment joined in. */
export async function auditView(doc: AuditEntryDoc, streams: Collection<AuditStreamDoc>): Promise<AuditView> {
  return toAuditView(doc, (await streamEnvironments([doc], streams)).get(doc.streamId) ?? null);
}
