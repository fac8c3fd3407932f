import { createHash } from "node:crypto";

/**
 * A name-based UUID (RFC 9562 version 5 layout, SHA-based) so that the same Idempotency-Key
 * always yields the same event ids and a retried command dedupes in the store.
 */
export function deterministicUuid(name: string): string {
  const h = createHash("sha256").update("kernel-orchestrator:").update(name).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
