import type { Context } from "hono";
import type { AppDeps, AppEnv } from "../http/env.js";
import { sessionToken } from "./session.js";

/** what the dashboard's commands go through: the API app itself (see callApi) */
export interface ApiApp {
  fetch(request: Request, env?: AppEnv["Bindings"]): Response | Promise<Response>;
}

export interface ApiAnswer {
  status: number;
  /** the JSON body: the command's answer, or a problem+json document */
  body: Record<string, unknown>;
}

/** request headers that describe the browser's request, so the command's events record it as theirs */
const FORWARDED = ["user-agent", "x-forwarded-for", "x-forwarded-proto", "traceparent", "accept-language"];

/**
 * Runs an API command for a dashboard form, in process: the same route, validation, role check,
 * idempotency, rate limit and command code a bearer-token client gets, with the session's token
 * as the bearer and the browser's request id as correlation id. Nothing is re-implemented for
 * the browser, so the dashboard cannot drift from the API.
 */
export async function callApi(
  c: Context<AppEnv>,
  app: ApiApp,
  method: "POST" | "PUT" | "DELETE",
  path: string,
  body?: unknown,
  options: { idempotencyKey?: string } = {},
): Promise<ApiAnswer> {
  const headers = new Headers({ accept: "application/json", "x-request-id": c.get("requestId") });
  const token = sessionToken(c);
  if (token) headers.set("authorization", `Bearer ${token}`);
  for (const name of FORWARDED) {
    const value = c.req.header(name);
    if (value !== undefined) headers.set(name, value);
  }
  if (options.idempotencyKey) headers.set("idempotency-key", options.idempotencyKey);
  let payload: string | undefined;
  if (body !== undefined) {
    payload = JSON.stringify(body);
    headers.set("content-type", "application/json");
    // a Request built in process has no Content-Length of its own, and routes with an optional body look for it
    headers.set("content-length", String(Buffer.byteLength(payload)));
  }
  const url = new URL(path, c.req.url);
  const res = await app.fetch(new Request(url, { method, headers, body: payload }), c.env);
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    const value: unknown = text ? JSON.parse(text) : {};
    if (value && typeof value === "object" && !Array.isArray(value)) parsed = value as Record<string, unknown>;
  } catch {
    parsed = { detail: text.slice(0, 500) };
  }
  return { status: res.status, body: parsed };
}

/** the words of a problem+json answer: its detail, and the fields it names */
export function problemText(answer: ApiAnswer): string {
  const detail = typeof answer.body.detail === "string" ? answer.body.detail : `the server answered ${answer.status}`;
  const errors = Array.isArray(answer.body.errors) ? (answer.body.errors as { path?: unknown; message?: unknown }[]) : [];
  const fields = errors
    .map((e) => (typeof e.path === "string" && typeof e.message === "string" ? `${e.path.replace(/^json\./, "")}: ${e.message}` : null))
    .filter((s): s is string => s !== null);
  return fields.length ? `${detail} (${fields.join("; ")})` : detail;
}

/**
 * Waits until the read models have applied what a command answered (its `position`), so the page
 * the browser is sent to next already shows it: read-your-writes, as `?minPosition=` gives the API.
 */
export async function readYourWrite(deps: Pick<AppDeps, "projections" | "config">, answer: ApiAnswer): Promise<void> {
  const position = answer.body.position;
  if (typeof position === "number") await deps.projections.waitFor(position, deps.config.readWaitTimeoutMs);
}
