// The query of a detail route whose nodes come a page at a time (a cluster's, a deployment's):
// the same limits and the same 400 for a cursor the server did not issue, wherever nodes are paged.
import { z } from "@hono/zod-openapi";

/** A 10,000-node cluster or deployment is megabytes as one answer. */
export const DEFAULT_NODE_PAGE = 100;
export const MAX_NODE_PAGE = 1000;

export const NodePageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(MAX_NODE_PAGE).default(DEFAULT_NODE_PAGE).openapi({ description: `nodes per page (default ${DEFAULT_NODE_PAGE}, at most ${MAX_NODE_PAGE})` }),
  cursor: z.string().max(1000).optional().openapi({ description: "the next-page cursor of the previous page" }),
});
