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

/** Streams kept per log. A kept state is small (a user, a node, a module's versions); the bound is for a fleet's worth of streams. */
export const MAX_KEPT_STATES = 1024;

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
}

const keptByLog = new WeakMap<EventLog, Map<string, Kept>>();

/** How many states `log`'s handler keeps now (for tests). */
export const keptStates = (log: EventLog): number => keptByLog.get(log)?.size ?? 0;

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
  const kept = keptByLog.get(log);
  const entry = kept?.get(streamId);
  if (!entry || entry.decider !== decider) return undefined;
  // most recently used last: the first in the map is the first to go
  kept!.delete(streamId);
  kept!.set(streamId, entry);
  return entry.loaded as Loaded<S>;
}

function keep(log: EventLog, streamId: string, decider: object, loaded: Loaded<unknown>): void {
  let kept = keptByLog.get(log);
  if (!kept) keptByLog.set(log, (kept = new Map()));
  const current = kept.get(streamId);
  // a slower load that read less must not replace a newer one
  if (current && current.decider === decider && (current.loaded.revision ?? -1) > (loaded.revision ?? -1)) return;
  // handed to every later command and to callers that answer with it: none may change it
  deepFreeze(loaded.state);
  kept.delete(streamId);
  kept.set(streamId, { decider, loaded: Object.freeze(loaded) });
  for (const oldest of kept.keys()) {
    if (kept.size <= MAX_KEPT_STATES) break;
    kept.delete(oldest);
  }
}
