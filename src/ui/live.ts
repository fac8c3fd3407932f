import type { ServerResponse } from "node:http";
import type { Context } from "hono";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import { DomainError } from "../commands/errors.js";
import type { RecordedEvent } from "../events/envelope.js";
import type { Attachment } from "../events/live-feed.js";
import type { AppDeps, AppEnv } from "../http/env.js";
import type { Principal } from "../http/auth.js";
import type { AccessWatch } from "../identity/user-directory.js";
import { pendingOf, StallCheck } from "../http/stall.js";

/** A part of a page that keeps itself current: which events may change it, and how to draw it. */
export interface LiveView {
  /** whether an event may change what the view shows (cheap: called for every event in the log) */
  relevant(event: RecordedEvent): boolean;
  /** each fragment by its SSE event name (the page's `sse-swap` targets), drawn from the read models */
  render(): Promise<Record<string, string>>;
  /** at most one redraw per this many ms, however many events arrive */
  throttleMs?: number;
}

/** how long a redraw waits for the read models to apply the event that caused it */
const READ_MODEL_WAIT_MS = 2000;

/**
 * Serves a LiveView as Server-Sent Events of HTML fragments for the htmx SSE extension. The
 * messages carry state, not events: each is the fragment as it is now, sent only when it changed,
 * so a client that falls behind or reconnects needs no history (it gets the current fragments at
 * once) and a connection holds at most one redraw, however busy the log.
 */
export function liveFragments(c: Context<AppEnv>, deps: AppDeps, view: LiveView): Response {
  const res = c.env?.outgoing;
  if (!res) throw new Error("live fragments need @hono/node-server (c.env.outgoing)");
  if (deps.shutdown?.aborted) throw new DomainError("unavailable", "the server is shutting down; connect again", { retryAfterSeconds: 1 });
  const release = deps.sseLimits.acquire(c.get("principal")?.sub ?? "anonymous");
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache, no-store",
    "x-accel-buffering": "no",
    "x-content-type-options": "nosniff",
  });
  new LiveConnection(res, deps, view, release, c.get("principal")).start();
  return RESPONSE_ALREADY_SENT;
}

/** one SSE message; every line of the fragment its own data line, as the format requires */
export function fragmentMessage(event: string, fragment: string): string {
  return `event: ${event}\n${fragment.replace(/\r/g, "").split("\n").map((line) => `data: ${line}`).join("\n")}\n\n`;
}

class LiveConnection {
  private readonly sent = new Map<string, string>();
  private attachment?: Attachment;
  private heartbeat?: NodeJS.Timeout;
  private timer?: NodeJS.Timeout;
  /** the newest relevant position not drawn yet; 0 when drawn */
  private pending = 0;
  private drawing = false;
  private lastDrawAt = 0;
  private blockedSince = 0;
  private stall?: StallCheck;
  private closed = false;
  private readonly onShutdown = () => this.close(": server shutting down\n\n");
  private access?: AccessWatch;

  constructor(
    private readonly res: ServerResponse,
    private readonly deps: AppDeps,
    private readonly view: LiveView,
    private readonly release: () => void,
    private readonly principal?: Principal,
  ) {}

  start(): void {
    this.deps.metrics.sseConnections.inc();
    this.res.on("close", () => this.cleanUp());
    this.res.on("error", () => this.cleanUp());
    this.res.on("drain", () => {
      this.blockedSince = 0;
      this.stall?.reset();
      if (this.pending) this.schedule();
    });
    this.deps.shutdown?.addEventListener("abort", this.onShutdown, { once: true });
    // drawn for the session's user and roles: it ends when they no longer hold (src/http/sse.ts alike)
    this.access = this.deps.users.watchAccess(this.principal, () => this.close(": access changed; reconnect to be authorized again\n\n"));
    this.attachment = this.deps.feed.attach((event) => {
      if (!this.view.relevant(event)) return;
      this.pending = Math.max(this.pending, event.position);
      this.schedule();
    });
    const { heartbeatMs, stallTimeoutMs } = this.deps.config.sse;
    const tickMs = Math.min(heartbeatMs, stallTimeoutMs / 2);
    this.stall = new StallCheck(tickMs, stallTimeoutMs, Date.now());
    this.heartbeat = setInterval(() => this.tick(), tickMs);
    this.write("retry: 2000\n\n");
    // what the page shows may be older than the connection: draw at once
    this.pending = Math.max(1, this.attachment.position);
    void this.draw();
  }

  /** Leading edge: an idle view redraws at once (after the events of the same append); a busy one at most once per throttle. */
  private schedule(): void {
    if (this.timer || this.drawing || this.blockedSince || this.closed) return;
    const wait = Math.max(0, this.lastDrawAt + (this.view.throttleMs ?? 100) - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.draw();
    }, wait);
  }

  private async draw(): Promise<void> {
    if (this.closed || this.drawing) return;
    this.drawing = true;
    this.lastDrawAt = Date.now();
    const upTo = this.pending;
    this.pending = 0;
    try {
      // a slow read model draws late, never stale-and-silent: after the wait it draws what it has
      await this.deps.projections.waitFor(upTo, READ_MODEL_WAIT_MS);
      // events that arrived during the wait and are applied already go into this drawing too
      if (this.pending && this.deps.projections.position() >= this.pending) this.pending = 0;
      const fragments = await this.view.render();
      for (const [event, fragment] of Object.entries(fragments)) {
        if (this.sent.get(event) === fragment) continue;
        this.sent.set(event, fragment);
        this.write(fragmentMessage(event, fragment));
      }
    } catch (err) {
      this.deps.logger.warn({ err }, "dashboard live view: drawing failed");
      // the client reconnects and draws afresh
      this.res.destroy();
    } finally {
      this.drawing = false;
    }
    if (this.pending) this.schedule();
  }

  private write(text: string): void {
    if (this.closed) return;
    if (!this.res.write(text) && !this.blockedSince) this.blockedSince = Date.now();
  }

  private tick(): void {
    if (!this.access?.check()) return;
    if (this.stall!.tick(Date.now(), this.blockedSince, pendingOf(this.res))) return void this.res.destroy();
    if (!this.blockedSince) this.write(": heartbeat\n\n");
  }

  private close(last: string): void {
    if (this.closed) return;
    this.write(last);
    this.res.end();
    this.cleanUp();
  }

  private cleanUp(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.timer);
    this.deps.shutdown?.removeEventListener("abort", this.onShutdown);
    this.access?.stop();
    this.attachment?.detach();
    this.deps.metrics.sseConnections.dec();
    this.release();
  }
}
