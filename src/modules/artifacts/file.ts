// Content-addressed files under <dir>/sha256/<hex>, written to <dir>/tmp first, fsynced and renamed,
// so a crash leaves either the whole artifact or none (and perhaps a temp file, swept at open).
import { createHash, randomUUID } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { ArtifactTooLargeError, checkSha256, type ArtifactStore, type StagedArtifact, type StoredArtifact } from "./port.js";

/** temp files older than this belong to an upload that died with its process */
const STALE_TEMP_MS = 3600_000;
const WRITE_BATCH_BYTES = 1024 * 1024;

export class FileArtifactStore implements ArtifactStore {
  readonly kind = "file";
  private readonly final: string;
  private readonly tmp: string;

  private constructor(readonly dir: string) {
    this.final = join(dir, "sha256");
    this.tmp = join(dir, "tmp");
  }

  static async open(dir: string): Promise<FileArtifactStore> {
    const store = new FileArtifactStore(dir);
    await mkdir(store.final, { recursive: true, mode: 0o700 });
    await mkdir(store.tmp, { recursive: true, mode: 0o700 });
    await store.sweep();
    return store;
  }

  private async sweep(): Promise<void> {
    const now = Date.now();
    for (const name of await readdir(this.tmp)) {
      const path = join(this.tmp, name);
      const s = await stat(path).catch(() => null);
      if (s && now - s.mtimeMs > STALE_TEMP_MS) await rm(path, { force: true });
    }
  }

  async stage(source: AsyncIterable<Uint8Array>, options: { maxBytes: number }): Promise<StagedArtifact> {
    const tmpPath = join(this.tmp, randomUUID());
    const file = await open(tmpPath, "wx", 0o600);
    const hash = createHash("sha256");
    let size = 0;
    // network chunks are small (16-64 KiB): written in batches, a round trip to the thread pool
    // per MiB instead of per chunk, with at most WRITE_BATCH_BYTES held in memory
    let batch: Uint8Array[] = [];
    let batched = 0;
    const flush = async () => {
      if (batched) await file.writev(batch);
      batch = [];
      batched = 0;
    };
    try {
      for await (const chunk of source) {
        size += chunk.byteLength;
        if (size > options.maxBytes) throw new ArtifactTooLargeError(options.maxBytes);
        hash.update(chunk);
        batch.push(chunk);
        batched += chunk.byteLength;
        if (batched >= WRITE_BATCH_BYTES) await flush();
      }
      await flush();
      await file.sync();
    } catch (err) {
      await file.close().catch(() => undefined);
      await unlink(tmpPath).catch(() => undefined);
      throw err;
    }
    await file.close();
    const sha256 = hash.digest("hex");
    const finalPath = join(this.final, sha256);
    let settled = false;
    return {
      sha256,
      size,
      read: () => readFile(tmpPath),
      commit: async () => {
        if (settled) return;
        // the same content may be there already (another version, another upload): rename replaces it with itself
        await rename(tmpPath, finalPath);
        settled = true;
        await syncDir(this.final);
      },
      discard: async () => {
        if (settled) return;
        settled = true;
        await unlink(tmpPath).catch(() => undefined);
      },
    };
  }

  async open(sha256: string): Promise<StoredArtifact | null> {
    const path = join(this.final, checkSha256(sha256));
    const s = await stat(path).catch(() => null);
    if (!s) return null;
    return { size: s.size, stream: createReadStream(path) };
  }

  async readAll(sha256: string): Promise<Buffer | null> {
    return readFile(join(this.final, checkSha256(sha256))).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return null;
      throw err;
    });
  }

  async has(sha256: string): Promise<boolean> {
    return (await stat(join(this.final, checkSha256(sha256))).catch(() => null)) !== null;
  }

  async delete(sha256: string): Promise<boolean> {
    return unlink(join(this.final, checkSha256(sha256))).then(
      () => true,
      () => false,
    );
  }

  async close(): Promise<void> {}
}

/** makes a rename durable: the directory entry is data too */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r").catch(() => null);
  if (!handle) return;
  try {
    await handle.sync();
  } catch {
    // some filesystems refuse fsync on a directory; the rename itself is still atomic
  } finally {
    await handle.close();
  }
}
