import type { ServerResponse } from "node:http";
import type { AccessWatch } from "../identity/user-directory.js";
import type { Principal } from "./auth.js";
import type { Context } from "hono";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import type { RecordedEvent } from "../events/envelope.js";
import type { Attachment } from "../events/live-feed.js";
import { DomainError } from "../commands/errors.js";
import type { AppDeps, AppEnv } from "./env.js";
import { Wire, WireMessage } from "./sse-wire.js";
import { pendingOf, StallCheck } from "./stall.js";

export interface FeedOptions {
  /** deliver events strictly after this position (from Last-Event-ID) */
  after: number;
  /**
   * Whether a live event belongs to this feed; `undefined` when that cannot be told without I/O,
   * in which case the connection reads it through `history` instead.
   */
  matches(event: RecordedEvent): boolean | undefined;
  /** this feed's events after `after`, in position order, up to and including `upTo` */
  history(after: number, upTo: number): AsyncGenerator<RecordedEvent[]>;
  /** the feed ends after delivering an event for which this is true */
  isFinal?(event: RecordedEvent): boolean;
  /** the feed had already ended at or before `after` (a client resuming after the final event) */
  endedBefore?: boolean;
  /**
   * The message for each delivered event, called once per event in order (the default: the event
   * alone, see `shared`). Undefined when it cannot be made now: the connection then reads on from
   * the log through `history`, which must make it possible.
   */
  message?(event: RecordedEvent): WireMessage | undefined;
  /** called once when the connection ends */
  closed?(): void;
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

function toMessageData(event: RecordedEvent, extra?: Record<string, unknown>) {
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

/** An event's message with extra fields in its data (e.g. progress, or a redaction). */
export const decoratedMessage = (event: RecordedEvent, extra: Record<string, unknown>): WireMessage =>
  WireMessage.of(message(String(event.position), event.type, toMessageData(event, extra)));

/**
 * An undecorated event is the same bytes on every connection: serialize, encode and frame it once.
 * A string would be UTF-8 encoded and framed again by every connection's write.
 */
const serialized = new WeakMap<RecordedEvent, WireMessage>();
function shared(event: RecordedEvent): WireMessage {
  let wire = serialized.get(event);
  if (wire === undefined) {
    wire = WireMessage.of(message(String(event.position), event.type, toMessageData(event)));
    serialized.set(event, wire);
  }
  return wire;
}
const HEARTBEAT = WireMessage.of(": heartbeat\n\n");
const ACCESS_CHANGED = WireMessage.of(": access changed; reconnect to be authorized again\n\n");
const SHUTTING_DOWN = WireMessage.of(": server shutting down; reconnect with Last-Event-ID\n\n");

/**
 * Serves one feed on the Node response directly. Going through a web ReadableStream cost a
 * promise chain per message per connection, which at a thousand watchers was most of the CPU.
 */
export function streamFeed(c: Context<AppEnv>, deps: AppDeps, options: FeedOptions): Response {
  const res = c.env?.outgoing;
  if (!res) throw new Error("event streams need @hono/node-server (c.env.outgoing)");
  if (deps.shutdown?.aborted) throw new DomainError("unavailable", "the server is shutting down; connect again", { retryAfterSeconds: 1 });
  const release = deps.sseLimits.acquire(c.get("principal")?.sub ?? "anonymous");
  const head = c.newResponse(null, 200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    "x-accel-buffering": "no", // nginx and friends would otherwise hold messages back
    "x-content-type-options": "nosniff",
  }).headers;
  res.writeHead(200, Object.fromEntries(head));
  flattenHead(res);
  new FeedConnection(res, deps, options, release, c.get("principal")).start();
  return RESPONSE_ALREADY_SENT;
}

/**
 * Node keeps a response's head (`_header`) for as long as the response lives, as it built it: one
 * concatenation per header line, ~2.4 KiB of string pieces for ~0.4 KiB of text, which a stream
 * open for hours holds on to (~5 MiB at 2,000 clients). Reading a character flattens it in place;
 * nothing else changes (the string's value is the same). Without the internal field, nothing.
 */
function flattenHead(res: ServerResponse): void {
  const head = (res as { _header?: unknown })._header;
  if (typeof head === "string" && head.length > 0) head.charCodeAt(0);
}

/**
 * One client's feed. Live events are written straight from the shared feed's callback while the
 * client keeps up. History, and anything the client fell behind on, is read from the log: the
 * log is the buffer, so memory per connection is bounded by the socket's high-water mark.
 *
 * - catching up: reads `history` from the last delivered position to the newest position the feed
 *   has shown, repeatedly, and switches to live in the same synchronous step that finds nothing
 *   newer, so nothing falls in the seam;
 * - live: writes each matching event; a write that fills the socket buffer, or an event the feed
 *   cannot classify, sends it back to catching up (once the client drains);
 * - a client that makes no progress for SSE_STALL_SECONDS is disconnected; it resumes later with
 *   Last-Event-ID. Progress is a drain or fewer bytes waiting to go out, and the time counted is time
 *   the server could watch: a heartbeat tick adds at most its own period, so a server whose loop was
 *   blocked for longer than the timeout (a big synchronous step) does not blame the client for
 *   drains it had no chance to see;
 * - when the server shuts down, the stream ends cleanly with no `end` message (the feed is not
 *   over), so the client reconnects, to another instance or after the restart, with Last-Event-ID.
 */
class FeedConnection {
  private last: number;
  private seenUpTo = 0;
  private live = false;
  private catchingUp = false;
  private blockedSince = 0;
  private stall?: StallCheck;
  private onDrain?: () => void;
  private stalled = false;
  private closed = false;
  private attachment?: Attachment;
  private heartbeat?: NodeJS.Timeout;
  private wire!: Wire;
  private readonly onShutdown = () => this.hangUp();
  private access?: AccessWatch;

