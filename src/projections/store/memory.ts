import { aggregate as mingoAggregate, find as mingoFind, Query } from "mingo";
import { systemClock, type Clock } from "../../platform/clock.js";
import { simpleInclusion, simpleSort, type Picker } from "./simple-projection.js";
import { isFixedDate, isKeptAsIs, noteKeptAsIs } from "./kept-as-is.js";
import { bucketAdd, bucketDelete, bucketSize, type Bucket } from "./memory-buckets.js";
import { forgetOrder, keepOrder, newOrder, orderedDocs, orderRange, type SortedOrder } from "./memory-order.js";
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
  /**
   * A find uses an index's candidates (instead of walking in _id order, or testing every
   * document) when they are at most this share of the collection. Default 1/16; tests set 1.
   */
  indexShare?: number;
}

interface UniqueIndex {
  spec: IndexSpec;
  /** encoded key -> _id of the document holding it */
  owners: Map<string, string>;
}

/**
 * The first field of a declared index, for equality lookups: ids by plain scalar value, plus the
 * ids whose value there is an array, a Date or a sub-document (MongoDB equality may match inside
 * those, so they are always candidates). Missing and null values are left out: an equality on a
 * plain scalar never matches them.
 */
interface FieldIndex {
  path: string[];
  byValue: Map<unknown, Bucket>;
  undecided: Set<string>;
}

interface CollectionState {
  docs: Map<string, Doc>;
  unique: Map<string, UniqueIndex>;
  ttl: Map<string, IndexSpec>;
  /** by dotted path */
  fields: Map<string, FieldIndex>;
  /**
   * Every _id in ascending order, so a find sorted on _id with a limit (cursor paging, the
   * audit log) walks documents in order and stops early instead of testing and sorting all of
   * them. null means "stale": rebuilt on the next such find. Appends in id order and single
   * deletes keep it current; bulk deletes (prune, deleteMany) just mark it stale.
   */
  sortedIds: string[] | null;
  /** bumped by every write and delete: what was derived from the documents at another version is stale */
  version: number;
  /** by the sort's JSON: every sort naming _id besides other fields that a find was asked for, kept in order (see SortedOrder) */
  sortedBy: Map<string, SortedOrder>;
}

// Stored documents are frozen, deeply, and reads hand out the stored objects themselves: a reader
// that tries to change one gets a TypeError instead of changing the store (or paying a copy: the
// ten-thousand-node deployment document was copied in and out on every projection batch, and the
// deployment runner's look at the fleet copied every node document on every step).
// A write stores a copy of what it is given, so the writer may keep changing its own objects; the
// copy shares every part a previous write already froze (immutable, so safe to share), so a
// document written back with a few changes costs its changed parts and the containers above them.
//
// What cannot be frozen in place (Maps, Sets, typed arrays and other class instances) makes its
// document one that is copied on every read, as every document used to be. Dates are frozen like
// the rest; their setters still work, so a Date read from the store must not be changed.
/** A deep copy (for what freezing cannot protect), keeping a field named __proto__ a field. */
function copy<T>(value: T): T {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(copy) as T;
  if (value instanceof Date) return new Date(value.getTime()) as T;
  if (value instanceof Map) return new Map([...value].map(([k, v]) => [copy(k), copy(v)])) as T;
  if (value instanceof Set) return new Set([...value].map(copy)) as T;
  if (ArrayBuffer.isView(value)) return (value as unknown as { slice(): T }).slice();
  const o: Record<string, unknown> = {};
  for (const key of Object.keys(value)) setField(o, key, copy((value as Record<string, unknown>)[key]));
  return o as T;
}

/** A key named like Object.prototype's accessor must become a field, not a new prototype. */
function setField(o: Record<string, unknown>, key: string, v: unknown): void {
  if (key === "__proto__") Object.defineProperty(o, key, { value: v, enumerable: true, writable: true, configurable: true });
  else o[key] = v;
}

