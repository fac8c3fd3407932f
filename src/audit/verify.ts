import { ANCHOR_STREAM, AuditAnchoredSchema, type AuditAnchoredData } from "../events/catalog/audit.js";
import type { RecordedEvent } from "../events/envelope.js";
import type { EventLog } from "../events/event-log.js";
import { auditEntryId, type AuditEntryDoc } from "../projections/audit.js";
import type { Collection } from "../projections/store/port.js";
import { chainHash, eventDigest, GENESIS_HASH } from "./chain.js";

export interface AnchorProblem {
  /** where the AuditAnchored event is in the log */
  anchorPosition: number;
  /** the range it covers (null when unreadable) */
  fromPosition: number | null;
  position: number | null;
  /** the chain hash the log gives now */
  expected: string | null;
  /** the hash the anchor recorded */
  actual: string | null;
  /**
   * hash: the events of its range no longer give its hash (one was edited, added or removed);
   * link: it does not follow the anchor before it (an anchor, or events between two, removed);
   * malformed: it cannot be read as an anchor
   */
  reason: "hash" | "link" | "malformed";
}

export interface VerifyResult {
  ok: boolean;
  from: number;
  to: number;
  /** entries compared with the event they were projected from */
  checked: number;
  /** events with no entry to compare: gone by retention at the start of the range, or of a type this code does not know */
  skipped: number;
  /** the first entry whose digest differs from its event's in the log now (the read model remembers another event) */
  firstMismatch: { position: number; expected: string; actual: string | null } | null;
  anchors: {
    /** anchors whose whole range lies in [from, to], recomputed from the log */
    checked: number;
    /** the end of the last anchor checked: later events are vouched for by the read model only */
    anchoredTo: number | null;
    firstBad: AnchorProblem | null;
  };
}

interface Anchor {
  event: RecordedEvent;
  data: AuditAnchoredData | null;
}

/** An anchor under check, and the chain recomputed over its range so far. */
interface Open {
  anchor: AuditAnchoredData;
  anchorPosition: number;
  /** the end of the anchor before it, when readable: events after it and before fromPosition are a gap */
  previousEnd: number | null;
  linked: boolean;
  chain: string;
  events: number;
  gap: boolean;
}

/**
 * Two checks over [from, to] in one pass over the stored events:
 *  - every audit entry against its event: a read model that remembers an event the log no longer
 *    holds (an edit underneath a running server, or a MongoDB read model kept across restarts);
 *  - every anchor whose range lies in [from, to] against the chain recomputed from the log. Anchors
 *    live in the log, so this check survives a restart and a rebuild of the read models.
 * Anchors hash events as stored (raw), so upcasters added later cannot change them, and events of a
 * type this code does not know are covered too. Entries hash the event as the projection read it.
 */
export async function verifyAuditChain(
  log: EventLog,
  entries: Collection<AuditEntryDoc>,
  range: { from?: number; to: number },
  pageSize = 1000,
): Promise<VerifyResult> {
  const from = Math.max(1, range.from ?? 1);
  const to = range.to;
  const result: VerifyResult = { ok: true, from, to, checked: 0, skipped: 0, firstMismatch: null, anchors: { checked: 0, anchoredTo: null, firstBad: null } };
  if (to < from) return result;

  const all = await readAnchors(log);
  const problems: AnchorProblem[] = [];
  const queue: Open[] = [];
  for (const [i, { event, data }] of all.entries()) {
    if (!data) {
      if (event.position >= from && event.position <= to) problems.push({ anchorPosition: event.position, fromPosition: null, position: null, expected: null, actual: null, reason: "malformed" });
      continue;
    }
    if (data.fromPosition < from || data.position > to) continue;
    const previous = i === 0 ? null : all[i - 1]!.data;
    const linked = i === 0 ? data.previousHash === GENESIS_HASH : previous !== null && previous.hash === data.previousHash && previous.position < data.fromPosition;
    const previousEnd = i === 0 ? 0 : (previous?.position ?? null);
    queue.push({ anchor: data, anchorPosition: event.position, previousEnd, linked, chain: data.previousHash, events: 0, gap: false });
  }

  const close = (open: Open) => {
    result.anchors.checked++;
    result.anchors.anchoredTo = open.anchor.position;
    const { anchor } = open;
    const reason = !open.linked || open.gap ? "link" : open.chain !== anchor.hash || open.events !== anchor.events ? "hash" : null;
    if (reason) problems.push({ anchorPosition: open.anchorPosition, fromPosition: anchor.fromPosition, position: anchor.position, expected: open.chain, actual: anchor.hash, reason });
  };

  // the walk starts where the first anchor under check begins, or earlier for a gap before it
  const first = queue[0];
  let after = Math.min(from - 1, first ? (first.previousEnd ?? first.anchor.fromPosition - 1) : from - 1);
  let seenEntry = false;
  for (;;) {
    const page = (await log.store.readAll({ after, maxCount: pageSize, fromStorage: true })).filter((e) => e.position <= to);
    if (page.length === 0) break;
    const wanted = page.filter((e) => e.position >= from).map((e) => auditEntryId(e.position));
    const stored = result.firstMismatch || wanted.length === 0 ? [] : await entries.find({ _id: { $in: wanted } });
    const byPosition = new Map(stored.map((d) => [d.position, d]));
    for (const raw of page) {
      while (queue[0] && queue[0].anchor.position < raw.position) close(queue.shift()!);
      const open = queue[0];
      if (open && raw.position >= open.anchor.fromPosition) {
        open.chain = chainHash(open.chain, raw);
        open.events++;
      } else if (open && open.previousEnd !== null && raw.position > open.previousEnd) {
        open.gap = true;
      }
      if (raw.position < from || result.firstMismatch) continue;
      if (!log.knows(raw)) {
        result.skipped++;
        continue;
      }
      const entry = byPosition.get(raw.position);
      if (!seenEntry && !entry) {
        result.skipped++;
        continue;
      }
      seenEntry = true;
      const expected = eventDigest(asProjected(log, raw));
      result.checked++;
      if (entry?.hash !== expected) result.firstMismatch = { position: raw.position, expected, actual: entry?.hash ?? null };
    }
    after = page.at(-1)!.position;
    if (page.length < pageSize || after >= to) break;
  }
  // anchors whose last events are gone from the log
  while (queue[0]) close(queue.shift()!);

  result.anchors.firstBad = problems.sort((a, b) => a.anchorPosition - b.anchorPosition)[0] ?? null;
  result.ok = !result.firstMismatch && !result.anchors.firstBad;
  return result;
}

/** Every anchor in the log, in order; one that does not read as an anchor has data null. */
export async function readAnchors(log: EventLog): Promise<Anchor[]> {
  const events = await log.store.readStream(ANCHOR_STREAM);
  return events.map((event) => ({ event, data: anchorIn(event) }));
}

/** The anchor a stored event records, or null when it is not one (or no longer reads as one). */
export function anchorIn(event: RecordedEvent): AuditAnchoredData | null {
  if (event.type !== "AuditAnchored") return null;
  const parsed = AuditAnchoredSchema.safeParse(event.data);
  return parsed.success ? parsed.data : null;
}

/** The event as the projection read it; one edited so that it no longer validates is hashed as stored. */
function asProjected(log: EventLog, raw: RecordedEvent): RecordedEvent {
  try {
    return log.upcast(raw);
  } catch {
    return raw;
  }
}
