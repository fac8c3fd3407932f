import type { ServerResponse } from "node:http";
import type { Socket } from "node:net";

const CRLF = Buffer.from("\r\n", "latin1");

/**
 * One message's bytes, encoded once. A message fanned out to every connection is one of these,
 * shared: each connection writes the same Buffer, so nothing is serialized, encoded or framed per
 * connection.
 */
export class WireMessage {
  private chunk?: Buffer;
  constructor(readonly bytes: Buffer) {}

  static of(text: string): WireMessage {
    return new WireMessage(Buffer.from(text, "utf8"));
  }

  /** The bytes as one chunk of a chunked HTTP/1.1 body (size in hex, CRLF, bytes, CRLF), built on first use. */
  get framed(): Buffer {
    return (this.chunk ??= Buffer.concat([Buffer.from(`${this.bytes.length.toString(16)}\r\n`, "latin1"), this.bytes, CRLF]));
  }
}

/**
 * Sockets written to in this turn of the event loop, uncorked together once it ends: messages
 * written in the same turn (a page of catch-up, or live events the feed delivers back to back when
 * it fell behind) leave in one system call per socket, and a fan-out pays one nextTick in all
 * rather than one per connection.
 */
let corked: Socket[] = [];
let flushScheduled = false;
function flush(): void {
  flushScheduled = false;
  const sockets = corked;
  corked = [];
  // uncork on a socket ended (and so fully uncorked) meanwhile is a no-op
  for (const s of sockets) s.uncork();
}

/**
 * An event stream's body, written straight to the response's socket once its head is out.
 * `res.write` frames each write as four buffered writes (size, CRLF, data, CRLF) and schedules an
 * uncork per response: at 2,000 connections that bookkeeping cost more CPU than the messages. The
 * socket carries only this response while it streams (an HTTP/1.1 connection serves one response
 * at a time), so framing the chunks here is equivalent; the response itself still writes the head
 * and the terminating chunk (`res.end`). Without a socket (a response queued behind another on the
 * connection), or while the response holds bytes of its own, it writes through `res.write`.
 */
export class Wire {
  private readonly socket: Socket | null;
  private readonly chunked: boolean;
  private drainListener?: () => void;

  /** `res` must have written its head and first bytes already (res.write): the head goes out first. */
  constructor(private readonly res: ServerResponse) {
    this.socket = res.headersSent && res.socket && !res.socket.destroyed ? res.socket : null;
    this.chunked = res.chunkedEncoding;
  }

  /** false: the socket's buffer is full; wait for `onDrain` */
  write(message: WireMessage): boolean {
    const socket = this.socket;
    // Bytes the response still holds itself go out before ours: Node 22+ collects a chunked
    // response's writes made while it is corked (its first turn) and hands them to the socket only
    // at the uncork, so a write straight to the socket then would overtake them. Through the
    // response, ours queue behind them; once it holds nothing, the socket is the same stream.
    if (!socket || this.res.writableLength > socket.writableLength) return this.res.write(message.bytes);
    if (!socket.writableCorked) {
      socket.cork();
      corked.push(socket);
      if (!flushScheduled) {
        flushScheduled = true;
        process.nextTick(flush);
      }
    }
    return socket.write(this.chunked ? message.framed : message.bytes);
  }

  /** Calls `listener` each time the buffer drains, until `close`. */
  onDrain(listener: () => void): void {
    this.drainListener = listener;
    (this.socket ?? this.res).on("drain", listener);
  }

  /** Removes the drain listener: a keep-alive socket outlives the stream. */
  close(): void {
    if (this.drainListener) (this.socket ?? this.res).off("drain", this.drainListener);
    this.drainListener = undefined;
  }
}
