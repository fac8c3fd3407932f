// The runner against a real (embedded) log, with a clock the test moves: a step that keeps
// throwing the same error ends its deployment as Failed with that error, after a bounded number
// of attempts, while an outage of a store it reads is retried for as long as it lasts.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { deploymentCommand } from "../../src/commands/deployments.js";
import type { CommandContext } from "../../src/commands/handler.js";
import { catalog } from "../../src/events/catalog/index.js";
import type { DeploymentEventOf } from "../../src/events/catalog/deployment.js";
import { EventLog } from "../../src/events/event-log.js";
import { LiveFeed } from "../../src/events/live-feed.js";
import { SqliteEventStore } from "../../src/events/store/sqlite.js";
import { streams } from "../../src/events/streams.js";
import { ManualClock } from "../../src/platform/clock.js";
import { MemoryCoordination } from "../../src/platform/coordination/memory.js";
import { createLogger } from "../../src/platform/logger.js";
import { createMetrics } from "../../src/platform/metrics.js";
import { DeploymentRunner, MAX_STEP_FAILURES, type RunnerDeps } from "../../src/processes/deployment-runner.js";
import { MemoryReadStore } from "../../src/projections/store/memory.js";
import type { ReadStore } from "../../src/projections/store/port.js";
import { resolveSettings } from "../../src/strategies/settings.js";

const T0 = Date.parse("2026-03-01T10:00:00.000Z");

async function harness(overrides: Partial<RunnerDeps> = {}, beforeRequest = () => {}) {
  const dir = mkdtempSync(join(tmpdir(), "korch-runner-"));
  const store = new SqliteEventStore({ file: join(dir, "events.db"), synchronous: "NORMAL" });
  const log = new EventLog(store, catalog);
  const clock = new ManualClock(T0);
  const feed = new LiveFeed(log);
  await feed.start();
  const metrics = createMetrics();
  const runner = new DeploymentRunner({
    log,
    readStore: new MemoryReadStore({ clock }),
    feed,
    projections: { onProgress: () => () => {}, waitFor: async () => true },
    coordination: new MemoryCoordination(clock),
    clock,
    logger: createLogger("silent"),
    metrics,
    instanceId: "test",
    tickMs: 3_600_000, // the test ticks by hand
    ...overrides,
  });
  await runner.start();
  beforeRequest();
  const executionId = "6f1c1d7e-0000-4000-8000-000000000001";
  const ctx: CommandContext = { actor: { kind: "user", id: "deployer" }, correlationId: "req-1", now: clock.now() };
  await deploymentCommand(
    log,
    metrics,
    executionId,
    {
      type: "RequestDeployment",
      executionId,
      moduleName: "netfilter",
      version: "1.0.0",
      targetEnvironment: "Development",
      requesterEmail: "dev@example.com",
      requestedBy: "deployer",
      settings: resolveSettings("Development", {}),
      now: clock.now(),
    },
    ctx,
  );
  const events = () => log.readStream(streams.deployment(executionId));
  /** Moves the clock a second at a time and lets the runner step, until `done` or `rounds` run out. */
  const runUntil = async (done: () => Promise<boolean>, rounds: number) => {
    for (let i = 0; i < rounds; i++) {
      // the feed delivers asynchronously: give it a turn before the due steps run
      await new Promise((resolve) => setTimeout(resolve, 5));
      await runner.tick();
      if (await done()) return true;
      clock.advance(1000);
    }
    return false;
  };
  const failed = async () => (await events()).some((e) => e.type === "DeploymentFailed");
  return {
    runner,
    events,
    runUntil,
    failed,
    async stop() {
      await runner.stop();
      await feed.stop();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test("a step that throws the same error every time fails the deployment with that error, after a bounded number of attempts", async () => {
  let calls = 0;
  const h = await harness({
    advance: () => {
      calls++;
      throw new Error("planner exploded on node constructor");
    },
  });
  try {
    assert.ok(await h.runUntil(h.failed, 3 * MAX_STEP_FAILURES), "the deployment ends instead of retrying forever");
    const failure = (await h.events()).find((e) => e.type === "DeploymentFailed") as unknown as DeploymentEventOf<"DeploymentFailed">;
    assert.match(failure.data.reason, "planner exploded on node constructor");
    assert.is(calls, MAX_STEP_FAILURES);
    // it is over: no more attempts
    await h.runUntil(async () => false, 5);
    assert.is(calls, MAX_STEP_FAILURES);
  } finally {
    await h.stop();
  }
});

test("an outage of a store the runner reads is retried for as long as it lasts, never counted as a failing step", async () => {
  const memory = new MemoryReadStore();
  let down = false;
  const flaky: ReadStore = Object.assign(Object.create(memory) as ReadStore, {
    collection: ((name: string) => {
      if (down) throw new Error("read store unreachable");
      return memory.collection(name);
    }) as ReadStore["collection"],
  });
  const h = await harness({ readStore: flaky }, () => (down = true));
  try {
    assert.not.ok(await h.runUntil(h.failed, 4 * MAX_STEP_FAILURES), "not failed while the store is down");
    down = false;
    assert.ok(await h.runUntil(h.failed, 10));
    const failure = (await h.events()).find((e) => e.type === "DeploymentFailed") as unknown as DeploymentEventOf<"DeploymentFailed">;
    // the step ran for real once the store was back (an empty cluster cannot be deployed to)
    assert.match(failure.data.reason, "no reachable node");
  } finally {
    await h.stop();
  }
});

test.run();
