// Records keyed by names that come from users, agents or the log (module names, node ids, label
// keys) are plain objects, because read models and snapshots store them as JSON documents. A
// plain `record[name]` reads Object.prototype for names such as "constructor" or "toString", and
// `record["__proto__"] = v` replaces the object's prototype instead of adding an entry. These two
// helpers are the only way such records are read or written in place.

/** The record's own entry for `key`, never an inherited property. */
export function own<V>(record: Readonly<Record<string, V>> | null | undefined, key: string): V | undefined {
  return record && Object.hasOwn(record, key) ? record[key] : undefined;
}

/** Sets the record's own entry for `key` in place, "__proto__" included. */
export function putOwn<V>(record: Record<string, V>, key: string, value: V): void {
  // plain assignment is the fast path; only "__proto__" has an inherited setter to avoid
  if (key === "__proto__") Object.defineProperty(record, key, { value, writable: true, enumerable: true, configurable: true });
  else record[key] = value;
}
