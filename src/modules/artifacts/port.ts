// Artifact storage: module bytes kept by their SHA-256, so a digest names exactly one content.
// An upload is staged first (hashed while it streams in, never held in memory whole), judged, then
// committed under its digest or discarded: a refused upload leaves nothing behind.
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
  /** keep it under its digest (a no-op when that content is already stored) */
  commit(): Promise<void>;
  /** forget it; safe to call twice, or after commit (then it does nothing) */
  discard(): Promise<void>;
}

export interface StoredArtifact {
  size: number;
  stream: Readable;
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
  delete(sha256: string): Promise<boolean>;
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
