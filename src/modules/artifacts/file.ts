// Content-addressed files under <dir>/sha256/<hex>, written to <dir>/tmp first, fsynced and renamed,
// so a crash leaves either the whole artifact or none (and perhaps a temp file, swept at open).
// A file's mtime is its commit time: set by every commit of its content, read by the artifact sweep.
import { createHash, randomUUID } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, opendir, readdir, readFile, rename, rm, stat, unlink, utimes } from "node:fs/promises";
import { join } from "node:path";
import { systemClock, type Clock } from "../../platform/clock.js";
import { ArtifactTooLargeError, checkSha256, type ArtifactStore, type CommittedArtifact, type StagedArtifact, type StoredArtifact } from "./port.js";

/** temp files older than this belong to an upload that died with its process */
const STALE_TEMP_MS = 3600_000;
const WRITE_BATCH_BYTES = 1024 * 1024;
/** a committed artifact a sweep moved aside to judge it: tmp/<prefix><hex>.<uuid> */
const SWEEPING = "sweeping-";
const HEX64 = /^[0-9a-f]{64}$/;

/** commits are dated in whole milliseconds; utimes takes seconds as a double and may read back a hair below */
const commitTimeOf = (mtimeMs: number) => Math.round(mtimeMs);
const isMissing = (err: unknown) => (err as NodeJS.ErrnoException).code === "ENOENT";

export class FileArtifactStore implements ArtifactStore {
  readonly kind = "file";
  private readonly final: string;
  private readonly tmp: string;

  private constructor(
    readonly dir: string,
    private readonly clock: Clock,
  ) {
    this.final = join(dir, "sha256");
    this.tmp = join(dir, "tmp");
  }

  /** `clock` dates commits (the sweep compares those dates with its own clock: give both the same one) */
  static async open(dir: string, options: { clock?: Clock } = {}): Promise<FileArtifactStore> {
    const store = new FileArtifactStore(dir, options.clock ?? systemClock);
    await mkdir(store.final, { recursive: true, mode: 0o700 });
    await mkdir(store.tmp, { recursive: true, mode: 0o700 });
    await store.sweep();
    return store;
  }

  private async sweep(): Promise<void> {
    const now = Date.now();
    for (const name of await readdir(this.tmp)) {
      const path = join(this.tmp, name);
      // a sweep that died while it judged an artifact: put it back (content-addressed, so it
      // cannot clash with a copy committed since); the next sweep judges it again
      const aside = name.startsWith(SWEEPING) ? name.slice(SWEEPING.length, SWEEPING.length + 64) : null;
      if (aside && HEX64.test(aside)) {
        await rename(path, join(this.final, aside)).catch(() => undefined);
        continue;
      }
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
        // dated now before it appears, so no sweep sees it with the staging time. The same content
        // there already (another version, another upload, a concurrent commit) is replaced by this
        // copy: its commit time starts again, and bytes damaged on disk are whole again. A sweep
        // that moves the old copy aside finds it old and drops it; one that moves this copy aside
        // finds it young and puts it back.
        const at = this.clock.now() / 1000;
        await utimes(tmpPath, at, at);
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

  async *listCommitted(): AsyncIterable<CommittedArtifact> {
    for await (const entry of await opendir(this.final)) {
      if (!HEX64.test(entry.name)) continue;
      const s = await stat(join(this.final, entry.name)).catch(() => null);
      if (s?.isFile()) yield { sha256: entry.name, size: s.size, committedAt: commitTimeOf(s.mtimeMs) };
    }
  }

  async delete(sha256: string, options: { committedBefore?: number } = {}): Promise<boolean> {
    const path = join(this.final, checkSha256(sha256));
    const { committedBefore } = options;
    if (committedBefore === undefined) {
      return unlink(path).then(
        () => true,
        () => false,
      );
    }
    // Judged where no commit can touch it: moved aside first (atomic), its commit time read there.
    // A commit that renewed the time before the move is seen; one after it finds the artifact
    // missing and puts its own copy in. Of two sweeps, one moves it and the other finds nothing.
    const aside = join(this.tmp, `${SWEEPING}${sha256}.${randomUUID()}`);
    try {
      await rename(path, aside);
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
    // (gone from aside too: a start of this store put it back meanwhile; the next sweep judges it)
    const s = await stat(aside).catch((err: unknown) => (isMissing(err) ? null : Promise.reject(err)));
    if (!s) return false;
    if (commitTimeOf(s.mtimeMs) < committedBefore) {
      const gone = await unlink(aside).then(
        () => true,
        (err: unknown) => (isMissing(err) ? false : Promise.reject(err)),
      );
      if (gone) await syncDir(this.final);
      return gone;
    }
    // committed again since it was listed: back it goes (over a copy committed meanwhile: the same bytes)
    await rename(aside, path);
    return false;
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
