import type { Doc } from "./port.js";
import { simpleSort } from "./simple-projection.js";

/**
 * Every document of a memory collection in the order of a sort that names _id (a total order): a
 * sorted, limited find (the deployments list, newest first) walks it and stops once the page is
 * full instead of sorting every matching document. Made by the first find with that sort, then
 * kept by every write and delete (a binary search and a splice, or a swap in place when the sort's
 * values did not change): a projection rewrites deployments all through a rollout while lists are
 * read, and an order rebuilt by the first find after any write sorted every deployment for each
 * list request.
 *
 * It orders exactly what simpleSort orders (top-level fields holding only strings, or only
 * numbers, none NaN, across the collection), with simpleSort's comparison.
 */
export interface SortedOrder {
  sort: Record<string, 1 | -1>;
  /** the sort's fields and directions; null when simpleSort never orders by them (a dotted path, an operator) */
  keys: [string, 1 | -1][] | null;
  /**
   * In order, or null: while the documents hold a value simpleSort cannot order (`version` then
   * says as of which collection version, so it is looked at again only after a write), or after a
   * bulk delete (`version` -1). A null order is rebuilt by the next find that needs it.
   */
  docs: Doc[] | null;
  version: number;
}

export function newOrder(sort: Record<string, 1 | -1>): SortedOrder {
  const keys = Object.entries(sort);
  const simple = keys.every(([key, dir]) => !key.includes(".") && !key.includes("$") && (dir === 1 || dir === -1));
  return { sort, keys: simple ? keys : null, docs: null, version: -1 };
}

/** The documents in the order's sort, (re)built from `all` when it has none as of `version`; null when simpleSort cannot order them. */
export function orderedDocs(order: SortedOrder, all: Map<string, Doc>, version: number): Doc[] | null {
  if (order.docs === null && order.keys && order.version !== version) {
    // simpleSort says null for no documents (it reads the kind of the first); an empty order is right
    order.docs = all.size === 0 ? [] : simpleSort([...all.values()], order.sort);
    order.version = version;
  }
  return order.docs;
}

/** Marks the order stale: rebuilt by the next find (a bulk delete, where one sort beats a splice per document). */
export function forgetOrder(order: SortedOrder): void {
  order.docs = null;
  order.version = -1;
}

/** simpleSort's comparison */
function compare(a: Doc, b: Doc, keys: [string, 1 | -1][]): number {
  for (const [key, dir] of keys) {
    const x = a[key] as string | number;
    const y = b[key] as string | number;
    if (x < y) return -dir;
    if (x > y) return dir;
  }
  return 0;
}

/** the first place whose document does not sort before `doc` */
function lowerBound(docs: Doc[], doc: Doc, keys: [string, 1 | -1][]): number {
  let lo = 0;
  let hi = docs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compare(docs[mid]!, doc, keys) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** simpleSort's condition for one more document: a string or a number, not NaN, of the kind the others hold (`like`, any of them) */
function fits(doc: Doc, keys: [string, 1 | -1][], like: Doc | undefined): boolean {
  for (const [key] of keys) {
    const v = doc[key];
    const kind = typeof v;
    if ((kind !== "string" && kind !== "number") || Number.isNaN(v)) return false;
    if (like && typeof like[key] !== kind) return false;
  }
  return true;
}

const sameValues = (a: Doc, b: Doc, keys: [string, 1 | -1][]) => keys.every(([key]) => a[key] === b[key]);

/**
 * Keeps a built order current through one change: `old` (the stored document, when there was one)
 * replaced by `next` (none for a delete). A document simpleSort could not order drops the order
 * (see SortedOrder.docs).
 */
export function keepOrder(order: SortedOrder, old: Doc | undefined, next: Doc | undefined): void {
  const { docs, keys } = order;
  if (!docs || !keys) return;
  let at = -1;
  if (old) {
    at = lowerBound(docs, old, keys);
    // _id makes the order total, so the stored document is exactly there; a miss would be a bug
    // here, and a rebuilt order is better than a wrong one
    if (docs[at] !== old) return forgetOrder(order);
    // a rewrite that keeps its sort values (a deployment's progress, not its createdAt) keeps its place
    if (next && sameValues(old, next, keys)) {
      docs[at] = next;
      return;
    }
    docs.splice(at, 1);
  }
  if (!next) return;
  if (!fits(next, keys, docs[0])) return forgetOrder(order);
  docs.splice(lowerBound(docs, next, keys), 0, next);
}
