// The state the command handler last folded, per stream, for deciders that ask for it
// (Decider.cacheable): a command then reads only what its stream gained since (one indexed range
// read, usually empty) instead of folding the stream's whole history, which grows for good on
// streams like a user's (an event per login) or a node's (events per deployment). Nothing here is
// trusted for correctness: a state is kept only as folded from events read back from the log, the
// next load reads past it, and an append still expects the stream's revision, so another
// process's write is either read or refused as a conflict.
import { deepFreeze } from "../platform/deep-freeze.js";
import type { Decider, DomainEvent } from "./decider.js";
import type { EventLog } from "../events/event-log.js";

/**
 * What the states kept per log may weigh (weighOf's estimate). Bounded by weight rather than by
 * count: states differ a lot in size and grow with their history (a node's by an entry per
 * assignment, a user's, a module's versions), and a count large enough for a fleet's node streams
 * (a 10,000-node rollout reports once per node: with 1,024 kept, nearly every report read and
 * folded its node's stream again) would let a few big ones take what they please. A node after
 * one rollout weighs ~1.3 KB by the estimate (which overstates V8's heap: two bytes a character),
 * so some 22,000 of them fit.
 */
export const MAX_KEPT_BYTES = 32 << 20;
/** What keeping one more stream costs besides its state: the map entry and the kept objects. */
const ENTRY_BYTES = 160;

export interface Loaded<S> {
  state: S;
  /** revision of the last event folded into state; null when the stream holds none this code knows */
  revision: number | null;
  /** global position of that event; null likewise */
  position: number | null;
}

interface Kept {
  decider: object;
  loaded: Loaded<unknown>;
  /** weighOf(loaded.state) + ENTRY_BYTES */
  bytes: number;
}

/** A log's kept states, least recently used first, and their total weight. */
interface KeptStates {
  states: Map<string, Kept>;
  bytes: number;
}

const keptByLog = new WeakMap<EventLog, KeptStates>();

/** How many states `log`'s handler keeps now, and what they weigh (for tests). */
export const keptStates = (log: EventLog): number => keptByLog.get(log)?.states.size ?? 0;
export const keptBytes = (log: EventLog): number => keptByLog.get(log)?.bytes ?? 0;

/**
 * An estimate of what a state takes on the heap, in bytes: enough to bound the cache by, not a
 * measurement. A walk over the whole state, which is small (that is what cacheable promises).
 */
export function weighOf(value: unknown): number {
  switch (typeof value) {
    case "string":
      return 16 + 2 * value.length;
    case "object": {
      if (value === null) return 8;
      let bytes = 32;
      if (value instanceof Map) for (const [k, v] of value) bytes += 16 + weighOf(k) + weighOf(v);
      else if (value instanceof Set) for (const v of value) bytes += 16 + weighOf(v);
      else for (const k in value) if (Object.hasOwn(value, k)) bytes += 16 + 2 * k.length + weighOf((value as Record<string, unknown>)[k]);
      return bytes;
    }
    default:
      return 8;
  }
}

/**
 * The stream folded by `decider`: the kept state with what the stream gained since folded on, or
 * (uncached deciders, or nothing kept) the whole stream folded from the start.
 */
export async function loadAggregate<S, E extends DomainEvent>(log: EventLog, streamId: string, decider: Decider<S, never, E>): Promise<Loaded<S>> {
  const kept = decider.cacheable ? recall<S>(log, streamId, decider) : undefined;
  const gained = await log.readStream(streamId, kept?.revision != null ? { fromRevision: kept.revision + 1 } : undefined);
  if (kept && gained.length === 0) return kept;
  const last = gained.at(-1);
  const loaded: Loaded<S> = {
    state: foldRead(decider, gained, kept?.state ?? decider.initialState),
    revision: last?.revision ?? kept?.revision ?? null,
    position: last?.position ?? kept?.position ?? null,
  };
  if (decider.cacheable) keep(log, streamId, decider, loaded);
  return loaded;
}

/** Keeps a state folded from the whole stream by a caller that read it anyway (an idempotent retry's check). */
export function keepLoaded<S>(log: EventLog, streamId: string, decider: Decider<S, never, DomainEvent>, loaded: Loaded<S>): void {
  if (decider.cacheable) keep(log, streamId, decider, loaded);
}

function foldRead<S, E extends DomainEvent>(decider: Decider<S, never, E>, events: readonly DomainEvent[], state: S): S {
  // the log's events carry the type and data a decider folds (and envelope fields it ignores)
  const domain = events as readonly E[];
  return decider.foldAll ? decider.foldAll(state, domain) : domain.reduce(decider.evolve, state);
}

function recall<S>(log: EventLog, streamId: string, decider: object): Loaded<S> | undefined {
  const states = keptByLog.get(log)?.states;
  const entry = states?.get(streamId);
  if (!entry || entry.decider !== decider) return undefined;
  // most recently used last: the first in the map is the first to go
  states!.delete(streamId);
  states!.set(streamId, entry);
  return entry.loaded as Loaded<S>;
}

function keep(log: EventLog, streamId: string, decider: object, loaded: Loaded<unknown>): void {
  let kept = keptByLog.get(log);
  if (!kept) keptByLog.set(log, (kept = { states: new Map(), bytes: 0 }));
  const { states } = kept;
  const current = states.get(streamId);
  // a slower load that read less must not replace a newer one
  if (current && current.decider === decider && (current.loaded.revision ?? -1) > (loaded.revision ?? -1)) return;
  // handed to every later command and to callers that answer with it: none may change it
  deepFreeze(loaded.state);
  const bytes = weighOf(loaded.state) + ENTRY_BYTES;
  if (current) {
    states.delete(streamId);
    kept.bytes -= current.bytes;
  }
  // one state heavier than the whole bound is not kept at all (nor does it push the others out)
  if (bytes > MAX_KEPT_BYTES) return;
  states.set(streamId, { decider, loaded: Object.freeze(loaded), bytes });
  kept.bytes += bytes;
  for (const [oldest, entry] of states) {
    if (kept.bytes <= MAX_KEPT_BYTES) break;
    states.delete(oldest);
    kept.bytes -= entry.bytes;
  }
}
