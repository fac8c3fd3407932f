import { STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import { problemBody } from "./problem.js";

/**
 * Answers a request Node's HTTP parser refused before the app saw it (headers over the size
 * limit, a malformed request line or header, conflicting lengths) with problem+json like every
 * other refusal, instead of Node's bare status line. Mirrors Node's default 'clientError'
 * handling otherwise: 431 for oversized headers, 408 for a request timeout, 400 for the rest,
 * and a socket that cannot be answered is destroyed.
 */
export function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  // a response already under way on this socket cannot be followed by another status line
  const current = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (err.code === "ECONNRESET" || !socket.writable || current?.headersSent) {
    socket.destroy();
    return;
  }
  const status = err.code === "HPE_HEADER_OVERFLOW" ? 431 : err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
  const detail =
    status === 431 ? "the request's headers (with its URL) are too large" : status === 408 ? "the request took too long to arrive" : "the request is not well-formed HTTP";
  const body = JSON.stringify(problemBody(status, detail));
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
      "Content-Type: application/problem+json\r\n" +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      "Connection: close\r\n\r\n" +
      body,
  );
}