// Containers this module froze together with everything inside them are shared freely between
// writes: noted in kept-as-is.ts (with the Dates their makers promise never to change). Only Dates
// and containers that hold objects are noted: a frozen container holding only scalars is seen to
// be immutable by a look at its values, as cheap as the lookup, and such leaves (an audit entry's
// actor, a node's labels) were half of the ~180,000 entries (8 MiB of table) at ten thousand
// nodes. (A Date cannot be told apart that way: its setters work on a frozen one.)
/** Stored documents holding a value that freezing cannot protect: copied on every read. */
const copiedOnRead = new WeakSet<Doc>();

const isPlainObject = (v: object): boolean => {
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
};

/**
 * A deeply frozen copy of `value`, sharing what is already deeply frozen; `found.unfreezable`
 * counts the parts that cannot be frozen (each a plain copy, left as it is). A container whose
 * contents all come back as they were is copied with one spread (or shared, when its maker froze
 * it): a ten-thousand-entry map of frozen nodes costs a look at each entry and a native copy.
 *
 * `top`: `value` is a whole document, which is not noted as kept as it is: a note is for a part a
 * later write shares, and a later write of a document is a new object (the runner's, a route's),
 * so the note was a WeakSet entry per stored document (~0.4 us, and one more ephemeron for every
 * GC to trace) that was never asked for. Its parts are noted as before.
 */
function frozenCopy(value: unknown, found: { unfreezable: number }, top = false): unknown {
  if (value === null || typeof value !== "object") {
    // a string built by concatenation (an audit summary, a response head) is a tree of pieces,
    // ~3x its flat size; reading a character flattens it in place (and a young one's pieces go
    // at the next scavenge). On a flat string this is a no-op.
    if (typeof value === "string" && value.length > 1) value.charCodeAt(0);
    return value;
  }
  if (isKeptAsIs(value)) return value;
  const unfreezableBefore = found.unfreezable;
  let noted = false;
  let out: object;
  if (Array.isArray(value)) {
    let items: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (item !== null && typeof item === "object") noted = true;
      const copied = frozenCopy(item, found);
      if (copied !== item) (items ??= value.slice(0, i)).push(copied);
      else items?.push(item);
    }
    out = items ?? (Object.isFrozen(value) ? value : value.slice());
  } else if (value instanceof Date) {
    if (isFixedDate(value)) return value;
    out = new Date(value.getTime());
    noted = true;
  } else if (isPlainObject(value)) {
    const source = value as Record<string, unknown>;
    const keys = Object.keys(source);
    let changed: Map<string, unknown> | undefined;
    for (const key of keys) {
      const v = source[key];
      if (v !== null && typeof v === "object") noted = true;
      const copied = frozenCopy(v, found);
      if (copied !== v) (changed ??= new Map()).set(key, copied);
    }
    if (!changed) out = Object.isFrozen(value) ? value : { ...source };
    else {
      // a spread keeps the fields in the object, as the source literal had them; built one by one
      // from {}, all but four went to a separate property array (~50 bytes more a document)
      const o: Record<string, unknown> = { ...source };
      for (const [key, v] of changed) setField(o, key, v);
      out = o;
    }
  } else {
    found.unfreezable++;
    return copy(value);
  }
  Object.freeze(out);
  if (noted && !top && found.unfreezable === unfreezableBefore) noteKeptAsIs(out);
  return out;
}

/** What a write stores: a frozen copy of `doc` (see above). */
function toStored(doc: Doc, store: MemoryReadStore): Doc {
  const found = { unfreezable: 0 };
  const stored = frozenCopy(doc, found, true) as Doc;
  if (found.unfreezable) {
    copiedOnRead.add(stored);
    store.holdsUnprotected = true;
  }
  return stored;
}

/** What a read hands out: the stored document, or a copy of one that freezing cannot protect. */
const out = <T>(doc: Doc): T => (copiedOnRead.has(doc) ? copy(doc) : doc) as T;

