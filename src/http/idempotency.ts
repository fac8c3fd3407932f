// Idempotency-Key for command routes, after draft-ietf-httpapi-idempotency-key-header: a key is
// bound to the first request it came with (method, path, body); another request with it is 422;
// a retry of that request gets the first answer again; a retry while the first is still running
// is 409. The record lives in the event log, one stream per (actor, key), so every instance sees
// it and the store's expected-revision check makes claiming a key atomic.
import { createHash } from "node:crypto";
import type { Context, TypedResponse } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { z } from "@hono/zod-openapi";
import { canonicalJson } from "../audit/canonical.js";
import type { CommandContext } from "../commands/handler.js";
import { metadataFor } from "../commands/handler.js";
import { DomainError } from "../commands/errors.js";
import type { IdempotencyEvent } from "../events/catalog/idempotency.js";
import type { Actor, RecordedEvent } from "../events/envelope.js";
import { WrongExpectedRevisionError } from "../events/store/port.js";
import { streams } from "../events/streams.js";
import type { AppDeps, AppEnv } from "./env.js";
import { problem, STATUS_BY_CODE } from "./problem.js";
import { commandContext } from "./request-context.js";

const KEY_PATTERN = /^[\w.:-]{1,200}$/;
/** a claim not answered within this long belongs to a request that died with its instance: a retry takes over */
export const IN_FLIGHT_MS = 30_000;
/** headers a replayed answer carries again */
const KEPT_HEADERS = ["content-type", "location"];

/** For OpenAPI route definitions of the routes that honour the header. */
export const IdempotencyHeader = z.object({
  "idempotency-key": z
    .string()
    .optional()
    .openapi({
      description:
        "Makes retries safe: bound to this request (method, path, body). A retry gets the first answer again; the same key with another request is 422; while the first is still running, 409 with Retry-After.",
    }),
});

/** What a command route answers; the helper sends it, and records it for retries. */
export interface CommandAnswer<B = unknown, S extends ContentfulStatusCode = ContentfulStatusCode> {
  status: S;
  body: B;
  headers?: Record<string, string>;
}

