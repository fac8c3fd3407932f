import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";

/** What `korch login` remembers. */
export interface Credentials {
  server: string;
  token: string;
  username?: string;
  expiresAt?: string;
}

export function credentialsPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.KORCH_CONFIG || join(env.XDG_CONFIG_HOME || join(homedir(), ".config"), "korch", "credentials.json");
}

export function readCredentials(path: string): Credentials | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
  const value = JSON.parse(text) as Partial<Credentials>;
  return typeof value.token === "string" && typeof value.server === "string" ? (value as Credentials) : undefined;
}

/** The token is a secret: the file is readable by its owner only (chmod too, in case it existed). */
export function writeCredentials(path: string, credentials: Credentials): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, JSON.stringify(credentials, null, 2) + "\n", { mode: 0o600 });
  chmodSync(path, 0o600);
}
