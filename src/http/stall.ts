// When a live stream's client counts as stalled: shared by the API's SSE feeds and the dashboard's
// live views, which both check it on their heartbeat tick rather than with a timer per write.
import type { ServerResponse } from "node:http";

/** Bytes waiting to go out: [the response's stream buffer, libuv's queue for the write in progress]. */
export type Pending = readonly [number, number];

/**
 * Time observed without progress while the socket refuses writes. A tick adds at most its own
 * period, however late it fires: after the server's loop was blocked, timers run before the I/O
 * phase that would report the client's drain, so that lateness is the server's, not the client's.
 * While blocked nothing new is written, so less waiting than at the last tick is the client reading.
 */
export class StallCheck {
  private stalledFor = 0;
  private lastTickAt: number;
  private pendingAtTick: Pending = [0, 0];

  constructor(
    private readonly tickMs: number,
    private readonly timeoutMs: number,
    now: number,
  ) {
    this.lastTickAt = now;
  }

  /** `blockedSince` is 0 while the socket takes writes; true once the client has read nothing for longer than the timeout. */
  tick(now: number, blockedSince: number, pending: Pending): boolean {
    const sinceTick = now - this.lastTickAt;
    this.lastTickAt = now;
    if (!blockedSince) {
      this.reset();
      return false;
    }
    const [buffered, queued] = this.pendingAtTick;
    const progressed = pending[0] < buffered || (pending[0] === buffered && pending[1] < queued);
    this.pendingAtTick = pending;
    this.stalledFor = progressed ? 0 : this.stalledFor + Math.min(sinceTick, now - blockedSince, this.tickMs);
    return this.stalledFor > this.timeoutMs;
  }

  /** the client drained what was waiting */
  reset(): void {
    this.stalledFor = 0;
    this.pendingAtTick = [0, 0];
  }
}

/**
 * What `res` has not handed to the kernel yet. libuv's queue shrinks as the kernel takes more; Node
 * writes a backlog as one request, so the stream buffer alone moves only when all of it is out.
 * `_handle` is internal: 0 without it.
 */
export function pendingOf(res: ServerResponse): Pending {
  const handle = (res.socket as { _handle?: { writeQueueSize?: unknown } } | null)?._handle;
  return [res.writableLength, typeof handle?.writeQueueSize === "number" ? handle.writeQueueSize : 0];
}
