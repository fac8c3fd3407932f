import { createServer, type ServerResponse } from "node:http";
import { connect, type AddressInfo } from "node:net";
import { once } from "node:events";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Wire, WireMessage } from "../../src/http/sse-wire.js";

// The wire writes an event stream's chunks straight to the socket, so what the client receives must
// be what res.write would have sent: a valid chunked body (HTTP/1.1), raw bytes (HTTP/1.0), and a
// keep-alive connection that serves the next request properly once the stream ended.

const t = suite("sse wire");

/** A server whose every response is `retry`, then the messages through a Wire, then end. */
async function serve(messages: WireMessage[]) {
  const drainListeners: number[] = [];
  /** the socket's drain listeners while the Wire was open: one more than after, when it wrote to the socket */
  const drainListenersOpen: number[] = [];
  const server = createServer((_req, res: ServerResponse) => {
    res.writeHead(200, { "content-type": "text/event-stream" });
    res.write("retry: 2000\n\n");
    const wire = new Wire(res);
    wire.onDrain(() => {});
    for (const m of messages) wire.write(m);
    drainListenersOpen.push(res.socket?.listenerCount("drain") ?? -1);
    wire.close();
    drainListeners.push(res.socket?.listenerCount("drain") ?? -1);
    res.end();
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { server, port: (server.address() as AddressInfo).port, drainListeners, drainListenersOpen };
}

/**
 * Sends each request on one socket once the previous answer is complete (`done`), and returns
 * everything received. Pipelined requests would queue the second response without a socket.
 */
async function exchange(port: number, requests: string[], done: (text: string, answered: number) => boolean): Promise<string> {
  const socket = connect(port, "127.0.0.1");
  let text = "";
  let answered = 0;
  socket.setEncoding("latin1");
  socket.write(requests[0]!);
  await new Promise<void>((resolve) => {
    socket.on("data", (chunk: string) => {
      text += chunk;
      if (!done(text, answered + 1)) return;
      answered++;
      if (answered === requests.length) resolve();
      else socket.write(requests[answered]!);
    });
    socket.on("close", () => resolve());
  });
  socket.destroy();
  return text;
}

/** The body of a chunked response, its chunks joined (fails on a malformed chunk). */
function dechunk(body: string): string {
  let out = "";
  let i = 0;
  for (;;) {
    const eol = body.indexOf("\r\n", i);
    assert.ok(eol > 0, "chunk size line");
    const size = parseInt(body.slice(i, eol), 16);
    assert.ok(Number.isFinite(size), `chunk size: ${JSON.stringify(body.slice(i, eol))}`);
    if (size === 0) return out;
    out += body.slice(eol + 2, eol + 2 + size);
    assert.is(body.slice(eol + 2 + size, eol + 4 + size), "\r\n", "chunk ends with CRLF");
    i = eol + 4 + size;
  }
}

const unicode = WireMessage.of('id: 7\nevent: StageStarted\ndata: {"message":"déploiement ✓"}\n\n');
const plain = WireMessage.of("id: 8\nevent: StageCompleted\ndata: {}\n\n");

t("HTTP/1.1: a valid chunked body, byte lengths for multi-byte text, and the connection reused after it", async () => {
  const { server, port, drainListeners, drainListenersOpen } = await serve([unicode, plain]);
  try {
    const request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    const text = await exchange(port, [request, request], (s, n) => s.split("\r\n0\r\n\r\n").length === n + 1);
    const responses = text.split("HTTP/1.1 200 OK").slice(1);
    assert.is(responses.length, 2, "two responses on one keep-alive connection");
    for (const r of responses) {
      assert.match(r, /transfer-encoding: chunked/i);
      const body = r.slice(r.indexOf("\r\n\r\n") + 4);
      assert.is(Buffer.from(dechunk(body), "latin1").toString("utf8"), `retry: 2000\n\n${unicode.bytes.toString()}${plain.bytes.toString()}`);
    }
    assert.is(drainListeners.length, 2);
    assert.is(drainListeners[1], drainListeners[0], "no drain listener left behind on the reused socket");
    assert.equal(drainListenersOpen, [drainListeners[0]! + 1, drainListeners[0]! + 1], "each stream was written to its socket (the Wire listened there)");
  } finally {
    server.close();
  }
});

t("a pipelined request's stream, queued without a socket, goes through the response instead", async () => {
  const { server, port, drainListeners } = await serve([plain]);
  try {
    const request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    const text = await exchange(port, [request + request], (s) => s.split("\r\n0\r\n\r\n").length === 3);
    const responses = text.split("HTTP/1.1 200 OK").slice(1);
    assert.is(responses.length, 2);
    for (const r of responses) assert.is(dechunk(r.slice(r.indexOf("\r\n\r\n") + 4)), `retry: 2000\n\n${plain.bytes.toString()}`);
    assert.is(drainListeners[1], -1, "the second response had no socket when it streamed");
  } finally {
    server.close();
  }
});

t("HTTP/1.0: the bytes as they are, no chunk framing", async () => {
  const { server, port } = await serve([plain]);
  try {
    const text = await exchange(port, ["GET / HTTP/1.0\r\n\r\n"], () => false);
    const body = text.slice(text.indexOf("\r\n\r\n") + 4);
    assert.is(body, `retry: 2000\n\n${plain.bytes.toString()}`);
  } finally {
    server.close();
  }
});

t("a message's framed bytes are built once and shared", () => {
  assert.ok(plain.framed === plain.framed);
  assert.is(plain.framed.toString(), `${plain.bytes.length.toString(16)}\r\n${plain.bytes.toString()}\r\n`);
});

t.run();
