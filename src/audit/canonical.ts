import type { RecordedEvent } from "../events/envelope.js";

/**
 * JSON with object keys sorted at every depth and no whitespace, so the same value always
 * serialises to the same bytes whatever order its keys were built in. Undefined members are
 * dropped (as JSON.stringify does); non-finite numbers are refused since JSON cannot carry them.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === "boolean" || typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: ${value} is not representable`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return "[" + value.map((v) => (v === undefined ? "null" : canonicalJson(v))).join(",") + "]";
  if (typeof value === "object") {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj)
      .filter((k) => obj[k] !== undefined)
      .sort();
    return "{" + keys.map((k) => JSON.stringify(k) + ":" + canonicalJson(obj[k])).join(",") + "}";
  }
  throw new TypeError(`canonicalJson: cannot serialise a ${typeof value}`);
}

/** The bytes the hash chain covers: everything that makes an event what it is, and where it landed. */
export function canonicalEvent(event: Pick<RecordedEvent, "type" | "streamId" | "revision" | "position" | "data" | "metadata">): string {
  return canonicalJson({
    type: event.type,
    streamId: event.streamId,
    revision: event.revision,
    position: event.position,
    data: event.data,
    metadata: event.metadata,
  });
}
