// Holds many SSE connections for sse.bench.ts, as a child process so parsing costs the client, not
// the server. Commands arrive over IPC; every command gets exactly one answer. Each message's
// arrival is stamped with performance.timeOrigin + performance.now() (epoch ms, sub-ms resolution);
// the parent stamps appends the same way, so latencies compare the two processes' clocks, both
// taken from the same system clock.
import { request, type ClientRequest } from "node:http";

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
  req: ClientRequest;
  received: number;
}
const connections: Connection[] = [];
/** position -> arrival times, one per connection that received it */
const arrivals = new Map<number, number[]>();

function record(position: number, at: number) {
  const list = arrivals.get(position);
  if (list) list.push(at);
  else arrivals.set(position, [at]);
}

/** start of the next "id: " line at or after `from`, or -1 */
function nextId(text: string, from: number): number {
  const j = text.indexOf("\nid: ", from);
  return j < 0 ? -1 : j + 1;
}

/** Resolves once the first bytes of the stream (the retry: line) arrived, or with the failure. */
function openOne(url: string, token: string, lastEventId: number): Promise<number | "error"> {
  return new Promise((resolve) => {
    let carry = "";
    let settled = false;
    const settle = (v: number | "error") => {
      if (settled) return;
      settled = true;
      resolve(v);
    };
    const req = request(url, { headers: { authorization: `Bearer ${token}`, accept: "text/event-stream", "last-event-id": String(lastEventId) }, agent: false }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return settle(res.statusCode ?? 0);
      }
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        const at = now();
        if (!settled) {
          connections.push(conn);
          settle(200);
        }
        // only whole lines: keep a trailing partial line for the next chunk
        const text = carry + chunk;
        const lastNewline = text.lastIndexOf("\n");
        carry = text.slice(lastNewline + 1);
        for (let i = text.startsWith("id: ") ? 0 : nextId(text, 0); i >= 0; ) {
          const end = text.indexOf("\n", i);
          if (end < 0) break; // a partial line: it is in carry
          record(Number(text.slice(i + 4, end)), at);
          conn.received++;
          i = nextId(text, end);
        }
      });
      res.on("error", () => {});
    });
    // the response callback runs later, once conn exists
    const conn: Connection = { req, received: 0 };
    req.on("error", () => settle("error"));
    req.end();
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
  return { messages, minPerConnection: connections.length ? min : 0, open: connections.length };
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
    for (const c of connections) c.req.destroy();
    process.send!({}, () => process.exit(0));
  }
});
