import { request, type ClientRequest, type IncomingMessage } from "node:http";
import { randomUUID } from "node:crypto";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";

// The test and the server share one event loop, so a client here reads only as fast as the
// server's own appends, projections and audit hashing leave it time to; on a loaded machine that
// took longer than a short SSE_STALL_SECONDS, the server rightly dropped the "healthy" client and
// its pending read rejected with nobody listening. So the stall is tested on a server where the
// stuck connection is the only one, and catch-up on one with a stall timeout no load reaches;
// every wait is for an observable state, never for a fixed time.

/** Appends `count` events to a new deployment stream; returns the last one's global position. */
async function appendMany(s: TestServer, count: number): Promise<number> {
  const streamId = `deployment-${randomUUID()}`;
  const message = "x".repeat(400);
  let last = 0;
  for (let done = 0; done < count; done += 500) {
    const events = Array.from({ length: Math.min(500, count - done) }, () => ({ type: "DeploymentQueued", data: { at: new Date().toISOString(), message } }));
    const envelopes = s.deps.log.envelope(events, () => ({ actor: { kind: "system", id: "test" }, correlationId: "sse-test", causationId: "sse-test" }));
    last = (await s.deps.log.append(streamId, envelopes, "any")).position;
  }
  return last;
}

const counter = async (s: TestServer, name: "sseConnectionsDropped" | "sseMessagesDropped") =>
  (await s.deps.metrics[name].get()).values[0]?.value ?? 0;

/**
 * Polls `check`, running `step` between checks, until it holds; fails with `what` after a deadline
 * far beyond any expected wait. Every round yields to the event loop: appends resolve as
 * microtasks, and a loop of them alone would starve the server's timers and sockets.
 */
async function until(what: string, check: () => boolean | Promise<boolean>, step?: () => Promise<void>, deadlineMs = 60_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    if (step) await step();
    await new Promise((r) => setTimeout(r, step ? 0 : 20));
  }
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

/**
 * Reads a feed as it arrives. A read that fails (the server closed the connection) is recorded
 * rather than left to reject unheard, which would end the whole test process.
 */
function feedReader(res: Response) {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const state = { text: "", bytes: 0, error: undefined as unknown, reading: Promise.resolve() };
  const readOnce = async () => {
    const { done, value } = await reader.read();
    if (done) return false;
    state.bytes += value.length;
    state.text += decoder.decode(value, { stream: true });
    return true;
  };
  return {
    state,
    readOnce,
    readOn() {
      state.reading = (async () => {
        try {
          while (await readOnce());
        } catch (err) {
          state.error = err;
        }
      })();
    },
    async cancel() {
      await reader.cancel().catch(() => {});
      await state.reading;
    },
  };
}

const ids = (text: string) => [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));

const feeds = suite<{ s: TestServer; admin: string; deployer: string; viewer: string }>("SSE: catch-up and connection limits");
feeds.before(async (ctx) => {
  // no load makes a reading client wait two minutes for a drain: nobody is dropped here
  ctx.s = await startTestServer({ SSE_STALL_SECONDS: "120", SSE_HEARTBEAT_SECONDS: "1", SSE_MAX_CONNECTIONS_PER_USER: "2" });
  ctx.admin = await ctx.s.login(...DEMO.admin);
  ctx.deployer = await ctx.s.login(...DEMO.deployer);
  ctx.viewer = await ctx.s.login(...DEMO.viewer);
});
feeds.after(async (ctx) => ctx.s.stop());