  constructor(
    private readonly res: ServerResponse,
    private readonly deps: AppDeps,
    private readonly options: FeedOptions,
    private readonly release: () => void,
    private readonly principal?: Principal,
  ) {
    this.last = options.after;
  }

  start(): void {
    const { config, metrics } = this.deps;
    metrics.sseConnections.inc();
    this.res.on("close", () => this.cleanUp());
    // a write racing a vanished client can fail; unheard, that error would end the process
    this.res.on("error", () => this.cleanUp());
    // the head and the first bytes through the response; the rest straight to its socket
    if (!this.res.write("retry: 2000\n\n")) this.blockedSince = Date.now();
    this.wire = new Wire(this.res);
    this.wire.onDrain(() => {
      this.blockedSince = 0;
      this.stall?.reset();
      const resume = this.onDrain;
      this.onDrain = undefined;
      if (resume) resume();
      else if (!this.live) this.catchUp();
    });
    this.deps.shutdown?.addEventListener("abort", this.onShutdown, { once: true });
    this.access = this.deps.users.watchAccess(this.principal, () => this.revoke());
    // judged at authentication, but the request may have waited since (?minPosition, the route's reads)
    if (!this.access.check()) return;
    this.attachment = this.deps.feed.attach((event) => this.onEvent(event));
    this.seenUpTo = this.attachment.position;
    const tickMs = Math.min(config.sse.heartbeatMs, config.sse.stallTimeoutMs / 2);
    this.stall = new StallCheck(tickMs, config.sse.stallTimeoutMs, Date.now());
    this.heartbeat = setInterval(() => this.tick(), tickMs);
    if (this.options.endedBefore) this.end();
    else this.catchUp();
  }

  private onEvent(event: RecordedEvent): void {
    this.seenUpTo = event.position;
    if (!this.live || event.position <= this.last) return;
    const belongs = this.options.matches(event);
    if (belongs === false) return;
    if (belongs === undefined || this.blockedSince || !this.send(event)) {
      // read later from the log, in order with what follows
      this.live = false;
      if (this.blockedSince) this.deps.metrics.sseMessagesDropped.inc();
      else this.catchUp();
      return;
    }
  }

  private catchUp(): void {
    if (this.catchingUp || this.closed || this.blockedSince) return;
    this.catchingUp = true;
    this.readHistory().catch((err: unknown) => {
      this.deps.logger.error({ err }, "event stream: reading history failed");
      this.res.destroy();
    });
  }

  private async readHistory(): Promise<void> {
    try {
      while (!this.closed) {
        const upTo = this.seenUpTo;
        let readAgain = false;
        pages: for await (const page of this.options.history(this.last, upTo)) {
          for (const event of page) {
            if (event.position <= this.last || event.position > upTo) continue;
            // a message that cannot be made now is read again, after what was sent
            if (!this.send(event)) {
              readAgain = true;
              break pages;
            }
            if (this.closed) return;
            if (this.blockedSince) await new Promise<void>((resolve) => (this.onDrain = resolve));
            if (this.closed) return;
          }
        }
        if (readAgain) continue;
        if (this.seenUpTo === upTo) {
          this.live = true;
          return;
        }
      }
    } finally {
      // in the same step that goes live: an event arriving next may need a new catch-up at once
      this.catchingUp = false;
    }
  }

  /** Writes the event's message; false (nothing written) when the message cannot be made now. */
  private send(event: RecordedEvent): boolean {
    const { message, isFinal } = this.options;
    const wire = message ? message(event) : shared(event);
    if (!wire) return false;
    this.write(wire);
    this.deps.metrics.sseMessagesSent.inc();
    this.last = event.position;
    if (isFinal?.(event)) this.end();
    return true;
  }

  private write(wire: WireMessage): void {
    if (this.closed) return;
    if (!this.wire.write(wire) && !this.blockedSince) this.blockedSince = Date.now();
  }

  private end(): void {
    this.write(WireMessage.of(message(undefined, "end", { position: this.last })));
    this.res.end();
    this.cleanUp();
  }

  /**
   * Ends the response properly (a client cut off mid-chunk cannot tell a shutdown from a network
   * fault) but without `end`: what is queued in the socket still goes out, and the client resumes.
   */
  private hangUp(): void {
    if (this.closed) return;
    this.write(SHUTTING_DOWN);
    this.res.end();
    this.cleanUp();
  }

  /**
   * The stream was authorized when it opened and goes on only while that holds (the account
   * enabled, the token neither signed out nor run out, no role taken away); otherwise it ends like
   * a shutdown, so the client reconnects and the route judges it again.
   */
  private revoke(): void {
    if (this.closed) return;
    this.write(ACCESS_CHANGED);
    this.res.end();
    this.cleanUp();
  }

  /** Checked on the heartbeat's tick rather than with a timer per write, which thousands of clients would pay (src/http/stall.ts). */
  private tick(): void {
    if (!this.access?.check()) return;
    if (this.stall!.tick(Date.now(), this.blockedSince, pendingOf(this.res))) {
      this.stalled = true;
      return void this.res.destroy();
    }
    if (!this.blockedSince) this.write(HEARTBEAT);
  }

  private cleanUp(): void {
    if (this.closed) return;
    this.closed = true;
    const { metrics } = this.deps;
    if (this.stalled) metrics.sseConnectionsDropped.inc();
    clearInterval(this.heartbeat);
    this.wire.close();
    this.deps.shutdown?.removeEventListener("abort", this.onShutdown);
    this.access?.stop();
    this.attachment?.detach();
    this.onDrain?.();
    metrics.sseConnections.dec();
    this.release();
    this.options.closed?.();
  }
}
