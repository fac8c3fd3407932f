import { createParser, type EventSourceMessage } from "eventsource-parser";
import { ApiError } from "./errors.js";
import type { FeedEvent } from "./types.js";

export interface SubscribeOptions {
  /** the full feed URL, e.g. http://localhost:3000/api/v1/deployments/<id>/events */
  url: string;
  /** bearer token, or a function read at every (re)connect so a refreshed token is picked up */
  token?: string | (() => string | undefined);
  /** resume strictly after this global position (what the last run's lastEventId said) */
  lastEventId?: number;
  /** aborting ends the iteration cleanly (no error) */
  signal?: AbortSignal;
  fetch?: typeof fetch;
  /** reconnect delay: full jitter over min(maxDelayMs, initialDelayMs * 2^attempt); never below the server's retry: advice */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** consecutive failed attempts (no new event in between) before the last error is thrown; default unbounded */
  maxRetries?: number;
  /** no bytes (not even a heartbeat) for this long means a dead connection: reconnect. Default 45 s (server heartbeats every 15 s). */
  idleTimeoutMs?: number;
  /** after delivering such an event the feed is over even if the server's `end` message was lost */
  isFinal?(event: FeedEvent): boolean;
  /** called before each reconnect wait, e.g. to show "reconnecting" */
  onReconnect?(info: { attempt: number; delayMs: number; error: unknown; lastEventId: number }): void;
  /** waiting between attempts; tests pass one that records the delay and returns at once */
  sleep?(ms: number, signal?: AbortSignal): Promise<void>;
  /** [0, 1): the jitter source */
  random?(): number;
}

export interface Subscription extends AsyncIterable<FeedEvent> {
  /** global position of the last event delivered (0 before any): resume from here */
  readonly lastEventId: number;
  /** true once the server said the feed is over (`end`, or a final event) */
  readonly ended: boolean;
  /** calls `onEvent` for every event until the feed ends; rejects on a non-retryable error */
  forEach(onEvent: (event: FeedEvent) => void | Promise<void>): Promise<void>;
}

const abortableSleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });

/** 401/403 mean the token is wrong or lacks a role; other 4xx (bad id, unknown deployment) will not heal either. */
const retryable = (status: number) => status === 408 || status === 429 || status >= 500;

/**
 * Subscribes to an SSE feed over fetch (so it can send the bearer token), reconnecting with
 * exponential backoff and full jitter and resuming with Last-Event-ID. Events at or below the
 * last delivered id are dropped, so a consumer sees each event once, in order.
 */
export function subscribe(options: SubscribeOptions): Subscription {
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const sleep = options.sleep ?? abortableSleep;
  const random = options.random ?? Math.random;
  const initialDelayMs = options.initialDelayMs ?? 500;
  const maxDelayMs = options.maxDelayMs ?? 30_000;
  const maxRetries = options.maxRetries ?? Infinity;
  const idleTimeoutMs = options.idleTimeoutMs ?? 45_000;
  const signal = options.signal;
  let lastEventId = options.lastEventId ?? 0;
  let ended = false;
  let started = false;

  async function* run(): AsyncGenerator<FeedEvent> {
    let serverRetryMs = 0;
    let attempt = 0;
    while (!signal?.aborted) {
      let error: unknown;
      let retryAfterMs = 0;
      let progressed = false;
      const connection = new AbortController();
      const abortConnection = () => connection.abort();
      signal?.addEventListener("abort", abortConnection, { once: true });
      let idle: NodeJS.Timeout | undefined;
      const touch = () => {
        clearTimeout(idle);
        idle = setTimeout(abortConnection, idleTimeoutMs);
      };
      try {
        const token = typeof options.token === "function" ? options.token() : options.token;
        const headers: Record<string, string> = { accept: "text/event-stream", "cache-control": "no-cache" };
        if (token) headers.authorization = `Bearer ${token}`;
        if (lastEventId > 0) headers["last-event-id"] = String(lastEventId);
        touch();
        const res = await fetchImpl(options.url, { headers, signal: connection.signal });
        if (!res.ok) {
          const err = await ApiError.from(res);
          if (!retryable(res.status)) throw err;
          retryAfterMs = (err.retryAfterSeconds ?? 0) * 1000;
          error = err;
        } else if (!res.body || !(res.headers.get("content-type") ?? "").includes("text/event-stream")) {
          throw new ApiError({ type: "about:blank", title: "Not an event stream", status: res.status, detail: `content-type ${res.headers.get("content-type")}` });
        } else {
          const queue: FeedEvent[] = [];
          let queuedUpTo = lastEventId;
          let sawEnd = false;
          const parser = createParser({
            onEvent(message: EventSourceMessage) {
              if (message.event === "end") {
                sawEnd = true;
                return;
              }
              const id = Number(message.id);
              // ids are global positions: anything not above what we hold is a replay
              if (!Number.isSafeInteger(id) || id <= queuedUpTo) return;
              queuedUpTo = id;
              const data = JSON.parse(message.data) as FeedEvent["data"];
              queue.push({ id, type: (message.event ?? data.type) as FeedEvent["type"], data });
            },
            onRetry(ms: number) {
              serverRetryMs = ms;
            },
          });
          const reader = res.body.getReader();
          const decoder = new TextDecoder();
          try {
            for (;;) {
              const { value, done } = await reader.read();
              if (done) break;
              touch();
              parser.feed(decoder.decode(value, { stream: true }));
              for (let event = queue.shift(); event; event = queue.shift()) {
                lastEventId = event.id;
                progressed = true;
                yield event;
                if (options.isFinal?.(event)) sawEnd = true;
              }
              if (sawEnd) {
                ended = true;
                return;
              }
            }
            error = new Error("the server closed the event stream");
          } catch (err) {
            error = err;
          } finally {
            await reader.cancel().catch(() => {});
          }
        }
      } catch (err) {
        if (err instanceof ApiError && !retryable(err.status)) throw err;
        error = err;
      } finally {
        clearTimeout(idle);
        signal?.removeEventListener("abort", abortConnection);
        connection.abort();
      }
      if (signal?.aborted) return;
      attempt = progressed ? 1 : attempt + 1;
      if (attempt > maxRetries) throw error;
      const backoff = random() * Math.min(maxDelayMs, initialDelayMs * 2 ** (attempt - 1));
      const delayMs = Math.round(Math.max(backoff, serverRetryMs, retryAfterMs));
      options.onReconnect?.({ attempt, delayMs, error, lastEventId });
      await sleep(delayMs, signal);
    }
  }

  const iterate = () => {
    if (started) throw new Error("a subscription can be iterated once; subscribe again with lastEventId to resume");
    started = true;
    return run();
  };

  return {
    get lastEventId() {
      return lastEventId;
    },
    get ended() {
      return ended;
    },
    [Symbol.asyncIterator]: iterate,
    async forEach(onEvent) {
      for await (const event of { [Symbol.asyncIterator]: iterate }) await onEvent(event);
    },
  };
}
