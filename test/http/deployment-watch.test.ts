// Watchers of one deployment share one fold of its stream and one message per event
// (src/http/deployment-watch.ts); each still gets, for every event, the status and progress right
// after it, whether it keeps pace, joins late, resumes midway or falls behind what is kept.
import fc from "fast-check";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createParser } from "eventsource-parser";
import { deploymentProgress, foldDeployment, initialDeploymentState, type DeploymentState } from "../../src/commands/deployment.js";
import type { DeploymentEvent } from "../../src/events/catalog/deployment.js";
import type { RecordedEvent } from "../../src/events/envelope.js";
import { streams } from "../../src/events/streams.js";
import { DeploymentWatch } from "../../src/http/deployment-watch.js";
import { decoratedMessage } from "../../src/http/sse.js";
import { FAST_FLEET_ENV, requestDeployment, waitForHealthyNodes } from "../helpers/deployments.js";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";

const render = (event: RecordedEvent, state: DeploymentState) => decoratedMessage(event, { status: state.status, progress: deploymentProgress(state) });

/** Each event's message as a fold of the stream from its start would make it. */
function expectedMessages(events: RecordedEvent[]): string[] {
  let state: DeploymentState = { ...initialDeploymentState, nodes: {} };
  return events.map((e) => {
    state = foldDeployment(state, [e as unknown as DeploymentEvent]);
    return render(e, state).bytes.toString();
  });
}

/** Reads a deployment's feed to its `end`, resuming after `lastEventId`; the messages' data as sent. */
async function readFeed(s: TestServer, token: string, id: string, lastEventId?: number): Promise<string[]> {
  const headers: Record<string, string> = lastEventId === undefined ? {} : { "last-event-id": String(lastEventId) };
  const res = await s.call(`/api/v1/deployments/${id}/events`, { token, headers });
  assert.is(res.status, 200);
  const data: string[] = [];
  let ended = false;
  const parser = createParser({ onEvent: (m) => (m.event === "end" ? (ended = true) : data.push(m.data)) });
  for await (const chunk of res.body!.pipeThrough(new TextDecoderStream())) {
    parser.feed(chunk);
    if (ended) break;
  }
  return data;
}
const dataOf = (message: string) => message.slice(message.indexOf("data: ") + 6, -2);

const t = suite<{ s: TestServer; admin: string; id: string; events: RecordedEvent[] }>("deployment feeds: one shared fold");
t.before(async (ctx) => {
  ctx.s = await startTestServer(FAST_FLEET_ENV);
  ctx.admin = await ctx.s.login(...DEMO.admin);
  await waitForHealthyNodes(ctx.s, ctx.admin, 14);
});
t.after(async (ctx) => ctx.s.stop());

t("watchers live from the start, joining midway and after the end all get every event's own progress", async (ctx) => {
  const { s, admin } = ctx;
  const r = await requestDeployment(s, admin, { moduleName: "netfilter", version: "3.0.0", targetEnvironment: "QA" });
  ctx.id = r.executionId;
  const live = Array.from({ length: 4 }, () => readFeed(s, admin, r.executionId));
  // one more joins once the rollout is under way, resuming after the first event it saw elsewhere
  const first = await s.deps.log.readStream(streams.deployment(r.executionId), { maxCount: 1 });
  const late = readFeed(s, admin, r.executionId, first[0]!.position);
  const feeds = await Promise.all(live);
  ctx.events = await s.deps.log.readStream(streams.deployment(r.executionId));
  const expected = expectedMessages(ctx.events).map(dataOf);
  assert.ok(expected.length > 8, `a rollout of ${expected.length} events`);
  for (const feed of feeds) assert.equal(feed, expected);
  assert.equal(await late, expected.slice(1));
  // after the end, from the start and from the middle
  assert.equal(await readFeed(s, admin, r.executionId), expected);
  const middle = Math.floor(expected.length / 2);
  assert.equal(await readFeed(s, admin, r.executionId, ctx.events[middle]!.position), expected.slice(middle + 1));
});

t("watchers in step: each event is folded and rendered once, not once per watcher", async ({ s, id, events }) => {
  let rendered = 0;
  const counting = (e: RecordedEvent, state: DeploymentState) => (rendered++, render(e, state));
  const watches = Array.from({ length: 5 }, () => DeploymentWatch.open(s.deps.log, streams.deployment(id), counting));
  try {
    for (const e of events) for (const w of watches) assert.ok(w.pass(e));
    assert.is(rendered, events.length);
  } finally {
    for (const w of watches) w.release();
  }
});

t("property: any schedule of watchers, starting anywhere, any number of kept messages, gives each event's own message", async ({ s, id, events }) => {
  const expected = expectedMessages(events);
  const streamId = streams.deployment(id);
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 4 }),
      fc.array(fc.integer({ min: 0, max: events.length }), { minLength: 1, maxLength: 4 }),
      fc.array(fc.nat(), { maxLength: 200 }),
      async (kept, starts, schedule) => {
        const watchers = starts.map((start) => ({ start, next: 0, got: [] as string[], watch: DeploymentWatch.open(s.deps.log, streamId, render, kept) }));
        try {
          // each step takes one watcher one event further, as its connection would: events the client
          // has already are skipped, the rest passed; where neither can be done without the log, prepared
          const step = async (w: (typeof watchers)[number]) => {
            const e = events[w.next]!;
            if (w.next < w.start) {
              if (!w.watch.skip(e)) {
                await w.watch.prepare();
                assert.ok(w.watch.skip(e), "skip after prepare");
              }
            } else {
              let message = w.watch.pass(e);
              if (!message) {
                assert.not.ok(w.watch.canTake(e));
                await w.watch.prepare();
                message = w.watch.pass(e);
              }
              assert.ok(message, "pass after prepare");
              w.got.push(message.bytes.toString());
            }
            w.next++;
          };
          for (const pick of schedule) {
            const w = watchers[pick % watchers.length]!;
            if (w.next < events.length) await step(w);
          }
          for (const w of watchers) while (w.next < events.length) await step(w);
          for (const w of watchers) assert.equal(w.got, expected.slice(w.start));
        } finally {
          for (const w of watchers) w.watch.release();
        }
      },
    ),
    { numRuns: 150 },
  );
});

t.run();
