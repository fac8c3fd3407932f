import type { RecordedEvent } from "../events/envelope.js";

/**
 * JSON with object keys sorted at every depth and no whitespace, so the same value always
 * serialises to the same bytes whatever order its keys were built in. Undefined members are
 * dropped (as JSON.stringify does); non-finite numbers are refused since JSON cannot carry them.
 * Every event is serialised so, for the audit projection's digest (shared with the anchor's
 * chain): see sorted() for how it is done at about the cost of one plain JSON.stringify.
 */
export function canonicalJson(value: unknown): string {
  let copy: unknown;
  try {
    copy = sorted(value);
  } catch (err) {
    if (err !== INDEX_KEYS) throw err;
    return pieceByPiece(value);
  }
  return JSON.stringify(copy);
}

/** Thrown by sorted() on an object it cannot copy in order (see there): the value is then written piece by piece. */
const INDEX_KEYS = Symbol("array-index keys");

/**
 * A copy of `value` that JSON.stringify writes in canonical form: every object rebuilt with its
 * keys inserted in sorted order (JSON.stringify writes string keys in insertion order), and what
 * canonical JSON refuses refused here, in the order pieceByPiece would meet it. One native
 * JSON.stringify over such a copy costs about two thirds of building the text piece by piece (a
 * JSON.stringify per string, a lookup per key, a concatenation per piece, and a flattening of the
 * result before it is hashed): the copies' shapes repeat from event to event, so their hidden
 * classes are reused, and they die young.
 *
 * An object with array-index keys ("0", "10") cannot be copied so: every object enumerates those
 * first, in numeric order, whatever order they were inserted in. No event has one; a value that
 * does is written piece by piece.
 */
function sorted(value: unknown): unknown {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: ${value} is not representable`);
      return value;
    case "object": {
      if (value === null) return null;
      if (Array.isArray(value)) {
        const out: unknown[] = new Array(value.length);
        // an undefined item stays undefined: JSON.stringify writes it as null, as canonical JSON does
        for (let i = 0; i < value.length; i++) {
          const v: unknown = value[i];
          out[i] = v === undefined ? undefined : sorted(v);
        }
        return out;
      }
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj);
      // Object.keys lists array indices first: when the first key is none, no key is one
      if (keys.length > 0 && startsWithDigit(keys[0]!)) throw INDEX_KEYS;
      sortKeys(keys);
      const out: Record<string, unknown> = {};
      for (const k of keys) {
        const v = obj[k];
        if (v === undefined) continue;
        // a field named __proto__ must stay a field, not become the copy's prototype
        if (k === "__proto__") Object.defineProperty(out, k, { value: sorted(v), enumerable: true, writable: true, configurable: true });
        else out[k] = sorted(v);
      }
      return out;
    }
  }
  throw new TypeError(`canonicalJson: cannot serialise a ${typeof value}`);
}

function startsWithDigit(key: string): boolean {
  const c = key.charCodeAt(0);
  return c >= 48 && c <= 57;
}

/** Canonical JSON built as text, one piece at a time: for values sorted() cannot copy in order. */
function pieceByPiece(value: unknown): string {
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
          out += v === undefined ? "null" : pieceByPiece(v);
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
        out += JSON.stringify(k) + ":" + pieceByPiece(v);
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

/**
 * Canonical bytes of recent frozen events: the audit projection (each entry's digest) and the
 * anchor (the chain) serialise the same event, and the store's commit tail hands both the same
 * deep-frozen object, the anchor a few hundred to a few thousand positions later. Kept by position
 * in a ring of the commit tail's size (4,096 events, DEFAULT_TAIL_LIMITS), each slot checked to
 * hold that very object: a WeakMap did the same at ~1 us an event (a set, and an ephemeron for
 * every GC to trace), a third of what it saved. Only frozen events are remembered: one that can
 * change must be read again. An event whose slot was taken since is simply serialised again.
 */
const RECENT = 4096;
const recentEvents: (object | undefined)[] = new Array<object | undefined>(RECENT).fill(undefined);
const recentBytes: string[] = new Array<string>(RECENT).fill("");

/** The bytes the hash chain covers: everything that makes an event what it is, and where it landed. */
export function canonicalEvent(event: Pick<RecordedEvent, "type" | "streamId" | "revision" | "position" | "data" | "metadata">): string {
  if (!frozenEvent(event)) return serialiseEvent(event);
  // a position that is not an integer lands in slot 0, where the identity check still guards
  const slot = event.position & (RECENT - 1);
  if (recentEvents[slot] === event) return recentBytes[slot]!;
  const bytes = serialiseEvent(event);
  recentEvents[slot] = event;
  recentBytes[slot] = bytes;
  return bytes;
}

function frozenEvent(event: Pick<RecordedEvent, "data" | "metadata">): boolean {
  const data = event.data;
  return Object.isFrozen(event) && Object.isFrozen(event.metadata) && (typeof data !== "object" || data === null || Object.isFrozen(data));
}

function serialiseEvent(event: Pick<RecordedEvent, "type" | "streamId" | "revision" | "position" | "data" | "metadata">): string {
  // its keys in sorted order already: sorted() rebuilds the same object
  return canonicalJson({
    data: event.data,
    metadata: event.metadata,
    position: event.position,
    revision: event.revision,
    streamId: event.streamId,
    type: event.type,
  });
}