/**
 * A frozen projection object is the caller's promise that it will not change (a route's constant):
 * its picker is parsed once, and what it picks from a stored (frozen) document is made once per
 * stored version and handed out, frozen, until a write replaces the document, so a list read many
 * times between writes neither picks nor (see the list route) serializes its items again.
 */
const pickers = new WeakMap<object, Picker | null>();
const projectedVersions = new WeakMap<object, WeakMap<Doc, Doc>>();

/** A frozen sort object is, like a frozen projection, a route's constant: its key is made once. */
const sortKeys = new WeakMap<object, string>();
function sortKey(sort: Record<string, 1 | -1>): string {
  if (!Object.isFrozen(sort)) return JSON.stringify(sort);
  let key = sortKeys.get(sort);
  if (key === undefined) sortKeys.set(sort, (key = JSON.stringify(sort)));
  return key;
}

/** Freezes what a picker built around stored values (those are frozen already). */
function freezeNew(value: unknown): void {
  if (value === null || typeof value !== "object" || Object.isFrozen(value)) return;
  for (const v of Object.values(value)) freezeNew(v);
  Object.freeze(value);
}

/** A find's projection: new objects, holding stored (frozen) values, or copies of unprotected ones. */
function projected(docs: Doc[], projection: Record<string, unknown>): Doc[] {
  const constant = Object.isFrozen(projection);
  let pick = constant ? pickers.get(projection) : undefined;
  if (pick === undefined) {
    pick = simpleInclusion(projection);
    if (constant) pickers.set(projection, pick);
  }
  if (pick) {
    let versions = constant ? projectedVersions.get(projection) : undefined;
    if (constant && !versions) projectedVersions.set(projection, (versions = new WeakMap()));
    const picked: Doc[] = [];
    for (const d of docs) {
      // a document copied on read may hold what freezing cannot protect: picked afresh every time
      const cacheable = versions !== undefined && !copiedOnRead.has(d);
      let p: Doc | null | undefined = cacheable ? versions!.get(d) : undefined;
      if (!p) {
        p = pick(out<Doc>(d)) as Doc | null;
        if (!p) return mingoFind(docs.map((d) => out<Doc>(d)), {}, projection).all() as Doc[];
        if (cacheable) {
          freezeNew(p);
          versions!.set(d, p);
        }
      }
      picked.push(p);
    }
    return picked;
  }
  return mingoFind(docs.map((d) => out<Doc>(d)), {}, projection).all() as Doc[];
}

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

// JS compares strings by UTF-16 code units, the order Array.prototype.sort gives and the one
// find has always used for _id (all _ids here are strings).
const byId = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** the first index whose id is >= key (or > key when `after`) in an ascending array */
function bound(ids: string[], key: string, after: boolean): number {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ids[mid]! < key || (after && ids[mid] === key)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function sortedIdsOf(state: CollectionState): string[] {
  state.sortedIds ??= [...state.docs.keys()].sort(byId);
  return state.sortedIds;
}

/**
 * The slice [lo, hi) of the sorted ids that a filter's string bounds on _id ($gt, $gte, $lt,
 * $lte) allow. Only a pre-selection: every candidate is still tested against the whole filter,
 * so bounds of other types, or other operators beside them, cannot change the answer.
 */
function idRange(ids: string[], filter: Filter): [number, number] {
  let lo = 0;
  let hi = ids.length;
  const id = filter._id;
  if (!id || typeof id !== "object" || Array.isArray(id)) return [lo, hi];
  const ops = id as Record<string, unknown>;
  if (typeof ops.$gt === "string") lo = Math.max(lo, bound(ids, ops.$gt, true));
  if (typeof ops.$gte === "string") lo = Math.max(lo, bound(ids, ops.$gte, false));
  if (typeof ops.$lt === "string") hi = Math.min(hi, bound(ids, ops.$lt, false));
  if (typeof ops.$lte === "string") hi = Math.min(hi, bound(ids, ops.$lte, true));
  return [lo, Math.max(lo, hi)];
}

const UNDECIDED = Symbol("undecided");

/**
 * The value at a dotted path when it is a plain scalar (or missing: undefined); UNDECIDED when
 * an array, a Date or a sub-document is met, where MongoDB's matching rules get subtle.
 */
function scalarAt(doc: Doc, path: string[]): unknown {
  let v: unknown = doc;
  for (const part of path) {
    if (Array.isArray(v)) return UNDECIDED;
    if (v === null || typeof v !== "object") return undefined; // a path through a scalar finds nothing
    v = (v as Record<string, unknown>)[part];
  }
  return v !== null && typeof v === "object" ? UNDECIDED : v;
}

const isPlainScalar = (v: unknown): v is string | boolean | number =>
  typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && !Number.isNaN(v));

