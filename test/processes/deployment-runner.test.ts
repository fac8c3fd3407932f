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
import { deploymentsProjection, type DeploymentDoc } from "../../src/projections/deployments.js";
import { MemoryReadStore } from "../../src/projections/store/memory.js";
import type { ReadStore } from "../../src/projections/store/port.js";
import { resolveSettings } from "../../src/strategies/settings.js";
import { foldDeployment, initialDeploymentState } from "../../src/commands/deployment.js";
import type { DeploymentEvent } from "../../src/events/catalog/deployment.js";
import { appendBigDeployment, bigDeployment, type Outcome } from "../helpers/deployment-nodes.js";
import { telemetryOf } from "../../src/fleet/telemetry.js";
import { NODES } from "../../src/projections/nodes.js";

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
    log,
    clock,
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

test("stop() lets a step in flight finish before it returns and lets go of the leases, and is bounded when a step hangs", async () => {
  const memory = new MemoryReadStore();
  let gate: Promise<void> | undefined;
  let open = () => {};
  let blocked = false;
  // the step looks at the fleet; the test holds that look until it says
  const gated: ReadStore = Object.assign(Object.create(memory) as ReadStore, {
    collection: ((name: string) => {
      const c = memory.collection(name);
      if (name !== "fleet_nodes") return c;
      return Object.assign(Object.create(c) as typeof c, {
        find: async (...args: Parameters<typeof c.find>) => {
          if (gate) {
            blocked = true;
            await gate;
          }
          return c.find(...args);
        },
      });
    }) as ReadStore["collection"],
  });
  const h = await harness({ readStore: gated }, () => (gate = new Promise<void>((resolve) => (open = resolve))));
  try {
    for (let i = 0; i < 100 && !blocked; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.ok(blocked, "a step is in flight");
    let stopped = false;
    const stopping = h.runner.stop(60_000).then(() => (stopped = true));
    for (let i = 0; i < 10; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.not.ok(stopped, "stop() waits for the step");
    open();
    await stopping;
    // the step finished: what it decided is in the stream (an empty cluster fails the deployment)
    assert.ok(await h.failed(), "the step in flight ran to its append");
  } finally {
    await h.stop();
  }

  // a step that never ends does not hold stop() past its bound
  blocked = false;
  const hung = await harness({ readStore: gated }, () => (gate = new Promise<void>(() => {})));
  try {
    for (let i = 0; i < 100 && !blocked; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.ok(blocked);
    const outcome = await Promise.race([hung.runner.stop(50).then(() => "returned"), new Promise((resolve) => setTimeout(() => resolve("held"), 5000))]);
    assert.is(outcome, "returned");
  } finally {
    await hung.stop();
  }
});

test("folded(): the state the runner keeps of a deployment, as a copy a command may fold on in place", async () => {
  const h = await harness();
  try {
    const outcomes: Outcome[] = Array.from({ length: 40 }, (_, i) => (i < 10 ? "updated" : i < 20 ? "installing" : "pending"));
    const big = bigDeployment("6f1c1d7e-0000-4000-8000-00000000f01e", outcomes);
    await appendBigDeployment(h.log, big);
    const streamId = streams.deployment(big.executionId);
    assert.ok(await h.runUntil(async () => h.runner.folded(big.executionId) !== undefined, 10), "the runner folded it");
    const plain = (x: unknown) => JSON.parse(JSON.stringify(x)) as unknown;
    const foldedUpTo = async (revision: number) =>
      foldDeployment(initialDeploymentState, (await h.log.readStream(streamId, { maxCount: revision + 1 })) as unknown as DeploymentEvent[]);
    const copy = h.runner.folded(big.executionId)!;
    assert.equal(plain(copy.state), plain(await foldedUpTo(copy.revision!)));
    const last = (await h.log.readStream(streamId, { fromRevision: copy.revision!, maxCount: 1 }))[0]!;
    assert.is(copy.position, last.position);
    // a command's fold changes the copy's nodes in place: the runner's own stay as the stream has them
    const nodeId = big.nodeIds[15]!;
    const installed = { type: "NodeUpdated", data: { nodeId, assignmentId: `${big.executionId}:${nodeId}:1`, version: "2.0.0", at: new Date(T0).toISOString() } } as DeploymentEvent;
    const changed = foldDeployment(copy.state, [installed], { ownsNodes: true });
    assert.is(changed.nodes[nodeId]?.phase, "updated");
    const again = h.runner.folded(big.executionId)!;
    assert.equal(plain(again.state), plain(await foldedUpTo(again.revision!)));
  } finally {
    await h.stop();
  }
});

test("a wave's health check reads the fleet's samples one analysis window back, all the step judges", async () => {
  const memory = new MemoryReadStore();
  const asked: number[] = [];
  const telemetry = telemetryOf(memory);
  const samplesSince = telemetry.samplesSince.bind(telemetry);
  telemetry.samplesSince = (environment, since) => {
    asked.push(since);
    return samplesSince(environment, since);
  };
  const h = await harness({ readStore: memory });
  try {
    const outcomes: Outcome[] = Array.from({ length: 8 }, (_, i) => (i < 2 ? "updated" : "pending"));
    const big = bigDeployment("6f1c1d7e-0000-4000-8000-00000000f020", outcomes, { deployStage: true });
    for (const nodeId of big.nodeIds) {
      await memory.collection(NODES).put({ _id: nodeId, nodeId, environment: "Production", status: "Healthy", modules: {}, lastPosition: 1 });
    }
    await appendBigDeployment(h.log, big);
    // the first wave is under analysis: its first check is due checkIntervalMs after the install
    assert.ok(await h.runUntil(async () => asked.length > 0, 60), "a check read the samples");
    const window = resolveSettings("Production", {}).analysisWindowMs;
    assert.is(asked[0], h.clock.now() - window);
  } finally {
    await h.stop();
  }
});

// --- the cluster slot and the queue, with a deployments read model the test projects by hand ---

/** Applies the deployments projection to every event not yet applied: a read model that moves when the test says. */
function handProjection(log: EventLog, readStore: ReadStore) {
  let applied = 0;
  const listeners = new Set<(position: number) => void>();
  return {
    position: () => applied,
    async project(): Promise<void> {
      const docs = readStore.collection<DeploymentDoc>("deployments");
      for (const event of await log.readAll({ after: applied })) {
        for (const id of deploymentsProjection.keys(event)) {
          const doc = await docs.get(id);
          if (doc && doc.lastPosition >= event.position) continue;
          const next = deploymentsProjection.apply(doc, event);
          if (next) await docs.put(deploymentsProjection.finish!({ ...next, lastPosition: event.position } as DeploymentDoc));
        }
        applied = event.position;
      }
      for (const l of listeners) l(applied);
    },
    onProgress(listener: (position: number) => void) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

const ids = { a: "6f1c1d7e-0000-4000-8000-00000000000a", b: "6f1c1d7e-0000-4000-8000-00000000000b", c: "6f1c1d7e-0000-4000-8000-00000000000c", d: "6f1c1d7e-0000-4000-8000-00000000000d" };

async function clusterHarness(waitFor: RunnerDeps["projections"]["waitFor"] = async () => true) {
  const dir = mkdtempSync(join(tmpdir(), "korch-runner-"));
  const store = new SqliteEventStore({ file: join(dir, "events.db"), synchronous: "NORMAL" });
  const log = new EventLog(store, catalog);
  const clock = new ManualClock(T0);
  // started with the runner, as in a server (re)starting: what was appended before is history
  const feed = new LiveFeed(log);
  const metrics = createMetrics();
  const readStore = new MemoryReadStore({ clock });
  const readModel = handProjection(log, readStore);
  const runner = new DeploymentRunner({
    log,
    readStore,
    feed,
    projections: { onProgress: (l) => readModel.onProgress(l), waitFor },
    coordination: new MemoryCoordination(clock),
    clock,
    logger: createLogger("silent"),
    metrics,
    instanceId: "test",
    tickMs: 3_600_000,
  });
  const ctx = (): CommandContext => ({ actor: { kind: "user", id: "deployer" }, correlationId: "req", now: clock.now() });
  const request = (executionId: string, environment: "Staging" | "Development") =>
    deploymentCommand(
      log,
      metrics,
      executionId,
      {
        type: "RequestDeployment",
        executionId,
        moduleName: "netfilter",
        version: "1.0.0",
        targetEnvironment: environment,
        requesterEmail: "dev@example.com",
        requestedBy: "deployer",
        settings: resolveSettings(environment, {}),
        now: clock.now(),
      },
      ctx(),
    );
  const approve = (executionId: string) => deploymentCommand(log, metrics, executionId, { type: "Approve", by: "admin", now: clock.now() }, ctx());
  const events = (executionId: string) => log.readStream(streams.deployment(executionId));
  /** the position of the event that began its Plan stage: the deployment had the cluster then */
  const startedAt = async (executionId: string) =>
    (await events(executionId)).find((e) => e.type === "StageStarted" && (e.data as { stage: string }).stage === "Plan")?.position;
  /** Lets the runner step, a second of manual time per round, the read model following, until `done`. */
  const runUntil = async (done: () => Promise<boolean>, rounds: number) => {
    for (let i = 0; i < rounds; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      await readModel.project();
      await runner.tick();
      if (await done()) return true;
      clock.advance(1000);
    }
    return false;
  };
  return {
    runner,
    async start() {
      await feed.start();
      await runner.start();
    },
    clock,
    readModel,
    request,
    approve,
    events,
    startedAt,
    runUntil,
    async stop() {
      await runner.stop();
      await feed.stop();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test("a deployment waiting for approval does not hold its cluster: an approved one in the same environment starts at once", async () => {
  const h = await clusterHarness();
  try {
    await h.start();
    await h.request(ids.a, "Staging");
    // the runner looks at A (its approval has a timer) while nothing else is queued
    assert.ok(await h.runUntil(async () => (await h.events(ids.a)).some((e) => e.type === "ApprovalRequested"), 3));
    await h.runUntil(async () => false, 2);
    h.clock.advance(1000);
    await h.request(ids.b, "Staging");
    await h.approve(ids.b);
    // well under the minute a cluster slot is held for
    assert.ok(await h.runUntil(async () => (await h.startedAt(ids.b)) !== undefined, 10), "B starts while A waits for its approval");
    assert.not.ok((await h.events(ids.b)).some((e) => e.type === "DeploymentQueued"), "B was never queued behind A");
    assert.is((await h.events(ids.a)).at(-1)?.type, "ApprovalRequested", "A still waits, untouched");
  } finally {
    await h.stop();
  }
});

test("the queue goes in the order deployments became ready to start: an approval given later does not jump ahead", async () => {
  const h = await clusterHarness();
  try {
    // C asked first, D second; D was approved first, C later: D has been waiting longer for the cluster
    await h.request(ids.c, "Staging");
    h.clock.advance(1000);
    await h.request(ids.d, "Staging");
    h.clock.advance(1000);
    await h.approve(ids.d);
    h.clock.advance(1000);
    await h.approve(ids.c);
    await h.readModel.project();
    await h.start();
    assert.ok(await h.runUntil(async () => (await h.startedAt(ids.c)) !== undefined && (await h.startedAt(ids.d)) !== undefined, 10), "both start in turn");
    assert.ok((await h.startedAt(ids.d))! < (await h.startedAt(ids.c))!, "D, ready first, went first");
    assert.ok((await h.events(ids.c)).some((e) => e.type === "DeploymentQueued"), "C waited its turn");
  } finally {
    await h.stop();
  }
});

test("start() resumes an in-flight deployment the read model had not caught up with, once it does", async () => {
  let waits = 0;
  let release: ((caught: boolean) => void) | undefined;
  // the read model is behind: the first wait gives up, the next one lasts until the test says
  const h = await clusterHarness(() => (waits++ === 0 ? Promise.resolve(false) : new Promise<boolean>((resolve) => (release = resolve))));
  try {
    // requested while no runner watched: only the log knows it
    await h.request(ids.a, "Development");
    await h.start();
    await h.runner.tick();
    assert.is(await h.startedAt(ids.a), undefined, "not stepped while the read model does not list it");
    // it catches up; no new event reaches the deployment's stream
    await h.readModel.project();
    for (let i = 0; i < 50 && !release; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.ok(release, "the runner waits for the read model again");
    release?.(true);
    assert.ok(
      await h.runUntil(async () => (await h.events(ids.a)).some((e) => e.type === "DeploymentFailed"), 10),
      "the deployment is resumed and runs to its end (an empty cluster fails it)",
    );
  } finally {
    await h.stop();
  }
});

test.run();
