import type { RecordedEvent } from "../events/envelope.js";
import type { EventFilter } from "../events/store/port.js";
import type { Doc } from "./store/port.js";

/** A read-model document remembers the last event applied to it, so replays change nothing. */
export interface ProjectedDoc extends Doc {
  lastPosition: number;
}

/**
 * A named, versioned read model over one collection. `apply` is pure; the runner loads the
 * documents named by `keys`, skips any whose lastPosition >= event.position, and stores the result.
 */
export interface Projection<D extends ProjectedDoc = ProjectedDoc> {
  name: string;
  /** bump when apply changes meaning: the runner rebuilds the read model from position 0 */
  version: number;
  collection: string;
  /** events this projection wants (a cheap pre-filter; keys() may still return []) */
  filter?: EventFilter;
  /** ids of the documents this event touches */
  keys(event: RecordedEvent): string[];
  /**
   * the new document, or null to delete it; must set nothing but its own fields (runner sets lastPosition,
   * on a copy, unless the document already holds the event's position there).
   * `key` is the id (one of keys(event)) being applied: with several keys, a document that does not
   * exist yet cannot tell from (null, event) alone which one it is. The runner and folds always pass
   * it; single-key projections may ignore it.
   */
  apply(doc: D | null, event: RecordedEvent, key?: string): Omit<D, "lastPosition"> | null;
  /**
   * True for a key whose document this event makes alone, whatever is stored under it (an audit
   * entry, an edge per event): apply(stored, event, key) is apply(null, event, key) for any stored
   * document, replays included. The runner then writes it without reading it first.
   */
  madeByEventAlone?(key: string, event: RecordedEvent): boolean;
  /**
   * Fields derived from the whole document, computed once before it is stored rather than after
   * every event: a batch of a thousand node events on one deployment builds its view once.
   * Whatever reads a document the runner did not store must call it too.
   */
  finish?(doc: D): D;
}
