import type { MiddlewareHandler } from "hono";
import { z } from "@hono/zod-openapi";
import type { AppDeps, AppEnv } from "./env.js";
import { problem } from "./problem.js";
import { setResponseHeader } from "./request-context.js";

/** Shared query parameter for read-your-writes; merged into every GET route's query schema. */
export const ConsistencyQuery = z.object({
  minPosition: z.coerce
    .number()
    .int()
    .min(0)
    .optional()
    .openapi({ description: "wait (bounded) until the read model has applied this global position" }),
});

/**
 * GETs with ?minPosition=N wait until the projections have passed N (bounded by
 * READ_WAIT_TIMEOUT_MS, then 503 with Retry-After); every GET answers X-Read-Position.
 */
export function readConsistency(deps: AppDeps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (c.req.method !== "GET") return next();
    const raw = c.req.query("minPosition");
    if (raw !== undefined) {
      const parsed = ConsistencyQuery.shape.minPosition.safeParse(raw);
      if (!parsed.success || parsed.data === undefined) {
        return problem(c, 400, "minPosition must be a non-negative integer", { errors: [{ path: "query.minPosition", message: "invalid" }] });
      }
      const reached = await deps.projections.waitFor(parsed.data, deps.config.readWaitTimeoutMs);
      if (!reached) {
        const res = problem(c, 503, `read model has not reached position ${parsed.data} yet`, { readPosition: deps.projections.position() });
        res.headers.set("Retry-After", "1");
        return res;
      }
    }
    // the position before the query runs is a safe lower bound of what the answer reflects
    setResponseHeader(c, "X-Read-Position", String(deps.projections.position()));
    await next();
  };
}
