import type { RecordedEvent } from "../events/envelope.js";

/**
 * JSON with object keys sorted at every depth and no whitespace, so the same value always
 * serialises to the same bytes whatever order its keys were built in. Undefined members are
 * dropped (as JSON.stringify does); non-finite numbers are refused since JSON cannot carry them.
 * Built in one pass over each value (no filtered, mapped and joined arrays per object): every event
 * is serialised so twice, by the audit projection and by the anchor's chain.
 */
export function canonicalJson(value: unknown): string {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: ${value} is not representable`);
      return JSON.stringify(value);
    case "object": {
      if (value === null) return "null";
      if (Array.isArray(value)) {
        let out = "[";
        for (let i = 0; i < value.length; i++) {
          const v: unknown = value[i];
          if (i > 0) out += ",";
          out += v === undefined ? "null" : canonicalJson(v);
        }
        return out + "]";
      }
      const obj = value as Record<string, unknown>;
      const keys = sortKeys(Object.keys(obj));
      let out = "{";
      let first = true;
      for (const k of keys) {
        const v = obj[k];
        if (v === undefined) continue;
        if (!first) out += ",";
        first = false;
        out += quoted(k) + ":" + canonicalJson(v);
      }
      return out + "}";
    }
  }
  throw new TypeError(`canonicalJson: cannot serialise a ${typeof value}`);
}

/**
 * Sorts keys in place as Array.prototype.sort() does (UTF-16 code units): by insertion for the
 * handful an event's objects have, which allocates nothing (sort() took a tenth of the canary's
 * allocations), by sort() for more.
 */
function sortKeys(keys: string[]): string[] {
  if (keys.length > 16) return keys.sort();
  for (let i = 1; i < keys.length; i++) {
    const k = keys[i]!;
    let j = i - 1;
    while (j >= 0 && keys[j]! > k) {
      keys[j + 1] = keys[j]!;
      j--;
    }
    keys[j + 1] = k;
  }
  return keys;
}

/** Object keys as JSON strings; the few the events use are quoted once (bounded: keys can be data). */
const QUOTED_KEYS = new Map<string, string>();
function quoted(key: string): string {
  let q = QUOTED_KEYS.get(key);
  if (q === undefined) {
    q = JSON.stringify(key);
    if (QUOTED_KEYS.size < 10_000) QUOTED_KEYS.set(key, q);
  }
  return q;
}

/**
 * Canonical bytes of frozen events, by the event: the audit projection (each entry's digest) and
 * the anchor (the chain) serialise the same event, and the store's commit tail hands both the same
 * deep-frozen object. Only frozen events are remembered: one that can change must be read again.
 */
const canonicalOfFrozen = new WeakMap<object, string>();

/** The bytes the hash chain covers: everything that makes an event what it is, and where it landed. */
export function canonicalEvent(event: Pick<RecordedEvent, "type" | "streamId" | "revision" | "position" | "data" | "metadata">): string {
  if (!frozenEvent(event)) return serialiseEvent(event);
  let bytes = canonicalOfFrozen.get(event);
  if (bytes === undefined) canonicalOfFrozen.set(event, (bytes = serialiseEvent(event)));
  return bytes;
}

function frozenEvent(event: Pick<RecordedEvent, "data" | "metadata">): boolean {
  const data = event.data;
  return Object.isFrozen(event) && Object.isFrozen(event.metadata) && (typeof data !== "object" || data === null || Object.isFrozen(data));
}

function serialiseEvent(event: Pick<RecordedEvent, "type" | "streamId" | "revision" | "position" | "data" | "metadata">): string {
  return canonicalJson({
    type: event.type,
    streamId: event.streamId,
    revision: event.revision,
    position: event.position,
    data: event.data,
    metadata: event.metadata,
  });
}
