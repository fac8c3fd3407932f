// MongoDB GridFS: each artifact is a GridFS file named sha256/<hex> in the "artifacts" bucket;
// uploads go to a staging name first and are renamed on commit. Thin on purpose: the file adapter
// runs the same contract suite (test/contracts/artifact-store.ts). The commit time is the files
// document's metadata.committedAt (its uploadDate for artifacts committed before it was kept),
// renewed by every commit of the content; the sweep's delete is conditional on it, in one
// document operation, so a commit and a sweep never both believe they won.
import { createHash, randomUUID } from "node:crypto";
import { once } from "node:events";
import { finished } from "node:stream/promises";
import { GridFSBucket, MongoClient, ObjectId, type Collection, type Db, type Filter, type GridFSFile } from "mongodb";
import { systemClock, type Clock } from "../../platform/clock.js";
import { ArtifactTooLargeError, checkSha256, type ArtifactStore, type CommittedArtifact, type StagedArtifact, type StoredArtifact } from "./port.js";

const nameOf = (sha256: string) => `sha256/${checkSha256(sha256)}`;
/** staging older than this was left by a crash: no upload is judged for an hour (file.ts alike) */
const STALE_STAGING_MS = 3600_000;
const COMMITTED = /^sha256\/([0-9a-f]{64})$/;

/** a files document committed (or committed again) before `cutoff` */
const committedBefore = (cutoff: Date): Filter<GridFSFile> => ({
  $or: [{ "metadata.committedAt": { $lt: cutoff } }, { "metadata.committedAt": { $exists: false }, uploadDate: { $lt: cutoff } }],
});

export class GridFsArtifactStore implements ArtifactStore {
  readonly kind = "gridfs";
  private readonly bucket: GridFSBucket;
  private readonly files: Collection<GridFSFile>;

  constructor(
    readonly db: Db,
    private readonly client: MongoClient | null,
    private readonly bucketName = "artifacts",
    /** dates commits (the sweep compares those dates with its own clock: give both the same one) */
    private readonly clock: Clock = systemClock,
  ) {
    this.bucket = new GridFSBucket(db, { bucketName });
    this.files = db.collection<GridFSFile>(`${bucketName}.files`);
  }

  static async connect(url: string, dbName: string, options: { bucketName?: string; clock?: Clock } = {}): Promise<GridFsArtifactStore> {
    const client = new MongoClient(url);
    await client.connect();
    const store = new GridFsArtifactStore(client.db(dbName), client, options.bucketName, options.clock);
    await store.sweep();
    return store;
  }

  /**
   * Removes what a crash left in staging: uploads stored whole but neither committed nor discarded,
   * and the chunks of uploads that never finished (GridFS writes their file document last). An
   * upload's id is made as it opens, so the id dates those chunks. Another instance may be staging
   * right now: only what is older than STALE_STAGING_MS goes. Answers how many uploads it removed.
   */
  async sweep(now = Date.now()): Promise<number> {
    const cutoff = now - STALE_STAGING_MS;
    let swept = 0;
    for (const f of await this.bucket.find({ filename: { $regex: "^staging/" }, uploadDate: { $lt: new Date(cutoff) } }).toArray()) {
      await this.bucket.delete(f._id).catch(() => undefined);
      swept++;
    }
    const chunks = this.db.collection<{ files_id: ObjectId; n: number }>(`${this.bucketName}.chunks`);
    const started = await chunks.distinct("files_id", { n: 0, files_id: { $lt: ObjectId.createFromTime(Math.floor(cutoff / 1000)) } });
    if (!started.length) return swept;
    const files = this.db.collection(`${this.bucketName}.files`);
    const whole = new Set((await files.find({ _id: { $in: started } }, { projection: { _id: 1 } }).toArray()).map((d) => String(d._id)));
    for (const id of started) {
      if (whole.has(String(id))) continue;
      await chunks.deleteMany({ files_id: id });
      swept++;
    }
    return swept;
  }

