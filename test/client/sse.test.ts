import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { ApiError, OrchestratorClient, subscribe, type FeedEvent } from "../../src/client/index.js";
import { streamPrefixes } from "../../src/events/streams.js";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";
import { startCuttingProxy } from "./cutting-proxy.js";

let server: TestServer;
let proxy: Awaited<ReturnType<typeof startCuttingProxy>>;
let admin: OrchestratorClient;
/** delays the subscriber asked to wait, recorded instead of slept */
let delays: number[] = [];
const noSleep = async (ms: number) => void delays.push(ms);

const request = (c: OrchestratorClient, targetEnvironment: "Development" | "Staging", n = 0) =>
  c.requestDeployment({ moduleName: "netfilter", version: `1.0.${n}`, targetEnvironment, requesterEmail: "ops@example.com" });

/** what the all-deployments feed must deliver: every deployment-stream event in the log, in order */
async function logEvents(after = 0) {
  const events = await server.deps.log.readAll({ after, filter: { streamPrefixes: [streamPrefixes.deployment] } });
  return events.map((e) => ({ id: e.position, type: e.type, streamId: e.streamId, revision: e.revision }));
}
const brief = (events: FeedEvent[]) => events.map((e) => ({ id: e.id, type: e.type, streamId: e.data.streamId, revision: e.data.revision }));

test.before(async () => {
  server = await startTestServer();
  proxy = await startCuttingProxy(server.url);
  admin = new OrchestratorClient({ baseUrl: server.url });
  await admin.login(...DEMO.admin);
  // history to replay: failed Development deployments (no nodes) and rejected Staging ones
  for (let i = 0; i < 4; i++) {
    const dev = await request(admin, "Development", i);
    const staging = await request(admin, "Staging", i);
    await admin.reject(staging.executionId, "not today");
    await admin.getDeployment(dev.executionId, { minPosition: dev.position });
  }
  // let the runner finish the Development ones
  for (let i = 0; i < 50 && (await admin.listDeployments({ status: "Pending" })).items.length; i++) await new Promise((r) => setTimeout(r, 100));
});

test.after(async () => {
  await proxy?.close();
  await server?.stop();
});

test("the per-deployment feed delivers the stream, ends after the terminal event, then stops", async () => {
  const { executionId } = await request(admin, "Staging", 100);
  const received: FeedEvent[] = [];
  const sub = admin.deploymentEvents(executionId, { sleep: noSleep });
  const done = sub.forEach(async (e) => {
    received.push(e);
    if (e.type === "ApprovalRequested") await admin.reject(executionId, "wrong window");
  });
  await done;
  assert.ok(sub.ended, "ended by the server's end message");
  assert.is(received.at(-1)?.type, "DeploymentRejected");
  const history = await admin.history(executionId);
  assert.equal(
    received.map((e) => [e.id, e.type, e.data.revision]),
    history.events.map((e) => [e.position, e.type, e.revision]),
  );
  assert.equal(received.map((e) => e.data.streamId), received.map(() => `deployment-${executionId}`));
  // the history comes in pages; the client walks them
  assert.ok(history.events.length > 2);
  assert.equal((await admin.history(executionId, { pageSize: 2 })).events, history.events);
  assert.equal((await admin.historyPage(executionId, { limit: 2 })).nextRevision, 2);
});

test("a finished deployment's feed replays and ends; resuming mid-way gives the rest only", async () => {
  const { executionId } = await request(admin, "Staging", 101);
  await admin.reject(executionId, "no");
  const all: FeedEvent[] = [];
  for await (const e of admin.deploymentEvents(executionId, { sleep: noSleep })) all.push(e);
  assert.is(all.at(-1)?.type, "DeploymentRejected");
  const from = all[2]!.id;
  const rest: FeedEvent[] = [];
  for await (const e of admin.deploymentEvents(executionId, { sleep: noSleep, lastEventId: from })) rest.push(e);
  assert.equal(rest.map((e) => e.id), all.slice(3).map((e) => e.id));
});

