import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { z } from "@hono/zod-openapi";
import type { DomainErrorCode } from "../commands/errors.js";

/** RFC 9457 problem details; the one error shape every route answers with. */
export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    instance: z.string().optional(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .passthrough()
  .openapi("Problem");
export type Problem = z.infer<typeof ProblemSchema>;

const TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  408: "Request Timeout",
  409: "Conflict",
  413: "Payload Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  423: "Locked",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

export const STATUS_BY_CODE: Record<DomainErrorCode, ContentfulStatusCode> = {
  validation: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  locked: 423,
  rate_limited: 429,
  unavailable: 503,
};

export function problemBody(status: number, detail?: string, extra: Record<string, unknown> = {}): Problem {
  const slug = (TITLES[status] ?? "Error").toLowerCase().replace(/[^a-z]+/g, "-");
  // extra details never override the standard members (a domain error may carry its own "status")
  return { ...extra, type: `https://kernel-orchestrator.dev/problems/${slug}`, title: TITLES[status] ?? "Error", status, detail };
}

export function problem(c: Context, status: ContentfulStatusCode, detail?: string, extra: Record<string, unknown> = {}): Response {
  return c.body(JSON.stringify({ instance: c.req.path, ...problemBody(status, detail, extra) }), status, {
    "Content-Type": "application/problem+json",
  });
}

/** zod issues as {path, message}; paths like "body.version" tell the client which field. */
export function fieldErrors(issues: readonly { path: readonly PropertyKey[]; message: string }[], where: string) {
  return issues.map((i) => ({ path: [where, ...i.path.map(String)].join("."), message: i.message }));
}

/** For OpenAPI route definitions: the usual error answers. */
export function problemResponses(...statuses: number[]) {
  return Object.fromEntries(
    statuses.map((s) => [s, { description: TITLES[s] ?? "Error", content: { "application/problem+json": { schema: ProblemSchema } } }]),
  );
}