/**
 * A cheap test of the filter's top-level equality, `$in` and `$ne` conditions on strings, numbers and
 * booleans (mingo's Query.test costs microseconds per document; this costs a property read per
 * condition): false when a document certainly fails one, true when the filter has no other
 * condition and the document certainly passes them all, undefined (ask mingo) where it cannot be
 * sure (arrays and sub-documents on the way, other operators).
 */
function quickTest(filter: Filter): (doc: Doc) => boolean | undefined {
  const checks: [string[], (v: unknown) => boolean][] = [];
  let complete = true;
  for (const [path, cond] of Object.entries(filter)) {
    if (path.startsWith("$")) complete = false; // $and, $or, $expr, ...: mingo's
    else if (isPlainScalar(cond)) checks.push([path.split("."), (v) => v !== cond]);
    else if (cond && typeof cond === "object" && !Array.isArray(cond) && Object.keys(cond).length === 1) {
      const { $in: list, $ne: not } = cond as Record<string, unknown>;
      // null in $in also matches missing fields: such lists are left to mingo
      if (Array.isArray(list) && list.every(isPlainScalar)) {
        const set = new Set<unknown>(list);
        checks.push([path.split("."), (v) => !set.has(v)]);
      } else if (isPlainScalar(not)) {
        // a missing field is not equal to it: only the value itself fails (null is mingo's: it also means missing)
        checks.push([path.split("."), (v) => v === not]);
      } else complete = false;
    } else complete = false;
  }
  return (doc) => {
    let sure = complete;
    for (const [path, fails] of checks) {
      const v = scalarAt(doc, path);
      if (v === UNDECIDED) sure = false;
      else if (fails(v)) return false;
    }
    return sure ? true : undefined;
  };
}

/** A filter's documents among candidates: quickTest first, mingo where it cannot tell. */
function tester(filter: Filter): (doc: Doc) => boolean {
  // an empty filter (a list page without conditions) matches everything: nothing to build per find
  if (isEmpty(filter)) return matchAll;
  const quick = quickTest(filter);
  let query: Query | undefined;
  return (doc) => quick(doc) ?? (query ??= new Query(filter)).test(doc);
}
const matchAll = () => true;

function isEmpty(o: object): boolean {
  for (const _ in o) return false;
  return true;
}

/** The filter without its _id condition, for candidates that were picked by that very condition. */
function withoutId(filter: Filter): Filter {
  const { _id: _picked, ...rest } = filter;
  return rest;
}

function indexDoc(index: FieldIndex, doc: Doc): void {
  const v = scalarAt(doc, index.path);
  if (v === UNDECIDED) index.undecided.add(doc._id);
  else if (v !== undefined && v !== null) bucketAdd(index.byValue, v, doc._id);
}

function unindexDoc(index: FieldIndex, doc: Doc): void {
  const v = scalarAt(doc, index.path);
  if (v === UNDECIDED) index.undecided.delete(doc._id);
  else if (v !== undefined && v !== null) bucketDelete(index.byValue, v, doc._id);
}

