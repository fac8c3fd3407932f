import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { RecordedEvent } from "../events/envelope.js";
import { DomainError } from "../commands/errors.js";
import type { AppDeps, AppEnv } from "./env.js";

export interface FeedOptions {
  /** deliver events strictly after this position (from Last-Event-ID) */
  after: number;
  /** which live events belong to this feed */
  matches(event: RecordedEvent): boolean;
  /** history after `after`, in position order, up to and including `upTo` */
  history(after: number, upTo: number): AsyncGenerator<RecordedEvent[]>;
  /** the feed ends after delivering an event for which this is true */
  isFinal?(event: RecordedEvent): boolean;
  /** the feed had already ended at or before `after` (a client resuming after the final event) */
  endedBefore?: boolean;
  /** extra fields for each message's data (e.g. progress) */
  decorate?(event: RecordedEvent): Record<string, unknown>;
}

/** Counts open connections per user and in total, to refuse more with 429 before streaming. */
export class SseLimits {
  private total = 0;
  private readonly perUser = new Map<string, number>();
  constructor(private readonly max: { total: number; perUser: number }) {}

  acquire(user: string): () => void {
    const mine = this.perUser.get(user) ?? 0;
    if (this.total >= this.max.total) throw new DomainError("rate_limited", "too many open event streams on this server", { retryAfterSeconds: 5 });
    if (mine >= this.max.perUser) throw new DomainError("rate_limited", `too many open event streams for ${user}`, { retryAfterSeconds: 5 });
    this.total++;
    this.perUser.set(user, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const n = (this.perUser.get(user) ?? 1) - 1;
      if (n) this.perUser.set(user, n);
      else this.perUser.delete(user);
    };
  }
}

export function parseLastEventId(c: Context): number {
  const raw = c.req.header("last-event-id") ?? c.req.query("lastEventId");
  if (raw === undefined || raw === "") return 0;
  if (!/^\d{1,15}$/.test(raw)) throw new DomainError("validation", "Last-Event-ID must be a global position (a non-negative integer)");
  return Number(raw);
}

export function toMessageData(event: RecordedEvent, extra: Record<string, unknown> = {}) {
  return {
    type: event.type,
    streamId: event.streamId,
    revision: event.revision,
    position: event.position,
    occurredAt: event.metadata.occurredAt,
    data: event.data,
    ...extra,
  };
}

const message = (id: string | undefined, event: string, data: unknown) =>
  `${id ? `id: ${id}\n` : ""}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

/** An undecorated event is the same bytes on every connection: serialize it once. */
const serialized = new WeakMap<RecordedEvent, string>();
function shared(event: RecordedEvent): string {
  let text = serialized.get(event);
  if (text === undefined) {
    text = message(String(event.position), event.type, toMessageData(event));
    serialized.set(event, text);
  }
  return text;
}

/**
 * Replays history, then goes live from the shared feed with no gap or duplicate at the seam:
 * the listener is attached first (buffering), history is read up to the attach position, and
 * buffered events at or below the last delivered position are skipped.
 *
 * Memory per connection is bounded: when a burst overflows the queue, the queue is emptied and
 * the connection catches up from the log instead (the log is the buffer). A client that stops
 * reading altogether blocks a write; after SSE_STALL_SECONDS it is disconnected and resumes later
 * with Last-Event-ID.
 */
export function streamFeed(c: Context<AppEnv>, deps: AppDeps, options: FeedOptions): Response {
  const release = deps.sseLimits.acquire(c.get("principal")?.sub ?? "anonymous");
  const { metrics, config } = deps;
  return streamSSE(c, async (stream) => {
    metrics.sseConnections.inc();
    const queue: RecordedEvent[] = [];
    let behind = false;
    let stalled = false;
    let wake: (() => void) | undefined;
    // the newest position the feed has shown this connection (matching or not): where a catch-up reads to
    let seenUpTo = 0;
    const attachment = deps.feed.attach((event) => {
      seenUpTo = event.position;
      if (!options.matches(event)) return;
      if (queue.length >= config.sse.queueLimit) {
        metrics.sseMessagesDropped.inc(queue.length);
        queue.length = 0;
        behind = true;
      } else queue.push(event);
      wake?.();
    });
    seenUpTo = attachment.position;
    // a write pending longer than the stall timeout means the client stopped reading: checked on
    // the heartbeat's tick rather than with a timer per message, which thousands of clients would pay
    let pendingSince = 0;
    const write = async (text: string) => {
      pendingSince = Date.now();
      await stream.write(text);
      pendingSince = 0;
    };
    const heartbeat = setInterval(
      () => {
        if (pendingSince && Date.now() - pendingSince > config.sse.stallTimeoutMs) {
          stalled = true;
          stream.abort(); // also unblocks the pending write
        } else if (!pendingSince) void write(": heartbeat\n\n");
      },
      Math.min(config.sse.heartbeatMs, config.sse.stallTimeoutMs / 2),
    );
    stream.onAbort(() => wake?.());
    let last = options.after;
    const send = async (event: RecordedEvent) => {
      await write(options.decorate ? message(String(event.position), event.type, toMessageData(event, options.decorate(event))) : shared(event));
      metrics.sseMessagesSent.inc();
      last = event.position;
      return options.isFinal?.(event) ?? false;
    };
    /** sends history after `last` up to `upTo`; true when the feed's final event went out */
    const replay = async (upTo: number) => {
      for await (const page of options.history(last, upTo)) {
        for (const event of page) {
          if (event.position <= last || event.position > upTo) continue;
          if (await send(event)) return true;
          if (stream.aborted) return false;
        }
      }
      return false;
    };
    const end = () => write(message(undefined, "end", { position: last }));
    try {
      await write(`retry: 2000\n\n`);
      if (options.endedBefore) return void (await end());
      if (await replay(attachment.position)) return void (await end());
      while (!stream.aborted && !stream.closed) {
        if (behind) {
          behind = false;
          if (await replay(seenUpTo)) return void (await end());
          continue;
        }
        const event = queue.shift();
        if (!event) {
          // the timeout only guards against a wake-up lost to a race with abort
          await new Promise<void>((resolve) => {
            wake = resolve;
            setTimeout(resolve, 5000).unref();
          });
          wake = undefined;
          continue;
        }
        if (event.position <= last) continue;
        if (await send(event)) return void (await end());
      }
    } finally {
      if (stalled) metrics.sseConnectionsDropped.inc();
      clearInterval(heartbeat);
      attachment.detach();
      metrics.sseConnections.dec();
      release();
    }
  });
}
