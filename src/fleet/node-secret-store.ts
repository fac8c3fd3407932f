import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { z } from "zod";

/**
 * Where an agent keeps the node secrets the server issued, so that after a restart it can prove it
 * is the node it was (the server refuses to hand an existing node to anyone else). Keyed by
 * server, cluster and hostname: the same hostname on another server or cluster is another node.
 */
export interface NodeSecretStore {
  get(key: string): Promise<string | undefined>;
  set(key: string, secret: string): Promise<void>;
}

export function nodeSecretKey(baseUrl: string, environment: string, hostname: string): string {
  return `${baseUrl} ${environment.toLowerCase()} ${hostname.toLowerCase()}`;
}

/** Secrets for as long as the process lives: enough to register again after a token expires. */
export class MemoryNodeSecretStore implements NodeSecretStore {
  private readonly secrets = new Map<string, string>();
  async get(key: string) {
    return this.secrets.get(key);
  }
  async set(key: string, secret: string) {
    this.secrets.set(key, secret);
  }
}

const FileSchema = z.object({ version: z.literal(1), secrets: z.record(z.string(), z.string()) });

/**
 * Secrets in one JSON file, mode 0600 in a 0700 directory. Every change rewrites the file through
 * a temporary file and a rename, one write at a time, so a crash leaves the old or the new file,
 * never half of one.
 */
export class FileNodeSecretStore implements NodeSecretStore {
  private secrets: Promise<Map<string, string>> | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(readonly path: string) {}

  private load(): Promise<Map<string, string>> {
    this.secrets ??= readFile(this.path, "utf8").then(
      (text) => {
        let parsed: z.infer<typeof FileSchema>;
        try {
          parsed = FileSchema.parse(JSON.parse(text));
        } catch {
          throw new Error(`${this.path} is not a node credentials file (expected {"version":1,"secrets":{...}})`);
        }
        return new Map(Object.entries(parsed.secrets));
      },
      (err: NodeJS.ErrnoException) => {
        if (err.code === "ENOENT") return new Map<string, string>();
        throw err;
      },
    );
    return this.secrets;
  }

  async get(key: string) {
    return (await this.load()).get(key);
  }

  async set(key: string, secret: string) {
    const secrets = await this.load();
    secrets.set(key, secret);
    const text = JSON.stringify({ version: 1, secrets: Object.fromEntries(secrets) }, null, 2);
    const write = this.writing.then(async () => {
      await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
      const tmp = `${this.path}.${process.pid}.tmp`;
      await writeFile(tmp, text, { mode: 0o600 });
      await chmod(tmp, 0o600); // writeFile's mode applies only to a file it creates
      await rename(tmp, this.path);
    });
    // the next write waits for this one whether or not it failed; this caller sees the failure
    this.writing = write.catch(() => undefined);
    await write;
  }
}
