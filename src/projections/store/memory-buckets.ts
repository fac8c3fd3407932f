/**
 * The ids holding one value at an index's path, in the order they came (a Set's order): the id
 * itself while there is one, a small array (any order) up to SMALL_BUCKET, and beyond that an
 * array still while every id came after the one before it in _id order (a run), else a Set. Most
 * values of a per-stream or per-node field (an audit entry's stream, its actor) are held by one
 * to a few documents, and a Set cost ~200 bytes each: ~20,000 of them, ~4 MiB, at ten thousand
 * nodes. The values many documents share (an audit entry's kind, its type, the runner's actor
 * id, a deployment's stream) take ids in position order, as entries are written: a push is ~15
 * ns and 8 bytes where a Set's add was ~130 ns (growing tables rehashed) and ~30 bytes, four
 * such buckets an audit entry.
 *
 * Invariant: an array longer than SMALL_BUCKET is strictly ascending; no bucket holds an id twice.
 */
export type Bucket = string | string[] | Set<string>;
export const SMALL_BUCKET = 8;

export function bucketAdd(byValue: Map<unknown, Bucket>, v: unknown, id: string): void {
  const ids = byValue.get(v);
  if (ids === undefined) byValue.set(v, id);
  else if (typeof ids === "string") {
    if (ids !== id) byValue.set(v, [ids, id]);
  } else if (Array.isArray(ids)) {
    const n = ids.length;
    if (n > SMALL_BUCKET || (n === SMALL_BUCKET && ascending(ids))) {
      // a run (or a small array that can become one): ids past its last one keep it a run
      if (id > ids[n - 1]!) ids.push(id);
      else if (!inRun(ids, id)) byValue.set(v, new Set([...ids, id]));
    } else {
      if (ids.includes(id)) return;
      if (n < SMALL_BUCKET) ids.push(id);
      else byValue.set(v, new Set([...ids, id]));
    }
  } else ids.add(id);
}

export function bucketDelete(byValue: Map<unknown, Bucket>, v: unknown, id: string): void {
  let ids = byValue.get(v);
  if (ids === undefined) return;
  if (typeof ids === "string") {
    if (ids === id) byValue.delete(v);
    return;
  }
  if (Array.isArray(ids) && ids.length > SMALL_BUCKET) {
    // the newest id of a run goes as a pop; any other would move every later id (a TTL prune takes
    // the oldest, one at a time), so the run becomes a Set, in the same order, and loses it there
    if (ids[ids.length - 1] === id) ids.pop();
    else if (inRun(ids, id)) byValue.set(v, (ids = new Set(ids)));
  }
  if (Array.isArray(ids)) {
    if (ids.length <= SMALL_BUCKET) {
      const at = ids.indexOf(id);
      if (at >= 0) ids.splice(at, 1);
    }
  } else ids.delete(id);
  // back to the bare id once one is left, so churn does not leave containers of one behind
  const size = bucketSize(ids);
  if (size <= 1) {
    const [left] = ids;
    if (left === undefined) byValue.delete(v);
    else byValue.set(v, left);
  }
}

export const bucketSize = (ids: Bucket): number => (typeof ids === "string" ? 1 : Array.isArray(ids) ? ids.length : ids.size);

function ascending(ids: string[]): boolean {
  for (let i = 1; i < ids.length; i++) if (!(ids[i - 1]! < ids[i]!)) return false;
  return true;
}

/** Whether a run (ascending) holds `id`: a binary search. */
function inRun(ids: string[], id: string): boolean {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ids[mid]! < id) lo = mid + 1;
    else hi = mid;
  }
  return ids[lo] === id;
}
