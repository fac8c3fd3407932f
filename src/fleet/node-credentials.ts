import { createHash, randomBytes } from "node:crypto";

/**
 * A node's secret: 32 random bytes, shown to the agent once. Only its SHA-256 is stored: with that
 * much entropy a plain hash cannot be reversed, so a slow password hash would buy nothing.
 */
export function newNodeSecret(): { secret: string; hash: string } {
  const secret = randomBytes(32).toString("base64url");
  return { secret, hash: hashNodeSecret(secret) };
}

export function hashNodeSecret(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}
