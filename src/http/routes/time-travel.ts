import { invalid } from "../../commands/errors.js";

const atError = (message: string, detail: string) => invalid(detail, { errors: [{ path: "query.at", message }] });

/**
 * Validates an `?at=` instant (an ISO-8601 time, or epoch milliseconds where a route's schema
 * accepts them): parseable and not in the future, because the log cannot answer for a time it
 * has not reached and today's state must not pass for it. Returns the instant in UTC.
 */
export function resolveInstant(at: string | number, now: number): string {
  const ms = typeof at === "number" ? at : Date.parse(at);
  if (Number.isNaN(ms)) throw atError("not an ISO-8601 time", "at must be an ISO-8601 time");
  if (ms > now) throw atError("in the future", `at (${at}) is in the future`);
  return new Date(ms).toISOString();
}
