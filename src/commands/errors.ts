/** The closed set of ways a command or query can be refused; mapped to HTTP once, in src/http/problem.ts. */
export type DomainErrorCode =
  | "validation" // 400: the request is not acceptable (schema or business rule)
  | "unauthorized" // 401
  | "forbidden" // 403
  | "not_found" // 404
  | "conflict" // 409: not applicable in the current state
  | "locked" // 423
  | "rate_limited" // 429
  | "unavailable"; // 503

export class DomainError extends Error {
  constructor(
    readonly code: DomainErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "DomainError";
  }
}

export const notFound = (what: string) => new DomainError("not_found", `${what} not found`);
export const conflict = (message: string, details?: Record<string, unknown>) => new DomainError("conflict", message, details);
export const invalid = (message: string, details?: Record<string, unknown>) => new DomainError("validation", message, details);
/** 400: a page's cursor that no page of this list gave out (a cluster's nodes, a deployment's). */
export const badCursor = () => invalid("cursor is not one this server issued", { errors: [{ path: "query.cursor", message: "not a cursor from a page of this list" }] });