/** The values a top-level condition requires by equality (`v`, `{$eq: v}`, `{$in: [...]}`), when all are plain scalars. */
function equalityValues(cond: unknown): unknown[] | undefined {
  if (isPlainScalar(cond)) return [cond];
  if (!cond || typeof cond !== "object" || Array.isArray(cond) || Object.keys(cond).length !== 1) return undefined;
  const ops = cond as Record<string, unknown>;
  if (isPlainScalar(ops.$eq)) return [ops.$eq];
  if (Array.isArray(ops.$in) && ops.$in.every(isPlainScalar)) return ops.$in;
  return undefined;
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
  readonly indexShare: number;
  /** @internal some write stored a value freezing cannot protect (see copiedOnRead) */
  holdsUnprotected = false;

  constructor(options: MemoryReadStoreOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.indexShare = options.indexShare ?? 1 / 16;
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

  async rename(from: string, to: string): Promise<void> {
    const state = this.collections.get(from);
    // reading a collection creates its (empty) state here; MongoDB would not have it at all
    if (!state || (state.docs.size === 0 && state.unique.size === 0 && state.ttl.size === 0 && state.fields.size === 0)) return;
    // the whole state moves, indexes included, in one synchronous step: no reader sees a mix
    this.collections.set(to, state);
    this.collections.delete(from);
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
            forgetOrders(state); // many may go: one re-sort later beats a splice per document
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
      s = { docs: new Map(), unique: new Map(), ttl: new Map(), fields: new Map(), sortedIds: null, version: 0, sortedBy: new Map() };
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

/** The port's guard on put: a read-model document older than the stored one is not written. */
function isOlder(doc: Doc, stored: Doc | undefined): boolean {
  return typeof doc.lastPosition === "number" && typeof stored?.lastPosition === "number" && doc.lastPosition < stored.lastPosition;
}

/** the same plain value (or none) at an index's path in both documents: the entry stays as it is */
function sameIndexed(index: FieldIndex, a: Doc, b: Doc): boolean {
  const v = scalarAt(a, index.path);
  return v !== UNDECIDED && v === scalarAt(b, index.path);
}

/**
 * `replacing`: the same _id is written back at once, so its place in sortedIds stays; `next`, what
 * replaces it, keeps the field-index entries whose value it does not change (a projection rewrites
 * many documents per batch and most keep their indexed fields).
 */
function removeDoc(state: CollectionState, id: string, replacing = false, next?: Doc): boolean {
  const old = state.docs.get(id);
  if (!old) return false;
  state.version++;
  for (const index of state.unique.values()) {
    const key = indexKey(old, index.spec);
    if (index.owners.get(key) === id) index.owners.delete(key);
  }
  for (const index of state.fields.values()) if (!next || !sameIndexed(index, old, next)) unindexDoc(index, old);
  state.docs.delete(id);
  if (state.sortedIds && !replacing) {
    const at = bound(state.sortedIds, id, false);
    if (state.sortedIds[at] === id) state.sortedIds.splice(at, 1);
  }
  if (!replacing) for (const order of state.sortedBy.values()) keepOrder(order, old, undefined);
  return true;
}

/** Bulk deletes: every kept order is rebuilt by the next find that needs it. */
function forgetOrders(state: CollectionState): void {
  state.sortedIds = null;
  for (const order of state.sortedBy.values()) forgetOrder(order);
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
    return doc ? out<T>(doc) : null;
  }

  async put(doc: T): Promise<void> {
    this.write(toStored(doc, this.store));
  }

  /** Like MongoDB's unordered bulk write: every valid document is written, then the first violation is thrown. */
  async putMany(docs: T[]): Promise<void> {
    let failure: unknown;
    for (const doc of docs) {
      try {
        this.write(toStored(doc, this.store));
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
    if (isOlder(doc, state.docs.get(doc._id))) return;
    const keys: [UniqueIndex, string][] = [];
    for (const index of state.unique.values()) {
      const key = indexKey(doc, index.spec);
      const owner = index.owners.get(key);
      if (owner !== undefined && owner !== doc._id) throw new DuplicateKeyError(this.name, index.spec.name);
      keys.push([index, key]);
    }
    const old = state.docs.get(doc._id);
    const isNew = !removeDoc(state, doc._id, true, doc);
    for (const [index, key] of keys) index.owners.set(key, doc._id);
    for (const index of state.fields.values()) if (!old || !sameIndexed(index, old, doc)) indexDoc(index, doc);
    state.docs.set(doc._id, doc);
    state.version++;
    for (const order of state.sortedBy.values()) keepOrder(order, old, doc);
    if (isNew && state.sortedIds) {
      const ids = state.sortedIds;
      // ids that grow in order (audit entries) are a cheap push; others a binary-search insert
      if (ids.length === 0 || doc._id > ids[ids.length - 1]!) ids.push(doc._id);
      else ids.splice(bound(ids, doc._id, false), 0, doc._id);
    }
  }

  async delete(id: string): Promise<boolean> {
    return removeDoc(this.s, id);
  }

  async deleteMany(filter: Filter): Promise<number> {
    const state = this.s;
    const ids = this.matching(filter).map((d) => d._id);
    if (ids.length > 1) forgetOrders(state); // one re-sort later beats a splice per document
    for (const id of ids) removeDoc(state, id);
    return ids.length;
  }

  async find(filter: Filter = {}, options: FindOptions = {}): Promise<T[]> {
    // mingo's cursor costs a fixed ~0.3 ms per call, so it is used only for what needs it.
    const sortKeys = options.sort ? Object.keys(options.sort) : [];
    const skip = options.skip ?? 0;
    if (sortKeys.length === 1 && sortKeys[0] === "_id" && !idCandidates(filter)) {
      // walk in _id order and stop once the page is full: no full scan, no sort; over an index's
      // candidates (sorted first) when there are few, since rare matches would make a long walk
      const ids = this.indexed(filter)?.sort(byId) ?? sortedIdsOf(this.s);
      let docs = this.walkById(ids, filter, options.sort!._id!, options.limit ? skip + options.limit : Infinity).slice(skip);
      if (options.projection) docs = projected(docs, options.projection);
      return docs.map((d) => out<T>(d));
    }
    if (sortKeys.length > 1 && sortKeys.includes("_id") && !idCandidates(filter) && !this.indexed(filter)) {
      // _id makes the order total, so walking every document in that order and keeping the
      // matching ones gives exactly the page that sorting the matching ones would
      const order = this.sortedBy(options.sort!);
      const all = order.docs;
      if (all) {
        const test = tester(filter);
        const want = options.limit ? skip + options.limit : Infinity;
        // a range on the order's first field (a cursor) starts the walk where it allows documents
        const [from, to] = orderRange(order, all, filter);
        let docs: Doc[] = [];
        for (let i = from; i < to && docs.length < want; i++) if (test(all[i]!)) docs.push(all[i]!);
        if (skip) docs = docs.slice(skip);
        // projected() picks from what out() hands out: its results are new (or frozen picks), never stored
        if (options.projection) return projected(docs, options.projection) as T[];
        return docs.map((d) => out<T>(d));
      }
    }
    let docs: Doc[] = this.matching(filter);
    if (sortKeys.length === 1 && sortKeys[0] === "_id") {
      // _id is always a string here, so a plain comparison gives MongoDB's order (cursor paging).
      const dir = options.sort!._id!;
      docs.sort((a, b) => (a._id < b._id ? -dir : a._id > b._id ? dir : 0));
    } else if (options.sort && docs.length > 1) docs = simpleSort(docs, options.sort) ?? (mingoFind(docs, {}).sort(options.sort).all() as Doc[]);
    if (skip || options.limit) docs = docs.slice(skip, options.limit ? skip + options.limit : undefined);
    if (options.projection) docs = projected(docs, options.projection);
    return docs.map((d) => out<T>(d));
  }

  async count(filter: Filter = {}): Promise<number> {
    if (Object.keys(filter).length === 0) return this.s.docs.size;
    return this.matching(filter).length;
  }

  async aggregate<R = Doc>(pipeline: Record<string, unknown>[]): Promise<R[]> {
    // mingo builds new objects where a stage changes one and passes stored ones through: frozen,
    // or copied where freezing cannot protect them
    // (a stage may also nest documents, so once anything unprotected was stored, results are copies)
    const results = mingoAggregate(this.s.docs.values(), pipeline, { collectionResolver: this.store.resolve });
    return this.store.holdsUnprotected ? results.map((d) => copy(d) as R) : (results as R[]);
  }

  async ensureIndex(spec: IndexSpec): Promise<void> {
    const state = this.s;
    if (spec.expireAfterSeconds !== undefined) {
      if (Object.keys(spec.keys).length !== 1) throw new Error(`${this.name}: a TTL index must have exactly one field`);
      state.ttl.set(spec.name, spec);
    }
    const first = Object.keys(spec.keys)[0];
    if (first && first !== "_id" && spec.expireAfterSeconds === undefined && !state.fields.has(first)) {
      const index: FieldIndex = { path: first.split("."), byValue: new Map(), undecided: new Set() };
      for (const doc of state.docs.values()) indexDoc(index, doc);
      state.fields.set(first, index);
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
    const ids = idCandidates(filter) ?? this.indexed(filter);
    if (!ids) return docs.values();
    return ids.map((id) => docs.get(id)).filter((d): d is Doc => d !== undefined);
  }

  /**
   * The ids left by the filter's most selective indexed equality condition, when they are few
   * (at most indexShare of the collection: listing a large share costs more than it saves).
   * Every candidate is still tested against the whole filter: an index only narrows where to look.
   */
  private indexed(filter: Filter): string[] | undefined {
    let best: { size: number; index: FieldIndex; buckets: Bucket[] } | undefined;
    for (const [path, cond] of Object.entries(filter)) {
      const index = this.s.fields.get(path);
      const values = index && equalityValues(cond);
      if (!values) continue;
      const buckets: Bucket[] = [];
      for (const v of new Set(values)) {
        const bucket = index.byValue.get(v);
        if (bucket !== undefined) buckets.push(bucket);
      }
      const size = buckets.reduce((n, b) => n + bucketSize(b), index.undecided.size);
      if (!best || size < best.size) best = { size, index, buckets };
    }
    if (!best || best.size > this.s.docs.size * this.store.indexShare) return undefined;
    // the sets are disjoint: a document has one value at a path
    const ids = [...best.index.undecided];
    for (const bucket of best.buckets) {
      if (typeof bucket === "string") ids.push(bucket);
      else for (const id of bucket) ids.push(id);
    }
    return ids;
  }

  /** the first `want` stored documents among `ids` (ascending) matching a filter, in _id order (dir 1) or reverse (-1) */
  private walkById(ids: string[], filter: Filter, dir: 1 | -1, want: number): Doc[] {
    const state = this.s;
    const [lo, hi] = idRange(ids, filter);
    const test = tester(filter);
    const out: Doc[] = [];
    for (let i = dir === 1 ? lo : hi - 1; i >= lo && i < hi && out.length < want; i += dir) {
      const doc = state.docs.get(ids[i]!)!;
      if (test(doc)) out.push(doc);
    }
    return out;
  }

  /** the order kept for a sort, its documents built if they are not (null when simpleSort cannot order them; see SortedOrder) */
  private sortedBy(sort: Record<string, 1 | -1>): SortedOrder {
    const state = this.s;
    const key = sortKey(sort);
    let order = state.sortedBy.get(key);
    if (!order) state.sortedBy.set(key, (order = newOrder(sort)));
    orderedDocs(order, state.docs, state.version);
    return order;
  }

  /** the stored (uncopied) documents matching a filter */
  private matching(filter: Filter): Doc[] {
    // candidates named by the _id condition satisfy it (string ids, picked by $eq or $in): mingo's
    // $in would otherwise walk the whole id list for each of them
    const test = tester(idCandidates(filter) ? withoutId(filter) : filter);
    const out: Doc[] = [];
    for (const doc of this.candidates(filter)) if (test(doc)) out.push(doc);
    return out;
  }
}
