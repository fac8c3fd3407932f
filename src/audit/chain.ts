import { createHash } from "node:crypto";
import type { RecordedEvent } from "../events/envelope.js";
import { canonicalEvent } from "./canonical.js";

/** The hash before the first event: 64 zeros. */
export const GENESIS_HASH = "0".repeat(64);

type Hashable = Parameters<typeof canonicalEvent>[0];

/**
 * One link of the tamper-evident chain: sha-256 over the previous hash and the event's canonical
 * bytes. The anchor process and verify both call this, so they cannot drift apart.
 */
export function chainHash(previousHash: string, event: Hashable): string {
  return createHash("sha256").update(previousHash).update("\n").update(canonicalEvent(event)).digest("hex");
}

/** Folds a run of events into the hash after the last one. */
export function chainOver(previousHash: string, events: Iterable<RecordedEvent>): string {
  let hash = previousHash;
  for (const e of events) hash = chainHash(hash, e);
  return hash;
}

/**
 * One event's own fingerprint, sha-256 of its canonical bytes: what an audit entry carries. It
 * depends on that event alone, so the projection that stores it stays a pure function.
 */
export function eventDigest(event: Hashable): string {
  return createHash("sha256").update(canonicalEvent(event)).digest("hex");
}
