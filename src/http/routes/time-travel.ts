import { DomainError } from "../../commands/errors.js";

/** Validates an `?at=` instant: a parseable ISO-8601 time not in the future; returns it in UTC. */
export function resolveInstant(at: string, now: number): string {
  const ms = Date.parse(at);
  if (Number.isNaN(ms)) throw new DomainError("validation", "at must be an ISO-8601 time");
  if (ms > now) throw new DomainError("validation", `at (${at}) is in the future`);
  return new Date(ms).toISOString();
}
