import type { Collection, Doc, ReadStore } from "./port.js";

/** One ReadStore call, as a decorator sees it. */
export interface ReadStoreCall {
  /** the port method: get, put, putMany, delete, deleteMany, find, count, aggregate, ensureIndex, drop, rename, ping */
  op: string;
  /** the collection, for collection methods, drop and rename (its source) */
  collection?: string;
}

/** Wraps one call: may act before it, after it, or instead of it. */
export type Around = <T>(call: ReadStoreCall, run: () => Promise<T>) => Promise<T>;

/**
 * A ReadStore whose every call goes through `around`: one place for cross-cutting concerns
 * (counting errors for metrics; injecting faults in tests). close() is passed straight through.
 */
export function aroundReadStore(store: ReadStore, around: Around): ReadStore {
  // one wrapper per collection name: callers ask for a collection on every read and write (the
  // projection runner per event), and nine new closures each time showed in profiles
  const wrapped = new Map<string, Collection<Doc>>();
  return {
    get kind() {
      return store.kind;
    },
    collection<T extends Doc = Doc>(name: string): Collection<T> {
      let known = wrapped.get(name);
      if (!known) wrapped.set(name, (known = wrap<Doc>(name)));
      return known as unknown as Collection<T>;
    },
    drop: (name) => around({ op: "drop", collection: name }, () => store.drop(name)),
    rename: (from, to) => around({ op: "rename", collection: from }, () => store.rename(from, to)),
    ping: () => around({ op: "ping" }, () => store.ping()),
    close: () => store.close(),
  };

  function wrap<T extends Doc>(name: string): Collection<T> {
    const c = store.collection<T>(name);
    const on = <R>(op: string, run: () => Promise<R>) => around({ op, collection: name }, run);
    return {
      get: (id) => on("get", () => c.get(id)),
      put: (doc) => on("put", () => c.put(doc)),
      putMany: (docs) => on("putMany", () => c.putMany(docs)),
      delete: (id) => on("delete", () => c.delete(id)),
      deleteMany: (filter) => on("deleteMany", () => c.deleteMany(filter)),
      find: (filter, options) => on("find", () => c.find(filter, options)),
      count: (filter) => on("count", () => c.count(filter)),
      aggregate: <R = Doc>(pipeline: Record<string, unknown>[]) => on("aggregate", () => c.aggregate<R>(pipeline)),
      ensureIndex: (spec) => on("ensureIndex", () => c.ensureIndex(spec)),
    };
  }
}

/** Tells `onError` the operation of every call that fails (store_errors_total), and rethrows. */
export function countingErrors(store: ReadStore, onError: (op: string) => void): ReadStore {
  return aroundReadStore(store, (call, run) =>
    run().catch((err: unknown) => {
      onError(call.op);
      throw err;
    }),
  );
}
