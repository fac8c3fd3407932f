import { createHash, timingSafeEqual } from "node:crypto";

/**
 * Compares a presented secret with the expected one in time that does not depend on where they
 * differ, nor on the expected one's length (both are hashed to the same length first).
 */
export function secretsEqual(given: string, expected: string): boolean {
  const h = (s: string) => createHash("sha256").update(s, "utf8").digest();
  return timingSafeEqual(h(given), h(expected));
}