feeds("bursts larger than the socket buffers are caught up from the log; a client that never reads holds nobody up", async ({ s, admin, deployer }) => {
  const healthy = feedReader(await s.call("/api/v1/deployments/events", { token: deployer }));
  assert.ok(await healthy.readOnce(), "the feed opens with its retry hint");
  // not reading: the server's writes back up until live events must be left to the log
  const droppedMessages = await counter(s, "sseMessagesDropped");
  let appended = 0;
  await until(
    "the healthy connection fell behind",
    async () => (await counter(s, "sseMessagesDropped")) > droppedMessages,
    async () => {
      await appendMany(s, 2000);
      appended += 2000;
    },
  );

  const stuck = await stuckClient(s, admin);
  healthy.readOn();
  // the feed carries deployment streams only; other streams (audit anchors) may append after
  let lastDeploymentEvent = 0;
  for (let i = 0; i < 3; i++) {
    lastDeploymentEvent = await appendMany(s, 2000);
    appended += 2000;
    await new Promise((r) => setTimeout(r, 0));
  }
  await until("the healthy client got the last event", () => healthy.state.error !== undefined || healthy.state.text.includes(`id: ${lastDeploymentEvent}\n`));
  assert.is(healthy.state.error, undefined, "the healthy connection stayed open");
  const seen = ids(healthy.state.text);
  assert.is(seen.length, appended, "the healthy client got every event once, bursts included");
  assert.ok(seen.every((id, i) => i === 0 || id > seen[i - 1]!), "in order");
  assert.ok(healthy.state.bytes > 1_000_000, `the healthy client kept receiving (${healthy.state.bytes} bytes)`);
  assert.is(stuck.res.isPaused(), true);
  assert.is(await counter(s, "sseConnectionsDropped"), 0, "nobody was dropped");
  stuck.req.destroy();
  await healthy.cancel();
  assert.is((await s.call("/health")).status, 200);
});

feeds("connection limits per user answer 429 with Retry-After; a closed stream frees its slot", async ({ s, viewer }) => {
  const open = async () => s.call("/api/v1/deployments/events", { token: viewer });
  const a = await open();
  const b = await open();
  assert.is(a.status, 200);
  assert.is(b.status, 200);
  const c = await open();
  assert.is(c.status, 429);
  assert.ok(Number(c.headers.get("retry-after")) >= 1);
  assert.match(c.headers.get("content-type") ?? "", "problem+json");
  await c.body?.cancel();
  await a.body!.cancel();
  // the server notices the closed stream (its close, or the next write or heartbeat) and frees the slot
  let d: Response | undefined;
  await until(
    "a slot was freed",
    () => d?.status === 200,
    async () => {
      await d?.body?.cancel();
      d = await open();
    },
  );
  await b.body!.cancel();
  await d!.body!.cancel();
});

feeds("401 without a token, 403 for a node's token, 400 for a bad Last-Event-ID", async ({ s, viewer }) => {
  assert.is((await s.call("/api/v1/deployments/events")).status, 401);
  const registered = await s.call("/api/v1/agents/register", {
    method: "POST",
    json: { joinToken: s.deps.config.agentJoinToken, environment: "QA", hostname: "sse-403", capacity: { cpuCores: 1, memoryMb: 512 }, labels: {}, modules: {} },
  });
  assert.is(registered.status, 201);
  const node = (await registered.json()) as { token: string };
  const forbidden = await s.call("/api/v1/deployments/events", { token: node.token });
  assert.is(forbidden.status, 403);
  assert.match(forbidden.headers.get("content-type") ?? "", "problem+json");
  assert.is((await s.call("/api/v1/deployments/events", { token: viewer, headers: { "last-event-id": "abc" } })).status, 400);
});

feeds.run();

const stalls = suite<{ s: TestServer; viewer: string }>("SSE: a client that stops reading");
stalls.before(async (ctx) => {
  ctx.s = await startTestServer({ SSE_STALL_SECONDS: "1" });
  ctx.viewer = await ctx.s.login(...DEMO.viewer);
});
stalls.after(async (ctx) => ctx.s.stop());

stalls("is disconnected after SSE_STALL_SECONDS; the server keeps serving", async ({ s, viewer }) => {
  const stuck = await stuckClient(s, viewer);
  const ended = new Promise<void>((resolve) => {
    stuck.res.on("close", resolve);
    stuck.req.on("error", () => resolve());
  });
  // the only connection on this server, so the first drop is this one
  await until(
    "the stuck connection was dropped",
    async () => (await counter(s, "sseConnectionsDropped")) > 0,
    async () => void (await appendMany(s, 2000)),
  );
  stuck.res.resume(); // reading again finds the connection closed
  let closed = false;
  void ended.then(() => (closed = true));
  await until("the stuck client saw its connection close", () => closed);
  const again = await s.call("/api/v1/deployments/events", { token: viewer });
  assert.is(again.status, 200, "the client may resume");
  await again.body!.cancel();
  assert.is((await s.call("/health")).status, 200);
});

stalls.run();
