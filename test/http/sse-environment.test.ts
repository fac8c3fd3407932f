import { createParser, type EventSourceMessage } from "eventsource-parser";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { requestDeployment, waitForStatus } from "../helpers/deployments.js";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";

const t = suite<{ s: TestServer; admin: string; deployer: string }>("SSE: the all-deployments feed filtered by environment");
t.before(async (ctx) => {
  ctx.s = await startTestServer();
  ctx.admin = await ctx.s.login(...DEMO.admin);
  ctx.deployer = await ctx.s.login(...DEMO.deployer);
});
t.after(async (ctx) => ctx.s.stop());

/** Reads messages until `stop` says so; returns them with the response cancelled. */
async function read(res: Response, stop: (m: EventSourceMessage) => boolean): Promise<EventSourceMessage[]> {
  assert.is(res.status, 200);
  const messages: EventSourceMessage[] = [];
  let done = false;
  const parser = createParser({
    onEvent: (m) => {
      messages.push(m);
      if (stop(m)) done = true;
    },
  });
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const deadline = setTimeout(() => void reader.cancel(), 20_000);
  while (!done) {
    const { done: ended, value } = await reader.read();
    if (ended) break;
    parser.feed(value);
  }
  clearTimeout(deadline);
  await reader.cancel();
  return messages;
}

const streamOf = (m: EventSourceMessage) => (JSON.parse(m.data) as { streamId: string }).streamId;

t("resuming after both deployments started, only the chosen environment's events arrive, live and from history", async ({ s, admin, deployer }) => {
  const staging = await requestDeployment(s, deployer, { moduleName: "netfilter", version: "1.0.0", targetEnvironment: "Staging" });
  const production = await requestDeployment(s, deployer, { moduleName: "netfilter", version: "1.0.0", targetEnvironment: "Production" });
  await waitForStatus(s, deployer, staging.executionId, ["PendingApproval"]);
  await waitForStatus(s, deployer, production.executionId, ["PendingApproval"]);
  // neither DeploymentRequested is in what this connection replays or sees live
  const after = await s.deps.log.headPosition();
  const feed = await s.call("/api/v1/deployments/events?environment=Staging", { token: admin, headers: { "last-event-id": String(after) } });

  // production first: its events come before staging's final one and must all be filtered out
  for (const id of [production.executionId, staging.executionId]) {
    const res = await s.call(`/api/v1/approvals/deployments/${id}/reject`, { method: "POST", token: admin, json: { reason: "not today" } });
    assert.is(res.status, 200);
  }
  const live = await read(feed, (m) => m.event === "DeploymentRejected");
  assert.ok(live.some((m) => m.event === "DeploymentRejected"), "staging's rejection arrived");
  for (const m of live) assert.is(streamOf(m), `deployment-${staging.executionId}`);

  // the same range again, now all of it history
  const replayed = await read(
    await s.call("/api/v1/deployments/events?environment=Staging", { token: admin, headers: { "last-event-id": String(after) } }),
    (m) => m.event === "DeploymentRejected",
  );
  assert.equal(
    replayed.map((m) => m.id),
    live.map((m) => m.id),
  );
});

t.run();