/** The Idempotency-Key header, if sent; a malformed one is a 400. */
export function idempotencyKeyOf(c: Context): string | undefined {
  const key = c.req.header("idempotency-key");
  if (key !== undefined && !KEY_PATTERN.test(key)) {
    throw new DomainError("validation", "Idempotency-Key must be 1-200 characters of [A-Za-z0-9_.:-]");
  }
  return key;
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** What a key is bound to: method, path and the body as canonical JSON (key order and spacing do not count). */
export function requestFingerprint(method: string, path: string, body: unknown): string {
  return sha256(`${method.toUpperCase()}\n${path}\n${canonicalJson(body ?? null)}`);
}

export function idempotencyStream(actor: Actor, key: string): string {
  return streams.idempotency(sha256(`${actor.kind}\n${actor.id}\n${key}`));
}

interface KeyRecord {
  /** the request the key is bound to: its first claim's */
  boundTo: { fingerprint: string; method: string; route: string } | null;
  /** when the latest claim was made */
  claimedAt: string | null;
  answered: { status: number; body: string; headers: Record<string, string> } | null;
  released: boolean;
}

function foldKey(history: RecordedEvent[]): KeyRecord {
  let record: KeyRecord = { boundTo: null, claimedAt: null, answered: null, released: false };
  for (const recorded of history) {
    const e = recorded as unknown as IdempotencyEvent;
    switch (e.type) {
      case "IdempotencyKeyClaimed": {
        // a later claim (after a release, or of a request that died) re-opens the key, never re-binds it
        const { fingerprint, method, route } = e.data;
        record = { boundTo: record.boundTo ?? { fingerprint, method, route }, claimedAt: e.data.at, answered: null, released: false };
        break;
      }
      case "IdempotencyKeyAnswered":
        record = { ...record, answered: { status: e.data.status, body: e.data.body, headers: e.data.headers } };
        break;
      case "IdempotencyKeyReleased":
        record = { ...record, released: true };
        break;
    }
  }
  return record;
}

function send(c: Context, status: number, body: string, headers: Record<string, string>): Response {
  return c.body(body, status as ContentfulStatusCode, headers);
}

/**
 * Runs a command route's work at most once per (actor, Idempotency-Key), and answers retries as
 * the first request was answered. Without the header it simply runs. `body` is the validated
 * request body the command depends on (undefined when there is none).
 */
export async function idempotentCommand<B, S extends ContentfulStatusCode>(
  c: Context<AppEnv>,
  deps: AppDeps,
  body: unknown,
  run: (ctx: CommandContext) => Promise<CommandAnswer<B, S>>,
): Promise<TypedResponse<B, S, "json">> {
  // Typed as the route's success answer so OpenAPI routes accept it. A replay is the bytes of an
  // earlier answer of this same route; the other answers are the problem+json the route declares.
  return (await keyedCommand(c, deps, body, run)) as unknown as TypedResponse<B, S, "json">;
}

async function keyedCommand(c: Context<AppEnv>, deps: AppDeps, body: unknown, run: (ctx: CommandContext) => Promise<CommandAnswer>): Promise<Response> {
  const key = idempotencyKeyOf(c);
  const ctx = commandContext(c, deps);
  if (key === undefined) return respond(c, await run(ctx));

  // the key's own records get ordinary ids: they are not part of the command's replay
  const recordCtx: CommandContext = { ...ctx, idempotencyKey: undefined };
  const streamId = idempotencyStream(ctx.actor, key);
  const method = c.req.method.toUpperCase();
  const route = c.req.path;
  const fingerprint = requestFingerprint(method, route, body);
  const append = (event: IdempotencyEvent, expected: number | "no_stream") =>
    deps.log.append(streamId, deps.log.envelope([event], (i) => metadataFor(recordCtx, streamId, i)), expected);

  let claimedAt: number | undefined;
  for (let attempt = 0; claimedAt === undefined; attempt++) {
    if (attempt === 5) throw new DomainError("conflict", "too many concurrent requests with this Idempotency-Key; try again", { retryAfterSeconds: 1 });
    const history = await deps.log.readStream(streamId);
    const record = foldKey(history);
    if (record.boundTo && record.boundTo.fingerprint !== fingerprint) {
      const { method: m, route: r } = record.boundTo;
      const other = m === method && r === route ? "with another body" : `${m} ${r}`;
      return problem(c, 422, `this Idempotency-Key was already used for another request (${other}); use a new key`);
    }
    if (record.answered) return send(c, record.answered.status, record.answered.body, { ...record.answered.headers, "Idempotent-Replayed": "true" });
    const inFlight = record.claimedAt !== null && !record.released && ctx.now - Date.parse(record.claimedAt) < IN_FLIGHT_MS;
    if (inFlight) {
      const res = problem(c, 409, "a request with this Idempotency-Key is still being processed; retry shortly");
      res.headers.set("Retry-After", "1");
      return res;
    }
    const last = history.at(-1);
    try {
      await append({ type: "IdempotencyKeyClaimed", data: { fingerprint, method, route, at: new Date(ctx.now).toISOString() } }, last ? last.revision : "no_stream");
      claimedAt = last ? last.revision + 1 : 0;
    } catch (err) {
      if (!(err instanceof WrongExpectedRevisionError)) throw err;
      // another request with this key got there first: look again at what it did
    }
  }

  let answer: CommandAnswer;
  try {
    // the key's first claim: nothing ran with it before, so nothing needs to be looked for
    answer = await run({ ...ctx, idempotencyKey: key, firstUseOfKey: claimedAt === 0 });
  } catch (err) {
    // a refused or failed request does not use the key up: the same request may be tried again
    const status = err instanceof DomainError ? STATUS_BY_CODE[err.code] : 500;
    const reason = (err instanceof DomainError ? err.message : "unexpected error").slice(0, 500);
    await append({ type: "IdempotencyKeyReleased", data: { status, reason, at: new Date(deps.clock.now()).toISOString() } }, claimedAt).catch((releaseErr: unknown) =>
      // the claim then lapses after IN_FLIGHT_MS
      deps.logger.warn({ err: releaseErr, requestId: ctx.correlationId }, "could not release an Idempotency-Key"),
    );
    throw err;
  }
  const response = respond(c, answer);
  const headers: Record<string, string> = {};
  for (const name of KEPT_HEADERS) {
    const value = response.headers.get(name);
    if (value !== null) headers[name] = value;
  }
  const text = JSON.stringify(answer.body);
  try {
    await append({ type: "IdempotencyKeyAnswered", data: { status: answer.status, body: text, headers, at: new Date(deps.clock.now()).toISOString() } }, claimedAt);
  } catch (err) {
    // WrongExpectedRevision: taken over after IN_FLIGHT_MS by a retry, which ran the command again
    // (its events dedupe) and whose answer is as good as this one. Anything else: the command is
    // done, so it is answered; retries get 409 until the claim lapses, then replay the command.
    if (!(err instanceof WrongExpectedRevisionError)) deps.logger.warn({ err, requestId: ctx.correlationId }, "could not record an Idempotency-Key answer");
  }
  return response;
}

function respond(c: Context, answer: CommandAnswer): Response {
  return send(c, answer.status, JSON.stringify(answer.body), { "Content-Type": "application/json", ...answer.headers });
}
