import { z } from "zod";
import { defineEvent, type EventsOf } from "./define.js";

const iso = z.iso.datetime();

/**
 * The life of one Idempotency-Key (per actor), in its own stream: claimed for one request, then
 * answered (the answer is replayed to every retry) or released (the request failed; a retry of
 * the same request runs again). The claim is appended with expected revision no_stream, so of two
 * requests racing with one key exactly one wins.
 */
export const idempotencyEvents = [
  defineEvent(
    "IdempotencyKeyClaimed",
    z.object({
      /** SHA-256 (hex) of method, path and canonical JSON body: the request this key is bound to */
      fingerprint: z.string(),
      method: z.string(),
      /** the request path, e.g. /api/v1/deployments/<id>/pause */
      route: z.string(),
      at: iso,
    }),
  ),
  defineEvent(
    "IdempotencyKeyAnswered",
    z.object({
      status: z.number().int(),
      /** the response body, byte for byte */
      body: z.string(),
      /** response headers a retry must see again (Content-Type, Location) */
      headers: z.record(z.string(), z.string()),
      at: iso,
    }),
  ),
  defineEvent("IdempotencyKeyReleased", z.object({ status: z.number().int(), reason: z.string(), at: iso })),
] as const;

export type IdempotencyEvent = EventsOf<typeof idempotencyEvents>;
