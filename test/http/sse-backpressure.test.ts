import { request } from "node:http";
import { randomUUID } from "node:crypto";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";

const t = suite<{ s: TestServer; viewer: string }>("SSE: slow clients and connection limits");
t.before(async (ctx) => {
  ctx.s = await startTestServer({ SSE_STALL_SECONDS: "5", SSE_MAX_CONNECTIONS_PER_USER: "2" });
  ctx.viewer = await ctx.s.login(...DEMO.viewer);
});
t.after(async (ctx) => ctx.s.stop());

async function appendMany(s: TestServer, count: number): Promise<void> {
  const streamId = `deployment-${randomUUID()}`;
  const message = "x".repeat(400);
  for (let done = 0; done < count; done += 500) {
    const events = Array.from({ length: Math.min(500, count - done) }, () => ({ type: "DeploymentQueued", data: { at: new Date().toISOString(), message } }));
    const envelopes = s.deps.log.envelope(events, () => ({ actor: { kind: "system", id: "test" }, correlationId: "sse-test", causationId: "sse-test" }));
    await s.deps.log.append(streamId, envelopes, "any");
  }
}

async function dropped(s: TestServer): Promise<number> {
  return (await s.deps.metrics.sseConnectionsDropped.get()).values[0]?.value ?? 0;
}

t("bursts larger than the queue are caught up from the log; a client that stops reading is disconnected; others are unaffected", async ({ s, viewer }) => {
  const url = new URL("/api/v1/deployments/events", s.url);
  let closed = false;
  let received = 0;
  const slow = request(url, { headers: { authorization: `Bearer ${viewer}` } }, (res) => {
    assert.is(res.statusCode, 200);
    res.once("data", () => {
      received++;
      res.pause(); // and never read again
    });
  });
  slow.on("close", () => (closed = true));
  slow.on("error", () => (closed = true));
  slow.end();
  await new Promise((r) => setTimeout(r, 300));
  const droppedBefore = await dropped(s);

  // a healthy client reads everything meanwhile
  const healthy = await s.call("/api/v1/deployments/events", { token: viewer });
  const reader = healthy.body!.getReader();
  let healthyBytes = 0;
  let healthyText = "";
  const decoder = new TextDecoder();
  const reading = (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      healthyBytes += value.length;
      healthyText += decoder.decode(value, { stream: true });
    }
  })();

  // far more than the socket buffers hold, so the slow connection's queue must fill
  const deadline = Date.now() + 30_000;
  let appended = 0;
  while (Date.now() < deadline && (await dropped(s)) === droppedBefore) {
    await appendMany(s, 2000);
    appended += 2000;
    await new Promise((r) => setTimeout(r, 50));
  }
  const head = await s.deps.log.headPosition();
  const caughtUp = Date.now() + 60_000;
  while (Date.now() < caughtUp && !healthyText.includes(`id: ${head}\n`)) await new Promise((r) => setTimeout(r, 50));
  const ids = [...healthyText.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
  assert.is(ids.length, appended, "the healthy client got every event once, bursts included");
  assert.ok(ids.every((id, i) => i === 0 || id > ids[i - 1]!), "in order");
  assert.ok((await dropped(s)) > droppedBefore, "the slow connection was dropped");
  slow.destroy();
  assert.ok(received >= 1);
  assert.ok(healthyBytes > 1_000_000, `the healthy client kept receiving (${healthyBytes} bytes)`);
  await reader.cancel();
  await reading.catch(() => {});
  // the server still serves
  assert.is((await s.call("/health")).status, 200);
  void closed;
});

t("connection limits per user answer 429 with Retry-After; a closed stream frees its slot", async ({ s, viewer }) => {
  await new Promise((r) => setTimeout(r, 300)); // let the previous test's connections be released
  const open = async () => s.call("/api/v1/deployments/events", { token: viewer });
  const a = await open();
  const b = await open();
  assert.is(a.status, 200);
  assert.is(b.status, 200);
  const c = await open();
  assert.is(c.status, 429);
  assert.ok(Number(c.headers.get("retry-after")) >= 1);
  assert.match(c.headers.get("content-type") ?? "", "problem+json");
  await a.body!.cancel();
  // the server notices the closed stream (next write or heartbeat) and frees the slot
  const deadline = Date.now() + 10_000;
  let d: Response | undefined;
  while (Date.now() < deadline) {
    d = await open();
    if (d.status === 200) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.is(d?.status, 200);
  await b.body!.cancel();
  await d!.body!.cancel();
});

t("401 without a token, 403 for a node's token, 400 for a bad Last-Event-ID", async ({ s, viewer }) => {
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

t.run();
