// MongoDB GridFS: each artifact is a GridFS file named sha256/<hex> in the "artifacts" bucket;
// uploads go to a staging name first and are renamed on commit. Thin on purpose: the file adapter
// runs the same contract suite (test/contracts/artifact-store.ts).
import { createHash, randomUUID } from "node:crypto";
import { once } from "node:events";
import { finished } from "node:stream/promises";
import { GridFSBucket, MongoClient, ObjectId, type Db } from "mongodb";
import { ArtifactTooLargeError, checkSha256, type ArtifactStore, type StagedArtifact, type StoredArtifact } from "./port.js";

const nameOf = (sha256: string) => `sha256/${checkSha256(sha256)}`;
/** staging older than this was left by a crash: no upload is judged for an hour (file.ts alike) */
const STALE_STAGING_MS = 3600_000;

export class GridFsArtifactStore implements ArtifactStore {
  readonly kind = "gridfs";
  private readonly bucket: GridFSBucket;

  constructor(
    readonly db: Db,
    private readonly client: MongoClient | null,
    private readonly bucketName = "artifacts",
  ) {
    this.bucket = new GridFSBucket(db, { bucketName });
  }

  static async connect(url: string, dbName: string, bucketName?: string): Promise<GridFsArtifactStore> {
    const client = new MongoClient(url);
    await client.connect();
    const store = new GridFsArtifactStore(client.db(dbName), client, bucketName);
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
        if (await this.findId(sha256)) await this.bucket.delete(id);
        else await this.bucket.rename(id, nameOf(sha256));
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

  async delete(sha256: string): Promise<boolean> {
    const files = await this.bucket.find({ filename: nameOf(sha256) }).toArray();
    for (const f of files) await this.bucket.delete(f._id);
    return files.length > 0;
  }

  async close(): Promise<void> {
    await this.client?.close();
  }
}
