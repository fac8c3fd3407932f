/**
 * Inclusion projections of top-level fields and of fields one level down ({a: 1, "b.c": 1}),
 * done by picking properties, as MongoDB defines them: `_id` always, a missing field left out,
 * "b.c" on an object keeps {c} (an empty object when it has none), on an array keeps each element
 * that is an object as {c} and drops the others. mingo builds the same answer through a generic
 * path resolver at a fixed ~0.1-0.3 ms a call, which was most of a list page's cost (GET
 * /api/v1/deployments). Anything else (exclusions, operators, deeper paths, a field named both
 * whole and by a sub-path, an array inside an array) is null here and left to mingo.
 */
export type Picker = (doc: Record<string, unknown>) => Record<string, unknown> | null;

const plain = (v: unknown): v is Record<string, unknown> => {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
};
/** what an array element may be without asking mingo: an object to pick from, or a scalar it drops */
const scalar = (v: unknown) => typeof v === "string" || typeof v === "number" || typeof v === "boolean";

export function simpleInclusion(projection: Record<string, unknown>): Picker | null {
  const top: string[] = [];
  const nested = new Map<string, string[]>();
  for (const [path, v] of Object.entries(projection)) {
    if (v !== 1 && v !== true) return null;
    if (path.includes("$") || path === "" || path.startsWith("_id.")) return null;
    const parts = path.split(".");
    if (parts.length > 2 || parts.some((p) => p === "")) return null;
    if (parts.length === 1) top.push(path);
    else {
      const [parent, child] = parts as [string, string];
      nested.set(parent, [...(nested.get(parent) ?? []), child]);
    }
  }
  if (top.some((k) => nested.has(k))) return null;
  const pick = (o: Record<string, unknown>, keys: string[]) => {
    const r: Record<string, unknown> = {};
    for (const k of keys) if (Object.hasOwn(o, k) && o[k] !== undefined) r[k] = o[k];
    return r;
  };
  return (doc) => {
    const out: Record<string, unknown> = { _id: doc._id };
    for (const k of top) if (k !== "_id" && Object.hasOwn(doc, k) && doc[k] !== undefined) out[k] = doc[k];
    for (const [parent, keys] of nested) {
      if (!Object.hasOwn(doc, parent) || doc[parent] === undefined) continue;
      const v = doc[parent];
      if (plain(v)) out[parent] = pick(v, keys);
      else if (Array.isArray(v)) {
        const kept: Record<string, unknown>[] = [];
        for (const e of v) {
          if (plain(e)) kept.push(pick(e, keys));
          else if (!scalar(e)) return null;
        }
        out[parent] = kept;
      } else return null;
    }
    return out;
  };
}

/**
 * A sort on top-level fields that hold only strings, or only numbers, across `docs`: compared as
 * mingo (and MongoDB) compare them, without building a mingo cursor (its fixed cost per call was
 * the other part of a list page's). Null when any value is of another type: mingo's order across
 * types (null < numbers < strings < ...) is left to it.
 */
export function simpleSort<T extends Record<string, unknown>>(docs: T[], sort: Record<string, 1 | -1>): T[] | null {
  const keys = simpleSortKeys(sort);
  if (!keys) return null;
  for (const d of docs) if (!simplyOrderable(d, keys, docs[0])) return null;
  return [...docs].sort((a, b) => compareSimple(a, b, keys));
}

/** A sort's fields and directions when simpleSort may order by them (top-level fields, 1 or -1); null otherwise. */
export function simpleSortKeys(sort: Record<string, 1 | -1>): [string, 1 | -1][] | null {
  const keys = Object.entries(sort);
  return keys.every(([key, dir]) => !key.includes(".") && !key.includes("$") && (dir === 1 || dir === -1)) ? keys : null;
}

/** simpleSort's condition on one document: each field a string or a number (not NaN), of the kind `like` holds there. */
export function simplyOrderable(doc: Record<string, unknown>, keys: [string, 1 | -1][], like: Record<string, unknown> | undefined): boolean {
  for (const [key] of keys) {
    const v = doc[key];
    const kind = typeof v;
    if ((kind !== "string" && kind !== "number") || Number.isNaN(v)) return false;
    if (like && typeof like[key] !== kind) return false;
  }
  return true;
}

/** simpleSort's comparison, over fields it found to hold strings only or numbers only */
export function compareSimple(a: Record<string, unknown>, b: Record<string, unknown>, keys: [string, 1 | -1][]): number {
  for (const [key, dir] of keys) {
    const x = a[key] as string | number;
    const y = b[key] as string | number;
    if (x < y) return -dir;
    if (x > y) return dir;
  }
  return 0;
}
