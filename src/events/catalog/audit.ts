import { z } from "zod";
import { defineEvent, type EventsOf } from "./define.js";

/** The stream of audit anchors: appended with an expected revision, so each range is anchored once. */
export const ANCHOR_STREAM = "audit-anchors";

/**
 * A checkpoint of the audit hash chain, stored in the log it vouches for, so it outlives every
 * read model: `hash` is the chain over the stored events from `fromPosition` to `position`
 * (inclusive, `events` of them), starting from `previousHash`, the hash of the anchor before
 * (64 zeros for the first). Plain strings and numbers only: this is a storage format.
 */
export const AuditAnchoredSchema = z.object({
  fromPosition: z.number().int(),
  position: z.number().int(),
  events: z.number().int(),
  previousHash: z.string(),
  hash: z.string(),
});
export type AuditAnchoredData = z.infer<typeof AuditAnchoredSchema>;

export const auditEvents = [defineEvent("AuditAnchored", AuditAnchoredSchema)] as const;

export type AuditEvent = EventsOf<typeof auditEvents>;