  async stage(source: AsyncIterable<Uint8Array>, options: { maxBytes: number }): Promise<StagedArtifact> {
    const upload = this.bucket.openUploadStream(`staging/${randomUUID()}`, { metadata: { staging: true } });
    const hash = createHash("sha256");
    let size = 0;
    try {
      for await (const chunk of source) {
        size += chunk.byteLength;
        if (size > options.maxBytes) throw new ArtifactTooLargeError(options.maxBytes);
        hash.update(chunk);
        if (!upload.write(chunk)) await once(upload, "drain");
      }
      upload.end();
      await finished(upload);
    } catch (err) {
      await upload.abort().catch(() => undefined);
      throw err;
    }
    const id: ObjectId = upload.id;
    const sha256 = hash.digest("hex");
    let settled = false;
    return {
      sha256,
      size,
      read: () => this.readById(id),
      commit: async () => {
        if (settled) return;
        settled = true;
        const committedAt = new Date(this.clock.now());
        // the same content there already: its commit time is renewed, in the documents a sweep's
        // conditional delete looks at (whichever of the two comes first, the other sees it)
        const renewed = await this.files.updateMany({ filename: nameOf(sha256) }, { $set: { "metadata.committedAt": committedAt } });
        if (renewed.matchedCount > 0) await this.bucket.delete(id);
        else {
          // named and dated in one update, so no sweep ever sees it with the staging time
          const named = await this.files.updateOne({ _id: id }, { $set: { filename: nameOf(sha256), metadata: { committedAt } } });
          // (as GridFSBucket.rename does: staging that is gone, e.g. swept as stale, is not a commit)
          if (named.matchedCount === 0) throw new Error(`the staged artifact ${String(id)} is gone; nothing was committed`);
        }
      },
      discard: async () => {
        if (settled) return;
        settled = true;
        await this.bucket.delete(id).catch(() => undefined);
      },
    };
  }

  private async findId(sha256: string): Promise<{ id: ObjectId; length: number } | null> {
    const [file] = await this.bucket.find({ filename: nameOf(sha256) }, { limit: 1, sort: { uploadDate: 1 } }).toArray();
    return file ? { id: file._id, length: file.length } : null;
  }

  private async readById(id: ObjectId): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of this.bucket.openDownloadStream(id)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async open(sha256: string): Promise<StoredArtifact | null> {
    const file = await this.findId(sha256);
    return file ? { size: file.length, stream: this.bucket.openDownloadStream(file.id) } : null;
  }

  async readAll(sha256: string): Promise<Buffer | null> {
    const file = await this.findId(sha256);
    return file ? this.readById(file.id) : null;
  }

  async has(sha256: string): Promise<boolean> {
    return (await this.findId(sha256)) !== null;
  }

  async *listCommitted(): AsyncIterable<CommittedArtifact> {
    const cursor = this.files.find({ filename: { $regex: "^sha256/" } }, { projection: { filename: 1, length: 1, uploadDate: 1, metadata: 1 } });
    // two first commits of the same content at once may leave two documents: each is listed
    for await (const f of cursor) {
      const sha256 = COMMITTED.exec(f.filename)?.[1];
      const at = f.metadata?.committedAt;
      if (sha256) yield { sha256, size: f.length, committedAt: (at instanceof Date ? at : f.uploadDate).getTime() };
    }
  }

  async delete(sha256: string, options: { committedBefore?: number } = {}): Promise<boolean> {
    const { committedBefore: before } = options;
    const files = await this.bucket.find({ filename: nameOf(sha256) }, { projection: { _id: 1 } }).toArray();
    const chunks = this.db.collection<{ files_id: ObjectId }>(`${this.bucketName}.chunks`);
    let removed = false;
    for (const f of files) {
      // the files document first and on its condition (a commit renews it in the same document),
      // then its chunks, as GridFSBucket.delete orders them
      const condition = before === undefined ? {} : committedBefore(new Date(before));
      const r = await this.files.deleteOne({ _id: f._id, ...condition });
      if (r.deletedCount === 0) continue;
      await chunks.deleteMany({ files_id: f._id });
      removed = true;
    }
    return removed;
  }

  async close(): Promise<void> {
    await this.client?.close();
  }
}
