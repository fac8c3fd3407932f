/** An event as a decider produces it: the handler wraps it in an envelope. */
export interface DomainEvent<T extends string = string, D = unknown> {
  type: T;
  data: D;
}

/**
 * One aggregate's pure logic. No I/O and no clock: time arrives on the command.
 * `decide` returns the new events or throws a DomainError.
 */
export interface Decider<S, C, E extends DomainEvent> {
  initialState: S;
  evolve(state: S, event: E): S;
  /**
   * Optional: the same as reducing `events` with evolve from `state`, faster (an aggregate whose
   * evolve copies a large part of its state per event folds incrementally here; see
   * foldDeployment). Never changes `state`.
   */
  foldAll?(state: S, events: readonly E[]): S;
  /**
   * Set when states are small enough for the command handler to keep one per stream (see
   * aggregate-cache.ts): commands then cost what the stream gained, not its whole history. A
   * deployment's state holds every node of it, and its commands are few: it is not kept.
   */
  cacheable?: true;
  decide(command: C, state: S): E[];
}

/** `events` folded onto `state` (the initial state by default), through foldAll when the decider has one. */
export function fold<S, E extends DomainEvent>(decider: Pick<Decider<S, never, E>, "initialState" | "evolve" | "foldAll">, events: E[], state: S = decider.initialState): S {
  return decider.foldAll ? decider.foldAll(state, events) : events.reduce(decider.evolve, state);
}
