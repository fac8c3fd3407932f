// A stall is the client's lack of progress, judged over time the server was able to watch. A
// server whose own event loop is blocked for longer than SSE_STALL_SECONDS (a big synchronous
// step) must not drop a client that kept reading meanwhile: it could not have seen the client's
// progress until its loop turned. A client that truly stops reading is still dropped.
//
// The reading client runs in a child process, so it keeps reading while this process (server
// and test) is blocked, as a real client on another machine would.
import { spawn, type ChildProcess } from "node:child_process";
import { request, type ClientRequest, type IncomingMessage } from "node:http";
import { randomUUID } from "node:crypto";
import { createInterface } from "node:readline";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";

const STALL_SECONDS = 1;
/** the server's loop is blocked this long: well past the stall timeout */
const BLOCK_MS = 3_500;

const BLOCK_HERE = "block here";
/** big messages: a burst overfills the kernel's socket buffers with few events to append */
const MESSAGE_BYTES = 32_000;
/** the reading client's pace: a burst of 600 messages takes it a few seconds */
const READ_BYTES_PER_SECOND = 8_000_000;

/** Appends `count` events to a new deployment stream, the last one saying `lastMessage`; returns its global position. */
async function appendMany(s: TestServer, count: number, lastMessage = "x"): Promise<number> {
  const streamId = `deployment-${randomUUID()}`;
  const message = "x".repeat(MESSAGE_BYTES);
  let last = 0;
  for (let done = 0; done < count; done += 500) {
    const n = Math.min(500, count - done);
    const events = Array.from({ length: n }, (_, i) => ({
      type: "DeploymentQueued",
      data: { at: new Date().toISOString(), message: done + i === count - 1 ? lastMessage : message },
    }));
    const envelopes = s.deps.log.envelope(events, () => ({ actor: { kind: "system", id: "test" }, correlationId: "sse-stall", causationId: "sse-stall" }));
    last = (await s.deps.log.append(streamId, envelopes, "any")).position;
  }
  return last;
}

const dropped = async (s: TestServer) => (await s.deps.metrics.sseConnectionsDropped.get()).values[0]?.value ?? 0;

async function until(what: string, check: () => boolean | Promise<boolean>, deadlineMs = 60_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// The child reads the feed steadily and reports, one JSON line each: when it opened, the highest
// id it has seen (every 50 ms), and when the connection ended.
const READER = `
const http = require("node:http");
const RATE = ${READ_BYTES_PER_SECOND};
let last = 0, bytes = 0, carry = "";
const say = (m) => process.stdout.write(JSON.stringify(m) + "\\n");
const req = http.request(process.argv[1], { headers: { authorization: "Bearer " + process.argv[2] } }, (res) => {
  say({ status: res.statusCode });
  res.setEncoding("utf8");
  // reads steadily at about RATE bytes a second, so a burst outruns it and the server must wait for drains
  let windowStart = Date.now(), inWindow = 0;
  res.on("data", (chunk) => {
    bytes += chunk.length;
    inWindow += chunk.length;
    if (inWindow > RATE / 20) {
      res.pause();
      setTimeout(() => { windowStart = Date.now(); inWindow = 0; res.resume(); }, Math.max(0, windowStart + 50 - Date.now()));
    }
    const text = carry + chunk;
    const cut = text.lastIndexOf("\\n");
    carry = text.slice(cut + 1);
    for (const m of text.slice(0, cut + 1).matchAll(/^id: (\\d+)$/gm)) last = Number(m[1]);
  });
  res.on("end", () => say({ ended: "end", last, bytes }));
  res.on("close", () => say({ ended: "close", last, bytes }));
  res.on("error", () => {});
});
req.on("error", (e) => say({ ended: "error: " + e.message, last, bytes }));
req.end();
setInterval(() => say({ last, bytes }), 50);
`;

interface Reader {
  child: ChildProcess;
  status: number | undefined;
  last: number;
  bytes: number;
  ended: string | undefined;
}

function startReader(url: string, token: string): Promise<Reader> {
  const child = spawn(process.execPath, ["-e", READER, url, token], { stdio: ["ignore", "pipe", "inherit"] });
  const r: Reader = { child, status: undefined, last: 0, bytes: 0, ended: undefined };
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      const m = JSON.parse(line) as { status?: number; last?: number; bytes?: number; ended?: string };
      if (m.status !== undefined) {
        r.status = m.status;
        if (m.status === 200) resolve(r);
        else reject(new Error(`reader got ${m.status}`));
      }
      if (m.last !== undefined) r.last = m.last;
      if (m.bytes !== undefined) r.bytes = m.bytes;
      if (m.ended !== undefined) r.ended ??= m.ended;
    });
    child.on("error", reject);
  });
}

/** A client that takes the first chunk and then never reads again. */
function stuckClient(s: TestServer, token: string): Promise<{ req: ClientRequest; res: IncomingMessage }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL("/api/v1/deployments/events", s.url), { headers: { authorization: `Bearer ${token}` } }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`stuck client got ${res.statusCode}`));
      res.once("data", () => {
        res.pause();
        resolve({ req, res });
      });
    });
    req.on("error", reject);
    req.end();
  });
}

test("a server blocked past SSE_STALL_SECONDS keeps a client that reads; a client that stopped reading is dropped", async () => {
  const s = await startTestServer({ SSE_STALL_SECONDS: String(STALL_SECONDS), SSE_HEARTBEAT_SECONDS: "15" });
  const reader: Reader[] = [];
  let stuck: Awaited<ReturnType<typeof stuckClient>> | undefined;
  try {
    const viewer = await s.login(...DEMO.viewer);
    reader.push(await startReader(`${s.url}/api/v1/deployments/events`, viewer));
    const r = reader[0]!;
    // Block the loop right after a burst that overfills the reader's socket: its connection is
    // waiting for a drain, and the reader empties the kernel's buffers meanwhile, unseen.
    let blocked = 0;
    const blocker = s.deps.feed.attach((e) => {
      if ((e.data as { message?: string }).message !== BLOCK_HERE) return;
      const until = Date.now() + BLOCK_MS;
      while (Date.now() < until) blocked++;
    });
    let burst = 0;
    for (let round = 0; round < 3; round++) {
      burst = await appendMany(s, 600, BLOCK_HERE);
      await until("the blocker ran", () => blocked > 0);
      await until("the reader got the burst", () => r.last >= burst || r.ended !== undefined);
      assert.is(r.ended, undefined, `the reading client was not dropped (round ${round + 1}, ${r.bytes} bytes read)`);
      blocked = 0;
    }
    blocker.detach();
    assert.is(await dropped(s), 0, "nobody was dropped");

    // a client that stops reading is still dropped, within the stall timeout plus a tick or two
    stuck = await stuckClient(s, viewer);
    const closed = new Promise<void>((resolve) => {
      stuck!.res.on("close", resolve);
      stuck!.req.on("error", () => resolve());
    });
    const fill = setInterval(() => void appendMany(s, 100).catch(() => {}), 200);
    try {
      await until("the stuck client was dropped", async () => (await dropped(s)) > 0);
    } finally {
      clearInterval(fill);
    }
    assert.is(await dropped(s), 1, "only the stuck client");
    stuck.res.resume();
    await closed;
    const last = await appendMany(s, 1);
    await until("the reader caught up", () => r.last >= last || r.ended !== undefined);
    assert.is(r.ended, undefined, "the reading client is still connected");
  } finally {
    stuck?.req.destroy();
    for (const r of reader) r.child.kill();
    await s.stop();
  }
});

test.run();
