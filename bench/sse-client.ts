// Holds many SSE connections for sse.bench.ts, as a child process so parsing costs the client, not
// the server. Commands arrive over IPC; every command gets exactly one answer. Each message's
// arrival is stamped with performance.timeOrigin + performance.now() (epoch ms, sub-ms resolution);
// the parent stamps appends the same way, so latencies compare the two processes' clocks, both
// taken from the same system clock.
import { connect, type Socket } from "node:net";

export type SseCommand =
  | { cmd: "open"; url: string; token: string; count: number; lastEventId: number }
  | { cmd: "received" }
  | { cmd: "report"; appendedAt: [position: number, epochMs: number][] }
  | { cmd: "close" };

export interface Opened {
  open: number;
  failed: number;
  statuses: Record<string, number>;
}
export interface Received {
  messages: number;
  /** fewest messages any open connection has received */
  minPerConnection: number;
  open: number;
  /** this process's CPU time so far (process.cpuUsage), µs: what receiving costs the client side */
  cpu: NodeJS.CpuUsage;
}
export interface Report {
  /** latency histogram: bucket (0.1 ms) -> count */
  buckets: Record<string, number>;
  matched: number;
}

const now = () => performance.timeOrigin + performance.now();
const BUCKET_MS = 0.1;
const OPENING_AT_ONCE = 100;

interface Connection {
  socket: Socket;
  received: number;
  /** the unfinished end of the last chunk, when it may hold (part of) an id line */
  carry: Buffer | null;
}
const connections: Connection[] = [];
/** position -> arrival times, one per connection that received it */
const arrivals = new Map<number, number[]>();

function record(position: number, at: number) {
  const list = arrivals.get(position);
  if (list) list.push(at);
  else arrivals.set(position, [at]);
}

const ID_LINE = Buffer.from("\nid: ", "latin1");
const READ_BUFFER = Buffer.alloc(64 * 1024);
const NL = 10;

/**
 * Counts the messages in a stream's bytes: each "\nid: N\n" is one, stamped with `at`. Bytes, not
 * strings: a raw socket and no UTF-8 decoding, so receiving costs this process as little as it can
 * (it shares the 2 cores with the server it measures). `carry` is the unfinished last line.
 */
function scan(conn: Connection, bytes: Buffer, at: number): void {
  const buf = conn.carry ? Buffer.concat([conn.carry, bytes]) : bytes;
  conn.carry = null;
  let i = buf.indexOf(ID_LINE);
  while (i >= 0) {
    let position = 0;
    let j = i + ID_LINE.length;
    for (; j < buf.length && buf[j] !== NL; j++) position = position * 10 + (buf[j]! - 48);
    if (j >= buf.length) {
      conn.carry = Buffer.from(buf.subarray(i)); // the id line goes on in the next chunk
      return;
    }
    record(position, at);
    conn.received++;
    i = buf.indexOf(ID_LINE, j);
  }
  // a tail shorter than "\nid: " may be the start of one
  const tail = buf.subarray(Math.max(0, buf.length - (ID_LINE.length - 1)));
  const nl = tail.lastIndexOf(NL);
  if (nl >= 0) conn.carry = Buffer.from(tail.subarray(nl));
}

/**
 * Opens one stream over a raw socket (HTTP/1.1 by hand: the server's chunk framing is left in the
 * bytes, where it cannot look like an id line). Resolves with the status once the head arrived.
 */
function openOne(url: string, token: string, lastEventId: number): Promise<number | "error"> {
  const u = new URL(url);
  return new Promise((resolve) => {
    let settled = false;
    const settle = (v: number | "error") => {
      if (settled) return;
      settled = true;
      resolve(v);
    };
    let head: Buffer | null = Buffer.alloc(0);
    // reads land in one buffer shared by every socket (each read is handled before the next): no
    // Buffer and no stream 'data' event per read. What is kept past the read (head, carry) is copied.
    const onData = (chunk: Buffer) => {
      const at = now();
      if (head) {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf("\r\n\r\n");
        if (end < 0) return;
        const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head.subarray(0, 16).toString("latin1"))?.[1] ?? 0);
        const body = head.subarray(end + 4);
        head = null;
        if (status !== 200) {
          socket.destroy();
          return settle(status);
        }
        connections.push(conn);
        settle(200);
        if (body.length) scan(conn, body, at);
        return;
      }
      scan(conn, chunk, at);
    };
    const socket = connect({
      port: Number(u.port),
      host: u.hostname,
      onread: {
        buffer: READ_BUFFER,
        callback: (n: number) => {
          onData(READ_BUFFER.subarray(0, n));
          return true; // keep reading
        },
      },
    });
    const conn: Connection = { socket, received: 0, carry: null };
    socket.setNoDelay(true);
    socket.write(
      `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nAuthorization: Bearer ${token}\r\nAccept: text/event-stream\r\nLast-Event-ID: ${lastEventId}\r\n\r\n`,
    );
    socket.on("error", () => settle("error"));
    socket.on("close", () => settle("error"));
  });
}

async function open(url: string, token: string, count: number, lastEventId: number): Promise<Opened> {
  const result: Opened = { open: 0, failed: 0, statuses: {} };
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(OPENING_AT_ONCE, count) }, async () => {
      while (next < count) {
        next++;
        const status = await openOne(url, token, lastEventId);
        if (status === 200) result.open++;
        else {
          result.failed++;
          result.statuses[status] = (result.statuses[status] ?? 0) + 1;
        }
      }
    }),
  );
  return result;
}

function received(): Received {
  let messages = 0;
  let min = Infinity;
  for (const c of connections) {
    messages += c.received;
    min = Math.min(min, c.received);
  }
  return { messages, minPerConnection: connections.length ? min : 0, open: connections.length, cpu: process.cpuUsage() };
}

function report(appendedAt: [number, number][]): Report {
  const buckets: Record<string, number> = {};
  let matched = 0;
  for (const [position, t] of appendedAt) {
    for (const at of arrivals.get(position) ?? []) {
      const b = Math.max(0, Math.floor((at - t) / BUCKET_MS));
      buckets[b] = (buckets[b] ?? 0) + 1;
      matched++;
    }
  }
  return { buckets, matched };
}

process.on("message", (m: SseCommand) => {
  const answer = (v: unknown) => process.send!(v);
  if (m.cmd === "open") void open(m.url, m.token, m.count, m.lastEventId).then(answer);
  else if (m.cmd === "received") answer(received());
  else if (m.cmd === "report") answer(report(m.appendedAt));
  else {
    for (const c of connections) c.socket.destroy();
    process.send!({}, () => process.exit(0));
  }
});
