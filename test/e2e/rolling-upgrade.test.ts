// A rolling upgrade: an instance of newer code appends an event type this code does not know
// (simulated by appending raw FutureThingHappened events through the store port), into a
// deployment stream in flight and into a stream of its own, while an instance of the current
// ("old") code keeps serving and projecting. The old instance must skip what it does not know,
// count it, and carry on: deployments finish, live feeds deliver later events, /health stays
// ready, and a restart on the same log starts.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createParser, type EventSourceMessage } from "eventsource-parser";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { streams } from "../../src/events/streams.js";
import { newEvent } from "../contracts/event-store.js";
import { FAST_FLEET_ENV, requestDeployment, waitForStatus } from "../helpers/deployments.js";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";

const FUTURE = "FutureThingHappened";

/** What newer code would write: a type absent from this catalog, appended below the EventLog. */
function appendFuture(s: TestServer, streamId: string, n: number) {
  return s.deps.log.store.append(streamId, [newEvent(FUTURE, { n, shape: { nobody: "here knows" } })], "any");
}

/** Collects SSE messages in the background until cancelled. */
function collect(res: Response): { messages: EventSourceMessage[]; cancel(): Promise<void> } {
  assert.is(res.status, 200);
  const messages: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (m) => void messages.push(m) });
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const pump = (async () => {
    for (;;) {
      const { done, value } = await reader.read().catch(() => ({ done: true, value: undefined }));
      if (done || value === undefined) return;
      parser.feed(value);
    }
  })();
  return {
    messages,
    async cancel() {
      await reader.cancel().catch(() => undefined);
      await pump;
    },
  };
}

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A start that hangs is a failure of this test, not a test-runner timeout. */
async function startBounded(env: Record<string, string>, dataDir: string): Promise<TestServer> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("the old instance did not start within 20 s")), 20_000);
  });
  try {
    return await Promise.race([startTestServer(env, { dataDir }), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function unknownTypeCount(s: TestServer): Promise<number> {
  const text = await (await s.call("/metrics")).text();
  const line = text.split("\n").find((l) => l.startsWith(`events_unknown_type_total{type="${FUTURE}"}`));
  return line ? Number(line.split(" ").at(-1)) : 0;
}

test("rolling upgrade: the old instance skips an event type it does not know, and keeps serving, projecting and deploying", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "korch-upgrade-"));
  const env = { ...FAST_FLEET_ENV, SIMULATOR_CLUSTER_SIZES: "Development:2,QA:4" };
  let s = await startBounded(env, dataDir);
  try {
    const admin = await s.login(...DEMO.admin);
    await until("the QA fleet is up", async () => {
      const c = (await (await s.call("/api/v1/clusters/qa", { token: admin })).json()) as { healthyCount: number };
      return c.healthyCount >= 4;
    });
    const from = await s.deps.log.headPosition();
    const allFeed = collect(await s.call("/api/v1/deployments/events", { token: admin, headers: { "last-event-id": String(from) } }));

    // unknown events land in the deployment's stream again and again while it runs, so that the
    // runner's next append often follows one (its expected revision is the last event it knows)
    const { executionId } = await requestDeployment(s, admin, { moduleName: "futuremod", version: "1.0.0", targetEnvironment: "QA" });
    const streamId = streams.deployment(executionId);
    let written = 0;
    await appendFuture(s, streamId, written++);
    await appendFuture(s, "future-elsewhere-1", written++);
    let running = true;
    const writer = (async () => {
      while (running) {
        await appendFuture(s, streamId, written++);
        await new Promise((r) => setTimeout(r, 40));
      }
    })();
    const done = await waitForStatus(s, admin, executionId).finally(async () => {
      running = false;
      await writer;
    });
    assert.is(done.status, "Succeeded", `the deployment in flight finished: ${JSON.stringify({ rollback: done.rollback, failure: done.failureReason })}`);

    // the all-deployments feed went on delivering what came after the unknown events
    await until("the feed delivered DeploymentSucceeded", () => allFeed.messages.some((m) => m.event === "DeploymentSucceeded"));
    await allFeed.cancel();
    assert.not.ok(allFeed.messages.some((m) => m.event === FUTURE), "unknown types are not passed on");
    const ids = allFeed.messages.filter((m) => m.id).map((m) => Number(m.id));
    assert.equal(ids, [...ids].sort((a, b) => a - b), "positions keep increasing");

    // the per-deployment feed replays the whole stream and ends at its terminal event
    const perDeployment = collect(await s.call(`/api/v1/deployments/${executionId}/events`, { token: admin }));
    await until("the per-deployment feed ended", () => perDeployment.messages.some((m) => m.event === "end"));
    await perDeployment.cancel();
    assert.ok(perDeployment.messages.some((m) => m.event === "DeploymentRequested"));
    assert.not.ok(perDeployment.messages.some((m) => m.event === FUTURE));

    const history = await s.call(`/api/v1/deployments/${executionId}/history`, { token: admin });
    assert.is(history.status, 200, "history of a stream holding unknown events");
    const verify = await s.call(`/api/v1/audit-logs/verify?minPosition=${await s.deps.log.headPosition()}`, { token: admin });
    const chain = (await verify.json()) as { ok: boolean; firstMismatch: unknown };
    assert.ok(chain.ok, `the audit chain, which never held the unknown events, verifies: ${JSON.stringify(chain.firstMismatch)}`);

    // an unknown event at the very head: read-your-writes on its position does not wait forever
    const tail = await appendFuture(s, "future-elsewhere-1", written++);
    const health = await s.call("/health");
    assert.is(health.status, 200, `still ready: ${await health.clone().text()}`);
    const read = await s.call(`/api/v1/deployments/${executionId}?minPosition=${tail.position}`, { token: admin });
    assert.is(read.status, 200, "a wait for the unknown event's position passes it");
    assert.ok((await unknownTypeCount(s)) > 0, "the skip is counted");

    // a restart of the old instance on a log that ends with unknown events starts and serves
    await s.stop();
    s = await startBounded(env, dataDir);
    const admin2 = await s.login(...DEMO.admin);
    assert.is((await s.call("/health")).status, 200);
    const again = await s.call(`/api/v1/deployments/${executionId}?minPosition=${tail.position}`, { token: admin2 });
    assert.is(again.status, 200);
    assert.is(((await again.json()) as { status: string }).status, "Succeeded");
    assert.ok((await unknownTypeCount(s)) > 0, "the restarted instance counts what it skipped while catching up");

    // and new work on it goes on, in the same stream-shape
    const next = await requestDeployment(s, admin2, { moduleName: "futuremod", version: "1.0.1", targetEnvironment: "Development" });
    await appendFuture(s, streams.deployment(next.executionId), written++);
    assert.is((await waitForStatus(s, admin2, next.executionId)).status, "Succeeded");
  } finally {
    await s.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test.run();