test("401 without a token is thrown at once, not retried", async () => {
  let calls = 0;
  const counting: typeof fetch = (input, init) => {
    calls++;
    return fetch(input, init);
  };
  const sub = subscribe({ url: `${server.url}/api/v1/deployments/events`, fetch: counting, sleep: noSleep });
  try {
    for await (const _ of sub) assert.unreachable("no event without a token");
    assert.unreachable("should have thrown");
  } catch (err) {
    assert.instance(err, ApiError);
    assert.is((err as ApiError).status, 401);
    assert.is((err as ApiError).title, "Unauthorized");
  }
  assert.is(calls, 1);
});

test("an unknown deployment's feed is a 404 ApiError, not retried", async () => {
  const err = await admin
    .deploymentEvents("00000000-0000-4000-8000-000000000000", { sleep: noSleep, maxRetries: 3 })
    .forEach(() => {})
    .catch((e: unknown) => e);
  assert.instance(err, ApiError);
  assert.is((err as ApiError).status, 404);
});

test("property: any pattern of cut connections gives every event exactly once, in log order", async () => {
  const expected = await logEvents();
  const head = expected.at(-1)!.id;
  assert.ok(expected.length > 30, "enough history to cut into");
  const client = new OrchestratorClient({ baseUrl: proxy.url, token: admin.token });
  await fc.assert(
    fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 4000 }), { maxLength: 8 }), fc.integer({ min: 0, max: 3 }), async (cuts, startAt) => {
      proxy.cutNext(cuts);
      delays = [];
      const requestsBefore = proxy.requests;
      const after = startAt === 0 ? 0 : expected[startAt * 7]!.id;
      const stop = new AbortController();
      const guard = setTimeout(() => stop.abort(), 10_000);
      const received: FeedEvent[] = [];
      try {
        const sub = client.allDeploymentEvents({ sleep: noSleep, lastEventId: after, signal: stop.signal });
        for await (const e of sub) {
          received.push(e);
          if (e.id >= head) break;
        }
      } finally {
        clearTimeout(guard);
      }
      assert.equal(brief(received), expected.filter((e) => e.id > after));
      // once the server's "retry: 2000\n\n" (the first 13 bytes) got through, it is the floor of every delay
      // one wait before each reconnect, and only then
      assert.is(delays.length, proxy.requests - requestsBefore - 1);
      delays.forEach((d, i) => {
        if (cuts.slice(0, i + 1).some((c) => c >= 13)) assert.ok(d >= 2000, `reconnect delay ${d} below the server's retry advice`);
      });
    }),
    { numRuns: 30, seed: Number(process.env.FC_SEED ?? Date.now() % 2 ** 31) },
  );
});

test("cuts while events are being appended live: still gap-free and duplicate-free", async () => {
  const start = (await logEvents()).at(-1)!.id;
  const client = new OrchestratorClient({ baseUrl: proxy.url, token: admin.token });
  proxy.cutNext([700, 1500, 300, 2500, 900, 100, 1800]);
  delays = [];
  const received: FeedEvent[] = [];
  const ids: string[] = [];
  const stop = new AbortController();
  const guard = setTimeout(() => stop.abort(), 15_000);
  const reading = (async () => {
    for await (const e of client.allDeploymentEvents({ sleep: noSleep, lastEventId: start, signal: stop.signal })) {
      received.push(e);
      if (ids.length === 6 && received.filter((r) => r.type === "DeploymentRejected").length === 6) break;
    }
  })();
  for (let i = 0; i < 6; i++) {
    const { executionId } = await request(admin, "Staging", 200 + i);
    ids.push(executionId);
    await admin.reject(executionId, "live");
  }
  await reading;
  clearTimeout(guard);
  assert.ok(proxy.requests > 1, "the connection was cut at least once");
  assert.equal(brief(received), await logEvents(start));
});

test.run();
