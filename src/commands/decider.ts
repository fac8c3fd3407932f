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
  decide(command: C, state: S): E[];
}

export function fold<S, E extends DomainEvent>(decider: Pick<Decider<S, never, E>, "initialState" | "evolve">, events: E[]): S {
  return events.reduce(decider.evolve, decider.initialState);
}
