import { aggregate as mingoAggregate, find as mingoFind, Query } from "mingo";
import { systemClock, type Clock } from "../../platform/clock.js";
import {
  DuplicateKeyError,
  type Collection,
  type Doc,
  type Filter,
  type FindOptions,
  type IndexSpec,
  type ReadStore,
} from "./port.js";

export interface MemoryReadStoreOptions {
  /** how often TTL indexes are pruned; 0 disables the timer (call prune() yourself). Default 60 s, like MongoDB. */
  ttlIntervalMs?: number;
  clock?: Clock;
}

interface UniqueIndex {
  spec: IndexSpec;
  /** encoded key -> _id of the document holding it */
  owners: Map<string, string>;
}

interface CollectionState {
  docs: Map<string, Doc>;
  unique: Map<string, UniqueIndex>;
  ttl: Map<string, IndexSpec>;
}

// Stored documents are private: everything crossing the API boundary is copied.
const copy = <T>(value: T): T => structuredClone(value);

function valueAt(doc: Doc, path: string): unknown {
  let v: unknown = doc;
  for (const part of path.split(".")) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

/** The unique-index key of a document; a missing field counts as null, as in MongoDB. */
function indexKey(doc: Doc, spec: IndexSpec): string {
  return JSON.stringify(Object.keys(spec.keys).map((k) => valueAt(doc, k) ?? null));
}

/** `{_id: "x"}`, `{_id: {$eq: "x"}}` or `{_id: {$in: [...]}}` name their candidates: no scan needed. */
function idCandidates(filter: Filter | undefined): string[] | undefined {
  const id = filter?._id;
  if (typeof id === "string") return [id];
  if (id && typeof id === "object" && !Array.isArray(id)) {
    const ops = id as Record<string, unknown>;
    if (typeof ops.$eq === "string") return [ops.$eq];
    if (Array.isArray(ops.$in) && ops.$in.every((v) => typeof v === "string")) return [...new Set(ops.$in as string[])];
  }
  return undefined;
}

/**
 * The embedded ReadStore: documents in Maps, queried with mingo (MongoDB query and aggregation
 * semantics). Unique indexes are enforced on put; TTL indexes are pruned by prune() or a timer.
 */
export class MemoryReadStore implements ReadStore {
  readonly kind = "memory";
  private readonly collections = new Map<string, CollectionState>();
  private readonly clock: Clock;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: MemoryReadStoreOptions = {}) {
    this.clock = options.clock ?? systemClock;
    const interval = options.ttlIntervalMs ?? 60_000;
    if (interval > 0) {
      this.timer = setInterval(() => this.prune(new Date(this.clock.now())), interval);
      this.timer.unref();
    }
  }

  collection<T extends Doc = Doc>(name: string): Collection<T> {
    return new MemoryCollection<T>(name, this);
  }

  async drop(name: string): Promise<void> {
    this.collections.delete(name);
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Deletes every document whose TTL has passed; returns how many. */
  prune(now: Date): number {
    let removed = 0;
    for (const state of this.collections.values()) {
      for (const spec of state.ttl.values()) {
        const field = Object.keys(spec.keys)[0]!;
        const cutoff = now.getTime() - (spec.expireAfterSeconds ?? 0) * 1000;
        for (const doc of [...state.docs.values()]) {
          if (expiresAt(valueAt(doc, field)) <= cutoff) {
            removeDoc(state, doc._id);
            removed++;
          }
        }
      }
    }
    return removed;
  }

  /** @internal the live state of a collection, created on first use */
  state(name: string): CollectionState {
    let s = this.collections.get(name);
    if (!s) {
      s = { docs: new Map(), unique: new Map(), ttl: new Map() };
      this.collections.set(name, s);
    }
    return s;
  }

  /** @internal $lookup / $graphLookup read other collections of this store through this */
  resolve = (name: string): Doc[] => [...(this.collections.get(name)?.docs.values() ?? [])];
}

/** MongoDB expires on the earliest Date of an array; anything that is not a Date never expires. */
function expiresAt(value: unknown): number {
  const dates = (Array.isArray(value) ? value : [value]).filter((v): v is Date => v instanceof Date);
  return dates.length ? Math.min(...dates.map((d) => d.getTime())) : Infinity;
}

function removeDoc(state: CollectionState, id: string): boolean {
  const old = state.docs.get(id);
  if (!old) return false;
  for (const index of state.unique.values()) {
    const key = indexKey(old, index.spec);
    if (index.owners.get(key) === id) index.owners.delete(key);
  }
  state.docs.delete(id);
  return true;
}

class MemoryCollection<T extends Doc> implements Collection<T> {
  constructor(
    private readonly name: string,
    private readonly store: MemoryReadStore,
  ) {}

  private get s(): CollectionState {
    return this.store.state(this.name);
  }

  async get(id: string): Promise<T | null> {
    const doc = this.s.docs.get(id);
    return doc ? (copy(doc) as T) : null;
  }

  async put(doc: T): Promise<void> {
    this.write(copy(doc));
  }

  /** Like MongoDB's unordered bulk write: every valid document is written, then the first violation is thrown. */
  async putMany(docs: T[]): Promise<void> {
    let failure: unknown;
    for (const doc of docs) {
      try {
        this.write(copy(doc));
      } catch (err) {
        if (!(err instanceof DuplicateKeyError)) throw err;
        failure ??= err;
      }
    }
    if (failure) throw failure;
  }

  private write(doc: Doc): void {
    if (typeof doc._id !== "string") throw new TypeError(`${this.name}: document _id must be a string`);
    const state = this.s;
    const keys: [UniqueIndex, string][] = [];
    for (const index of state.unique.values()) {
      const key = indexKey(doc, index.spec);
      const owner = index.owners.get(key);
      if (owner !== undefined && owner !== doc._id) throw new DuplicateKeyError(this.name, index.spec.name);
      keys.push([index, key]);
    }
    removeDoc(state, doc._id);
    for (const [index, key] of keys) index.owners.set(key, doc._id);
    state.docs.set(doc._id, doc);
  }

  async delete(id: string): Promise<boolean> {
    return removeDoc(this.s, id);
  }

  async deleteMany(filter: Filter): Promise<number> {
    const state = this.s;
    const ids = this.matching(filter).map((d) => d._id);
    for (const id of ids) removeDoc(state, id);
    return ids.length;
  }

  async find(filter: Filter = {}, options: FindOptions = {}): Promise<T[]> {
    // mingo's cursor costs a fixed ~0.3 ms per call, so it is used only for what needs it.
    let docs: Doc[] = this.matching(filter);
    const sortKeys = options.sort ? Object.keys(options.sort) : [];
    if (sortKeys.length === 1 && sortKeys[0] === "_id") {
      // _id is always a string here, so a plain comparison gives MongoDB's order (cursor paging).
      const dir = options.sort!._id!;
      docs.sort((a, b) => (a._id < b._id ? -dir : a._id > b._id ? dir : 0));
    } else if (options.sort && docs.length > 1) docs = mingoFind(docs, {}).sort(options.sort).all() as Doc[];
    const skip = options.skip ?? 0;
    if (skip || options.limit) docs = docs.slice(skip, options.limit ? skip + options.limit : undefined);
    if (options.projection) docs = mingoFind(docs, {}, options.projection).all() as Doc[];
    return docs.map((d) => copy(d) as T);
  }

  async count(filter: Filter = {}): Promise<number> {
    if (Object.keys(filter).length === 0) return this.s.docs.size;
    return this.matching(filter).length;
  }

  async aggregate<R = Doc>(pipeline: Record<string, unknown>[]): Promise<R[]> {
    const out = mingoAggregate(this.s.docs.values(), pipeline, { collectionResolver: this.store.resolve });
    return out.map((d) => copy(d) as R);
  }

  async ensureIndex(spec: IndexSpec): Promise<void> {
    const state = this.s;
    if (spec.expireAfterSeconds !== undefined) {
      if (Object.keys(spec.keys).length !== 1) throw new Error(`${this.name}: a TTL index must have exactly one field`);
      state.ttl.set(spec.name, spec);
    }
    if (!spec.unique || state.unique.has(spec.name)) return;
    // Like MongoDB, building a unique index over documents that already collide fails.
    const owners = new Map<string, string>();
    for (const doc of state.docs.values()) {
      const key = indexKey(doc, spec);
      if (owners.has(key)) throw new DuplicateKeyError(this.name, spec.name);
      owners.set(key, doc._id);
    }
    state.unique.set(spec.name, { spec, owners });
  }

  private candidates(filter: Filter): Iterable<Doc> {
    const docs = this.s.docs;
    const ids = idCandidates(filter);
    if (!ids) return docs.values();
    return ids.map((id) => docs.get(id)).filter((d): d is Doc => d !== undefined);
  }

  /** the stored (uncopied) documents matching a filter */
  private matching(filter: Filter): Doc[] {
    const query = new Query(filter);
    const out: Doc[] = [];
    for (const doc of this.candidates(filter)) if (query.test(doc)) out.push(doc);
    return out;
  }
}
