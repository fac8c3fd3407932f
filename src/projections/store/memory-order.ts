import type { Doc } from "./port.js";
import { compareSimple, simpleSort, simpleSortKeys, simplyOrderable } from "./simple-projection.js";

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
  return { sort, keys: simpleSortKeys(sort), docs: null, version: -1 };
}

/** The documents in the order's sort, (re)built from `all` when it has none as of `version`; null when simpleSort cannot order them. */
export function orderedDocs(order: SortedOrder, all: Map<string, Doc>, version: number): Doc[] | null {
  if (order.docs === null && order.keys && order.version !== version) {
    order.docs = simpleSort([...all.values()], order.sort);
    order.version = version;
  }
  return order.docs;
}

/** Marks the order stale: rebuilt by the next find (a bulk delete, where one sort beats a splice per document). */
export function forgetOrder(order: SortedOrder): void {
  order.docs = null;
  order.version = -1;
}

/** the first place whose document does not sort before `doc` */
function lowerBound(docs: Doc[], doc: Doc, keys: [string, 1 | -1][]): number {
  let lo = 0;
  let hi = docs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareSimple(docs[mid]!, doc, keys) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
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
  if (!simplyOrderable(next, keys, docs[0])) return forgetOrder(order);
  docs.splice(lowerBound(docs, next, keys), 0, next);
}

type Bound = { v: string | number; strict: boolean };
interface Bounds {
  lo?: Bound;
  hi?: Bound;
}

/**
 * The bounds a filter puts on one top-level field, of one kind (string or number): an equality,
 * $eq, $gt, $gte, $lt, $lte beside it, and an $or whose every branch bounds it (the loosest of
 * them; a cursor's `{$or: [{createdAt: {$lt: t}}, {createdAt: t, _id: {$lt: id}}]}`). Only a
 * pre-selection, like idRange for _id: every document in the range is still tested against the
 * whole filter, so what is not understood here is simply not used.
 */
function boundsOf(filter: Record<string, unknown>, key: string, kind: string): Bounds {
  const out: Bounds = {};
  const tighten = (side: "lo" | "hi", b: Bound) => {
    const cur = out[side];
    const tighter = !cur || (side === "lo" ? b.v > cur.v || (b.v === cur.v && b.strict) : b.v < cur.v || (b.v === cur.v && b.strict));
    if (tighter) out[side] = b;
  };
  const cond = filter[key];
  if (typeof cond === kind && !Number.isNaN(cond)) {
    tighten("lo", { v: cond as string | number, strict: false });
    tighten("hi", { v: cond as string | number, strict: false });
  } else if (cond && typeof cond === "object" && !Array.isArray(cond) && Object.getPrototypeOf(cond) === Object.prototype) {
    const ops = cond as Record<string, unknown>;
    const at = (op: string) => (typeof ops[op] === kind && !Number.isNaN(ops[op]) ? (ops[op] as string | number) : undefined);
    const eq = at("$eq");
    if (eq !== undefined) (tighten("lo", { v: eq, strict: false }), tighten("hi", { v: eq, strict: false }));
    if (at("$gt") !== undefined) tighten("lo", { v: at("$gt")!, strict: true });
    if (at("$gte") !== undefined) tighten("lo", { v: at("$gte")!, strict: false });
    if (at("$lt") !== undefined) tighten("hi", { v: at("$lt")!, strict: true });
    if (at("$lte") !== undefined) tighten("hi", { v: at("$lte")!, strict: false });
  }
  const branches = filter.$or;
  if (Array.isArray(branches) && branches.length > 0 && branches.every((b) => b && typeof b === "object" && !Array.isArray(b))) {
    const each = branches.map((b) => boundsOf(b as Record<string, unknown>, key, kind));
    for (const side of ["lo", "hi"] as const) {
      if (!each.every((b) => b[side])) continue;
      // the loosest branch bounds the union
      let loose = each[0]![side]!;
      for (const b of each) {
        const x = b[side]!;
        const looser = side === "lo" ? x.v < loose.v || (x.v === loose.v && !x.strict) : x.v > loose.v || (x.v === loose.v && !x.strict);
        if (looser) loose = x;
      }
      tighten(side, loose);
    }
  }
  return out;
}

/**
 * The slice [from, to) of a built order where the filter's bounds on the order's first field allow
 * documents: a cursor page starts where the cursor is instead of testing every document before it.
 */
export function orderRange(order: SortedOrder, docs: Doc[], filter: Record<string, unknown>): [number, number] {
  if (!order.keys || docs.length === 0) return [0, docs.length];
  const [key, dir] = order.keys[0]!;
  // the first page of a list has no bounds: nothing to build
  if (filter[key] === undefined && filter.$or === undefined) return [0, docs.length];
  const bounds = boundsOf(filter, key, typeof docs[0]![key]);
  // positions in the order where a value stops being below (or at) a bound; values run ascending for dir 1
  const first = (pass: (v: string | number) => boolean) => {
    let lo = 0;
    let hi = docs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (pass(docs[mid]![key] as string | number)) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
  let from = 0;
  let to = docs.length;
  const { lo, hi } = bounds;
  if (dir === 1) {
    if (lo) from = first((v) => (lo.strict ? v > lo.v : v >= lo.v));
    if (hi) to = first((v) => (hi.strict ? v >= hi.v : v > hi.v));
  } else {
    if (hi) from = first((v) => (hi.strict ? v < hi.v : v <= hi.v));
    if (lo) to = first((v) => (lo.strict ? v <= lo.v : v < lo.v));
  }
  return [from, Math.max(from, to)];
}
