// Development mode's signing key and join token: random, made once per data directory and kept
// beside the event store, so tokens survive a restart but no key is ever a constant in the source
// (a known key lets anyone forge an Admin token for a server someone forgot to put in production).
import { randomBytes } from "node:crypto";
import { chmodSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";

export const DEV_SECRETS_FILE = "dev-secrets.json";

const DevSecretsSchema = z.object({ jwtSecret: z.string().min(32), agentJoinToken: z.string().min(16) });
export type DevSecrets = z.infer<typeof DevSecretsSchema>;

function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}

/** The secrets in DATA_DIR/dev-secrets.json, or null when there is no such file. Throws if it is damaged. */
export function readDevSecrets(dataDir: string): DevSecrets | null {
  const file = join(dataDir, DEV_SECRETS_FILE);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if (isErrno(err, "ENOENT")) return null;
    throw err;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const result = DevSecretsSchema.safeParse(parsed);
  if (!result.success) throw new Error(`${file} is damaged; delete it to generate new development secrets`);
  return result.data;
}

/**
 * Reads the data directory's development secrets, creating them on first use. Two processes
 * starting on one directory at once agree on one file: it is written whole under a private name
 * and linked into place, and the loser of the link reads the winner's.
 */
export function loadOrCreateDevSecrets(dataDir: string): DevSecrets {
  const existing = readDevSecrets(dataDir);
  if (existing) {
    // tighten a file an older version or a copy left readable; the umask only ever removes bits
    chmodSync(join(dataDir, DEV_SECRETS_FILE), 0o600);
    return existing;
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const fresh: DevSecrets = { jwtSecret: randomBytes(32).toString("base64url"), agentJoinToken: randomBytes(24).toString("base64url") };
  const file = join(dataDir, DEV_SECRETS_FILE);
  const temp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  writeFileSync(temp, JSON.stringify(fresh, null, 2) + "\n", { mode: 0o600, flag: "wx" });
  try {
    linkSync(temp, file);
    return fresh;
  } catch (err) {
    if (!isErrno(err, "EEXIST")) throw err;
    const winner = readDevSecrets(dataDir);
    if (!winner) throw new Error(`${file} vanished while it was being created`);
    return winner;
  } finally {
    unlinkSync(temp);
  }
}
