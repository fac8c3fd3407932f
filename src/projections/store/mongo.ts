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
      // Servers before 7.0 refuse to drop a collection that does not exist.
      if (err instanceof MongoServerError && (err.codeName === "NamespaceNotFound" || /ns not found/.test(err.message))) return;
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

  async put(doc: T): Promise<void> {
    try {
      await this.c.replaceOne({ _id: doc._id }, doc, { upsert: true });
    } catch (err) {
      throw duplicateKey(this.name, err) ?? err;
    }
  }

  async putMany(docs: T[]): Promise<void> {
    if (docs.length === 0) return;
    const ops: AnyBulkWriteOperation<Doc>[] = docs.map((doc) => ({
      replaceOne: { filter: { _id: doc._id }, replacement: doc, upsert: true },
    }));
    try {
      await this.c.bulkWrite(ops, { ordered: false });
    } catch (err) {
      throw duplicateKey(this.name, err) ?? err;
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
