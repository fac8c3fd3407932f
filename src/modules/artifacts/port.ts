// Artifact storage: module bytes kept by their SHA-256, so a digest names exactly one content.
// An upload is staged first (hashed while it streams in, never held in memory whole), judged, then
// committed under its digest or discarded. Bytes committed whose event never came (a lost race
// for the same version, an append that failed, a crash between the two) are found and removed by
// the artifact sweep (src/processes/artifact-sweep.ts), which needs the listing and the
// conditional delete below; a commit time that every commit renews keeps it off uploads in flight.
import type { Readable } from "node:stream";

/** An upload larger than the limit: reading stopped at the limit and nothing was kept. */
export class ArtifactTooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`the artifact is larger than ${maxBytes} bytes`);
    this.name = "ArtifactTooLargeError";
  }
}

export interface StagedArtifact {
  /** lower-case hex SHA-256 of the bytes */
  readonly sha256: string;
  readonly size: number;
  /** the staged bytes in one buffer (verification reads the module whole) */
  read(): Promise<Buffer>;
  /**
   * Keep it under its digest, committed now. Content already stored is not written again, but its
   * commit time is set to now: an upload about to name those bytes in an event gets the sweep's
   * whole grace period again. A no-op once this staged artifact was committed or discarded.
   */
  commit(): Promise<void>;
  /** forget it; safe to call twice, or after commit (then it does nothing) */
  discard(): Promise<void>;
}

export interface StoredArtifact {
  size: number;
  stream: Readable;
}

/** A committed artifact as the sweep sees it. */
export interface CommittedArtifact {
  sha256: string;
  size: number;
  /** epoch ms of its commit, or of the last commit of the same content since */
  committedAt: number;
}

export interface ArtifactStore {
  readonly kind: string;
  /** streams `source` into a staging area; ArtifactTooLargeError past maxBytes (staging removed) */
  stage(source: AsyncIterable<Uint8Array>, options: { maxBytes: number }): Promise<StagedArtifact>;
  /** the bytes of a committed artifact, streamed; null when absent */
  open(sha256: string): Promise<StoredArtifact | null>;
  /** the bytes of a committed artifact in one buffer; null when absent */
  readAll(sha256: string): Promise<Buffer | null>;
  has(sha256: string): Promise<boolean>;
  /** every committed artifact, in no set order (one committed or deleted meanwhile may be missing or listed) */
  listCommitted(): AsyncIterable<CommittedArtifact>;
  /**
   * Removes a committed artifact; true when this call removed it. With `committedBefore`, only if
   * its commit time is still before then, decided atomically against a concurrent commit of the
   * same content (which renews that time): a sweep never takes bytes an upload just committed.
   */
  delete(sha256: string, options?: { committedBefore?: number }): Promise<boolean>;
  close(): Promise<void>;
}

const HEX64 = /^[0-9a-f]{64}$/;
/** Digests reach paths and queries: only exactly 64 lower-case hex characters ever do. */
export function checkSha256(sha256: string): string {
  if (!HEX64.test(sha256)) throw new Error(`not a SHA-256 hex digest: ${JSON.stringify(sha256.slice(0, 80))}`);
  return sha256;
}

export const digestOf = (sha256: string) => `sha256:${sha256}`;
/** "sha256:<hex>" -> "<hex>", null for anything else */
export function sha256Of(digest: string): string | null {
  const m = /^sha256:([0-9a-f]{64})$/.exec(digest);
  return m ? m[1]! : null;
}
