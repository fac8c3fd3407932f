import { createHash, randomBytes } from "node:crypto";
import { chmodSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Development mode's master key, one per data directory, beside the event store (0600). */
export const DEV_MASTER_KEY_FILE = "secrets-master.key";

export interface MasterKey {
  /** 32 bytes */
  key: Buffer;
  /** a public fingerprint of the key: which master key wrapped a data key */
  id: string;
}

/**
 * 32 bytes given as 64 hex digits or as base64/base64url (44 or 43 characters); anything else is
 * refused with a message, never guessed at (a passphrase would silently be a weak key).
 */
export function parseMasterKey(text: string): MasterKey | string {
  const t = text.trim();
  let key: Buffer | null = null;
  if (/^[0-9a-fA-F]{64}$/.test(t)) key = Buffer.from(t, "hex");
  else if (/^[A-Za-z0-9+/_-]{43}={0,1}$/.test(t)) key = Buffer.from(t.replace(/-/g, "+").replace(/_/g, "/"), "base64");
  if (!key || key.length !== 32) return "must be 32 random bytes, as 64 hex digits or base64 (e.g. openssl rand -base64 32)";
  return { key, id: masterKeyId(key) };
}

export function masterKeyId(key: Buffer): string {
  return createHash("sha256").update("korch-secrets-kek-id:").update(key).digest("hex").slice(0, 16);
}

/**
 * Reads DATA_DIR/secrets-master.key, creating it on first use (development only). Two processes
 * starting on one directory agree on one key: it is written whole under a private name and linked
 * into place, and the loser of the link reads the winner's (as src/platform/dev-secrets.ts does).
 */
export function loadOrCreateDevMasterKey(dataDir: string): MasterKey {
  const file = join(dataDir, DEV_MASTER_KEY_FILE);
  const existing = readKeyFile(file);
  if (existing) {
    chmodSync(file, 0o600);
    return existing;
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  writeFileSync(temp, randomBytes(32).toString("base64") + "\n", { mode: 0o600, flag: "wx" });
  try {
    linkSync(temp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  } finally {
    unlinkSync(temp);
  }
  const made = readKeyFile(file);
  if (!made) throw new Error(`${file} vanished while it was being created`);
  return made;
}

function readKeyFile(file: string): MasterKey | null {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
  const parsed = parseMasterKey(text);
  if (typeof parsed === "string") throw new Error(`${file} is damaged (${parsed}); it holds the key to every development secret`);
  return parsed;
}
