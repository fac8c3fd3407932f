// A user's command on a big deployment starts from the state a process already folded (the
// runner's), or, on a key's first use, without searching the stream for an earlier attempt: it
// reads only what the stream gained since, and decides what a fold of the whole stream decides.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { deploymentDecider, foldDeployment, initialDeploymentState, type DeploymentCommand } from "../../src/commands/deployment.js";
import { deploymentCommand, type DeploymentFolds } from "../../src/commands/deployments.js";
import type { CommandContext } from "../../src/commands/handler.js";
import type { DeploymentEvent } from "../../src/events/catalog/deployment.js";
import { catalog } from "../../src/events/catalog/index.js";
import { EventLog } from "../../src/events/event-log.js";
import type { ReadStreamOptions } from "../../src/events/store/port.js";
import { SqliteEventStore } from "../../src/events/store/sqlite.js";
import { streams } from "../../src/events/streams.js";
import { createMetrics } from "../../src/platform/metrics.js";
import { MemoryReadStore } from "../../src/projections/store/memory.js";
import { judgeRollbackOf } from "../../src/graph/dependencies.js";
import { appendBigDeployment, bigDeployment, T0, type Outcome } from "../helpers/deployment-nodes.js";

const NODES = 300;
const outcomes: Outcome[] = Array.from({ length: NODES }, (_, i) => (i < 120 ? "updated" : i < 130 ? "installing" : "pending"));

async function setUp() {
  const dir = mkdtempSync(join(tmpdir(), "korch-deployment-folds-"));
  const store = new SqliteEventStore({ file: join(dir, "events.db"), synchronous: "NORMAL" });
  const log = new EventLog(store, catalog);
  const big = bigDeployment("6f1c1d7e-0000-4000-8000-00000000f01d", outcomes);
  await appendBigDeployment(log, big);
  const streamId = streams.deployment(big.executionId);
  const recorded = await log.readStream(streamId);
  // every read of the stream, as asked
  const reads: (ReadStreamOptions | undefined)[] = [];
  const readStream = log.readStream.bind(log);
  log.readStream = (id, options) => {
    if (id === streamId) reads.push(options);
    return readStream(id, options);
  };
  const ctx = (extra: Partial<CommandContext> = {}): CommandContext => ({ actor: { kind: "user", id: "admin" }, correlationId: "req", now: T0 + 60_000, ...extra });
  return {
    log,
    big,
    recorded,
    reads,
    ctx,
    /** the stream folded from its start, and what the decider makes of `command` on it */
    whole(command: DeploymentCommand) {
      const state = foldDeployment(initialDeploymentState, recorded as unknown as DeploymentEvent[]);
      return { state, decided: deploymentDecider.decide(command, state) };
    },
    async close() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The reads that fetched events, leaving out the existence check (one event). */
const fetching = (reads: (ReadStreamOptions | undefined)[]) => reads.filter((o) => o?.maxCount !== 1);
const plain = (x: unknown) => JSON.parse(JSON.stringify(x)) as unknown;

test("a command on a deployment a process keeps folded reads only what the stream gained since that fold, and decides as a whole fold does", async () => {
  const s = await setUp();
  try {
    // the process folded all but the last 40 events
    const upTo = s.recorded.length - 41;
    const asked: string[] = [];
    const folds: DeploymentFolds = {
      folded(id) {
        asked.push(id);
        const state = foldDeployment(initialDeploymentState, s.recorded.slice(0, upTo + 1) as unknown as DeploymentEvent[]);
        return { state, revision: s.recorded[upTo]!.revision, position: s.recorded[upTo]!.position };
      },
    };
    const command: DeploymentCommand = { type: "Pause", by: "admin", now: T0 + 60_000 };
    const { state, decided } = s.whole(command);
    assert.is(state.status, "Running");
    const result = await deploymentCommand(s.log, createMetrics(), s.big.executionId, command, s.ctx(), new MemoryReadStore(), folds);
    assert.equal(asked, [s.big.executionId]);
    assert.equal(fetching(s.reads), [{ fromRevision: upTo + 1 }], "only the events after the fold were read");
    assert.equal(plain(result.events), plain(decided));
    assert.is(result.state.status, "Paused");
    assert.equal(plain(result.state), plain(foldDeployment(state, decided)), "the state after, as from the whole fold");
  } finally {
    await s.close();
  }
});

test("a keyed command on its key's first use does not read the whole stream for an earlier attempt; a later use does, and replays", async () => {
  const s = await setUp();
  try {
    const command: DeploymentCommand = { type: "Pause", by: "admin", now: T0 + 60_000 };
    const folds: DeploymentFolds = {
      folded: () => {
        const last = s.recorded.at(-1)!;
        return { state: foldDeployment(initialDeploymentState, s.recorded as unknown as DeploymentEvent[]), revision: last.revision, position: last.position };
      },
    };
    const first = await deploymentCommand(s.log, createMetrics(), s.big.executionId, command, s.ctx({ idempotencyKey: "k1", firstUseOfKey: true }), new MemoryReadStore(), folds);
    assert.equal(
      fetching(s.reads).map((o) => o?.fromRevision),
      [s.recorded.length],
      "read from after the fold only",
    );
    assert.is(first.replayed, false);
    s.reads.length = 0;
    const retry = await deploymentCommand(s.log, createMetrics(), s.big.executionId, command, s.ctx({ idempotencyKey: "k1", firstUseOfKey: false }), new MemoryReadStore(), folds);
    assert.ok(
      fetching(s.reads).some((o) => o === undefined || o.fromRevision === undefined),
      "a retry looks through the stream for the first attempt",
    );
    assert.is(retry.replayed, true);
    assert.equal(
      retry.events.map((e) => [e.type, e.data]),
      first.events.map((e) => [e.type, e.data]),
    );
    assert.is(retry.position, first.position);
  } finally {
    await s.close();
  }
});

test("a rollback's dependency check starts from the process's fold too, and reads only the tail", async () => {
  const s = await setUp();
  try {
    const upTo = s.recorded.length - 11;
    const folds: DeploymentFolds = {
      folded: () => ({
        state: foldDeployment(initialDeploymentState, s.recorded.slice(0, upTo + 1) as unknown as DeploymentEvent[]),
        revision: s.recorded[upTo]!.revision,
        position: s.recorded[upTo]!.position,
      }),
    };
    const verdict = await judgeRollbackOf(new MemoryReadStore(), s.log, s.big.executionId, undefined, { sub: "admin", roles: ["Admin"] }, folds);
    assert.ok(verdict.ok);
    assert.equal(fetching(s.reads), [{ fromRevision: upTo + 1 }]);
  } finally {
    await s.close();
  }
});

test.run();
