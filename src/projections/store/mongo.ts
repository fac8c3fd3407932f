import {
  MongoBulkWriteError,
  MongoClient,
  MongoServerError,
  type AnyBulkWriteOperation,
  type Db,
  type Document,
  type Collection as MongoCollection,
} from "mongodb";
import {
  DuplicateKeyError,
  type Collection,
  type Doc,
  type Filter,
  type FindOptions,
  type IndexSpec,
  type ReadStore,
} from "./port.js";

const DUPLICATE_KEY = 11000;

/** "E11000 duplicate key error collection: db.c index: by_name dup key: ..." -> "by_name" */
function indexName(message: string): string {
  return /index: (\S+)/.exec(message)?.[1] ?? "unknown";
}

/** Turns MongoDB's E11000 (single write or unordered bulk) into the port's DuplicateKeyError. */
function duplicateKey(collection: string, err: unknown): DuplicateKeyError | undefined {
  if (err instanceof MongoBulkWriteError) {
    const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
    const dup = errors.find((e) => e.code === DUPLICATE_KEY);
    return dup ? new DuplicateKeyError(collection, indexName(dup.errmsg ?? "")) : undefined;
  }
  if (err instanceof MongoServerError && err.code === DUPLICATE_KEY) return new DuplicateKeyError(collection, indexName(err.message));
  return undefined;
}

/** A write refused because a document with this _id exists: with the lastPosition guard, usually a newer one. */
function idDuplicate(err: { code?: unknown; errmsg?: string; message?: string }): boolean {
  return err.code === DUPLICATE_KEY && indexName(err.errmsg ?? err.message ?? "") === "_id_";
}

function namespaceNotFound(err: unknown): boolean {
  // Servers before 7.0 refuse to drop a collection that does not exist; rename of a missing source fails alike.
  return err instanceof MongoServerError && (err.codeName === "NamespaceNotFound" || /ns not found|source namespace .* does not exist/.test(err.message));
}

/**
 * Matches the stored document a put may replace: none newer than the new one. A stored document
 * without a numeric lastPosition matches too ($not also passes missing fields), as in memory.
 */
const replaceable = (doc: Doc) =>
  typeof doc.lastPosition === "number" ? { _id: doc._id, lastPosition: { $not: { $gt: doc.lastPosition } } } : { _id: doc._id };

/** The production ReadStore: a thin pass-through to the official driver. */
export class MongoReadStore implements ReadStore {
  readonly kind = "mongodb";

  private constructor(
    private readonly client: MongoClient,
    readonly db: Db,
  ) {}

  static async connect(url: string, dbName: string): Promise<MongoReadStore> {
    const client = new MongoClient(url);
    await client.connect();
    return new MongoReadStore(client, client.db(dbName));
  }

  collection<T extends Doc = Doc>(name: string): Collection<T> {
    return new MongoDocCollection<T>(name, this.db.collection<Doc>(name));
  }

  async drop(name: string): Promise<void> {
    try {
      await this.db.collection(name).drop();
    } catch (err) {
      if (namespaceNotFound(err)) return;
      throw err;
    }
  }

  async rename(from: string, to: string): Promise<void> {
    try {
      // one catalog operation: readers of `to` see the old collection or the new one, never a mix
      // (not available on sharded collections; read models are not sharded)
      await this.db.renameCollection(from, to, { dropTarget: true });
    } catch (err) {
      if (namespaceNotFound(err)) return;
      throw err;
    }
  }

  async ping(): Promise<void> {
    await this.db.command({ ping: 1 });
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

class MongoDocCollection<T extends Doc> implements Collection<T> {
  constructor(
    private readonly name: string,
    private readonly c: MongoCollection<Doc>,
  ) {}

  async get(id: string): Promise<T | null> {
    return (await this.c.findOne({ _id: id })) as T | null;
  }

  /**
   * An upsert filtered on lastPosition that meets a newer document matches nothing, tries to
   * insert, and fails with E11000 on _id: that is "already applied" (DESIGN.md section 5). The
   * same error also comes from two writers inserting one new document at once; then the stored
   * one may be older, so it is read back and the put tried again.
   */
  async put(doc: T): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.c.replaceOne(replaceable(doc), doc, { upsert: true });
        return;
      } catch (err) {
        if (!(err instanceof MongoServerError) || !idDuplicate(err) || typeof doc.lastPosition !== "number" || attempt >= 3) {
          throw duplicateKey(this.name, err) ?? err;
        }
        const stored = await this.c.findOne({ _id: doc._id }, { projection: { lastPosition: 1 } });
        if (stored && typeof stored.lastPosition === "number" && stored.lastPosition > doc.lastPosition) return;
      }
    }
  }

  async putMany(docs: T[]): Promise<void> {
    if (docs.length === 0) return;
    const ops: AnyBulkWriteOperation<Doc>[] = docs.map((doc) => ({
      replaceOne: { filter: replaceable(doc), replacement: doc, upsert: true },
    }));
    try {
      await this.c.bulkWrite(ops, { ordered: false });
    } catch (err) {
      if (!(err instanceof MongoBulkWriteError)) throw duplicateKey(this.name, err) ?? err;
      const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
      // the guard's refusals are settled one by one (see put); any other error stands
      const others = errors.filter((e) => !(idDuplicate(e) && typeof docs[e.index]?.lastPosition === "number"));
      const dup = others.find((e) => e.code === DUPLICATE_KEY);
      if (dup) throw new DuplicateKeyError(this.name, indexName(dup.errmsg ?? ""));
      if (others.length) throw err;
      for (const e of errors) await this.put(docs[e.index]!);
    }
  }

  async delete(id: string): Promise<boolean> {
    return (await this.c.deleteOne({ _id: id })).deletedCount === 1;
  }

  async deleteMany(filter: Filter): Promise<number> {
    return (await this.c.deleteMany(filter)).deletedCount;
  }

  async find(filter: Filter = {}, options: FindOptions = {}): Promise<T[]> {
    const docs = await this.c
      .find(filter, {
        ...(options.sort && { sort: options.sort }),
        ...(options.skip && { skip: options.skip }),
        ...(options.limit && { limit: options.limit }),
        ...(options.projection && { projection: options.projection }),
      })
      .toArray();
    return docs as T[];
  }

  count(filter: Filter = {}): Promise<number> {
    return this.c.countDocuments(filter);
  }

  async aggregate<R = Doc>(pipeline: Record<string, unknown>[]): Promise<R[]> {
    return (await this.c.aggregate<Document>(pipeline).toArray()) as R[];
  }

  async ensureIndex(spec: IndexSpec): Promise<void> {
    await this.c.createIndex(spec.keys, {
      name: spec.name,
      ...(spec.unique && { unique: true }),
      ...(spec.expireAfterSeconds !== undefined && { expireAfterSeconds: spec.expireAfterSeconds }),
    });
  }
}
