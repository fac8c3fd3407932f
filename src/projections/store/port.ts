/** Every read-model document has a string id. */
export interface Doc {
  _id: string;
  [key: string]: unknown;
}

export type Filter = Record<string, unknown>;
export type Sort = Record<string, 1 | -1>;

export interface FindOptions {
  sort?: Sort;
  limit?: number;
  skip?: number;
  projection?: Record<string, 0 | 1>;
}

export interface IndexSpec {
  name: string;
  keys: Record<string, 1 | -1>;
  unique?: boolean;
  /** documents expire this many seconds after the Date in the (single) indexed field */
  expireAfterSeconds?: number;
}

export class DuplicateKeyError extends Error {
  constructor(readonly collection: string, readonly index: string) {
    super(`duplicate key in ${collection} for unique index ${index}`);
    this.name = "DuplicateKeyError";
  }
}

/**
 * A narrow collection API with MongoDB query semantics (mingo in memory, the driver on MongoDB).
 * Deliberately no update operators: projections compute whole documents and `put` them.
 */
export interface Collection<T extends Doc = Doc> {
  get(id: string): Promise<T | null>;
  /**
   * Insert or replace by _id; throws DuplicateKeyError when a unique index is violated.
   * Conditional on `lastPosition` when both the stored and the new document carry a number
   * there: a document older than the stored one is not written (nor is that an error), so a
   * second or late writer cannot move a read model backwards. Equal positions replace.
   */
  put(doc: T): Promise<void>;
  /** put for each document, unordered: every valid one is written, then the first violation is thrown */
  putMany(docs: T[]): Promise<void>;
  delete(id: string): Promise<boolean>;
  deleteMany(filter: Filter): Promise<number>;
  find(filter?: Filter, options?: FindOptions): Promise<T[]>;
  count(filter?: Filter): Promise<number>;
  aggregate<R = Doc>(pipeline: Record<string, unknown>[]): Promise<R[]>;
  ensureIndex(spec: IndexSpec): Promise<void>;
}

export interface ReadStore {
  readonly kind: string;
  collection<T extends Doc = Doc>(name: string): Collection<T>;
  /** drops a collection (used by projection rebuilds) */
  drop(name: string): Promise<void>;
  /**
   * Replaces collection `to` (documents and indexes) with collection `from`, in one step for
   * readers, and `from` is gone afterwards: how a read model rebuilt beside the live one is
   * switched in (blue-green rebuild). A missing `from` changes nothing, so repeating a rename
   * whose answer was lost is safe.
   */
  rename(from: string, to: string): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
