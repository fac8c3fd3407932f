import fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { fold } from "../../src/commands/decider.js";
import { borrowNodes, deploymentDecider, deploymentProgress, evolveDeployment, firstPendingIndex, keepBorrowed, foldDeployment, inFlightNodes, isTerminal, type DeploymentState } from "../../src/commands/deployment.js";
import { deploymentFold } from "../../src/commands/deployments.js";
import type { DeploymentEvent, DeploymentEventOf } from "../../src/events/catalog/deployment.js";
import type { RecordedEvent } from "../../src/events/envelope.js";
import { foldFrom, projectionFold } from "../../src/events/snapshots.js";
import { deploymentStateOf, deploymentViewOf, deploymentsProjection, toDeploymentView, type DeploymentDoc } from "../../src/projections/deployments.js";
import { BatchApplier } from "../../src/projections/runner.js";
import { MemoryReadStore } from "../../src/projections/store/memory.js";
import { advance, samplesWantedSince, type AssignmentOutcome, type FleetNode, type Observation } from "../../src/processes/deployment-process.js";
import type { MetricSample } from "../../src/strategies/health-analysis.js";
import { canaryTargets } from "../../src/strategies/index.js";
import { resolveSettings, type StrategyName, type StrategySettings } from "../../src/strategies/settings.js";
import { deepFreeze } from "../../src/platform/deep-freeze.js";
import { bigDeployment, T0 as BIG_T0, type Outcome } from "../helpers/deployment-nodes.js";
import { NO_SAMPLES, sampleRunsOf } from "../../src/strategies/sample-runs.js";

const T0 = Date.parse("2026-03-01T10:00:00.000Z");
const NEW = "2.0.0";
const SAMPLE_EVERY_MS = 1000;

// Fast settings come from overrides, as in development.
const fast = {
  checkIntervalMs: 1000,
  requiredStableChecks: 2,
  minWaitMs: 1500,
  maxWaitMs: 6000,
  analysisWindowMs: 2500,
  installTimeoutMs: 4000,
  progressDeadlineMs: 1_000_000_000,
  thresholds: { minSamplesPerNode: 2 },
};

function settingsFor(strategy: StrategyName, extra: Record<string, unknown> = {}): StrategySettings {
  return resolveSettings("QA", { QA: { ...fast, strategy, ...extra } });
}

/**
 * The settings with this maxInFlight, or without one (a deployment requested before it existed,
 * read from its event). A rolling update's bound is at least its maxUnavailable, as the settings require.
 */
function withInFlight(settings: StrategySettings, maxInFlight: number | undefined): StrategySettings {
  const { maxInFlight: _default, ...rest } = settings;
  if (maxInFlight === undefined) return rest;
  return { ...rest, maxInFlight: settings.strategy === "Rolling" ? Math.max(maxInFlight, settings.maxUnavailable) : maxInFlight };
}

interface Faults {
  installFail: Set<string>;
  /** no answer to any request: the process must time it out */
  silent: Set<string>;
  /** on the new version these nodes report errors and latency far past the thresholds */
  degrade: Set<string>;
  rollbackFail: Set<string>;
}

/** A fleet that carries out NodeUpdateRequested after a per-node delay and reports metrics. */
class SimFleet {
  readonly nodes = new Map<string, FleetNode>();
  pending: { assignmentId: string; nodeId: string; kind: string; toVersion: string | null; doneAt: number }[] = [];
  outcomes: AssignmentOutcome[] = [];
  samples: MetricSample[] = [];
  private lastSampleAt: number;
  constructor(
    ids: string[],
    initial: (i: number) => string | null,
    private faults: Faults,
    now: number,
  ) {
    ids.forEach((nodeId, i) => this.nodes.set(nodeId, { nodeId, status: "Healthy", version: initial(i) }));
    this.lastSampleAt = now - 3 * SAMPLE_EVERY_MS;
  }
  private delay(nodeId: string): number {
    let h = 0;
    for (const c of nodeId) h = (h * 31 + c.charCodeAt(0)) % 997;
    return 100 + (h % 7) * 100;
  }
  apply(e: DeploymentEvent, now: number) {
    if (e.type !== "NodeUpdateRequested") return;
    const d = e.data;
    if (this.faults.silent.has(d.nodeId)) return;
    this.pending.push({ assignmentId: d.assignmentId, nodeId: d.nodeId, kind: d.kind, toVersion: d.toVersion, doneAt: now + this.delay(d.nodeId) });
  }
  nextCompletion(): number | null {
    return this.pending.length ? Math.min(...this.pending.map((p) => p.doneAt)) : null;
  }
  tick(now: number, windowMs: number) {
    const done = this.pending.filter((p) => p.doneAt <= now);
    this.pending = this.pending.filter((p) => p.doneAt > now);
    for (const p of done) {
      const node = this.nodes.get(p.nodeId)!;
      const fails = p.kind === "install" ? this.faults.installFail.has(p.nodeId) : this.faults.rollbackFail.has(p.nodeId);
      if (!fails) node.version = p.toVersion;
      this.outcomes.push({ assignmentId: p.assignmentId, nodeId: p.nodeId, outcome: fails ? "failed" : "succeeded", ...(fails ? { error: "simulated failure" } : {}) });
    }
    for (let t = this.lastSampleAt + SAMPLE_EVERY_MS; t <= now; t += SAMPLE_EVERY_MS) {
      let i = 0;
      for (const node of this.nodes.values()) {
        const bad = node.version === NEW && this.faults.degrade.has(node.nodeId);
        const wobble = ((t / SAMPLE_EVERY_MS + i++) % 5) / 5; // deterministic noise in [0, 0.8]
        this.samples.push({
          nodeId: node.nodeId,
          at: t,
          cpu: 30 + 10 * wobble,
          memory: 40 + 10 * wobble,
          latencyP95Ms: bad ? 900 : 95 + 10 * wobble,
          errorRate: bad ? 0.4 : 0.002 + 0.004 * wobble,
          requestRate: 100,
        });
      }
      this.lastSampleAt = t;
    }
    this.samples = this.samples.filter((s) => s.at > now - windowMs - SAMPLE_EVERY_MS);
  }
  observe(): Observation {
    return { nodes: [...this.nodes.values()].map((n) => ({ ...n })), outcomes: this.outcomes, samples: sampleRunsOf(this.samples), mayStart: true };
  }
}

interface Run {
  state: DeploymentState;
  events: DeploymentEvent[];
  fleet: SimFleet;
  endedAt: number;
  violations: string[];
  succeededBeforeRollback: boolean;
}

/** Drives advance() like the runner would, with a manual clock, checking invariants as it goes. */
function drive(strategy: StrategyName, settings: StrategySettings, fleet: SimFleet, nodeCount: number, manualRollback = false): Run {
  let succeededBeforeRollback = false;
  let now = T0;
  const events: DeploymentEvent[] = deploymentDecider.decide(
    {
      type: "RequestDeployment",
      executionId: "ex",
      moduleName: "mod",
      version: NEW,
      targetEnvironment: "QA",
      requesterEmail: "dev@example.com",
      requestedBy: "deployer",
      strategy,
      settings,
      now,
    },
    deploymentDecider.initialState,
  );
  let state = fold(deploymentDecider, events);
  const violations: string[] = [];
  const targets = strategy === "Canary" ? canaryTargets(nodeCount, settings.canaryPercentages) : [];
  let manualRollbackPending = manualRollback;
  for (let i = 0; i < 200_000; i++) {
    if (isTerminal(state.status)) {
      if (!(manualRollbackPending && state.status === "Succeeded")) break;
      // A user rolls the finished deployment back: it must restore every node it touched.
      manualRollbackPending = false;
      succeededBeforeRollback = true;
      for (const e of deploymentDecider.decide({ type: "Rollback", by: "admin", now }, state)) {
        state = foldDeployment(state, [e], { ownsNodes: true });
        events.push(e);
      }
    }
    fleet.tick(now, settings.analysisWindowMs);
    const obs = fleet.observe();
    // now and then a step whose events are dropped (the runner's append lost a race): the state is as it was
    if (i % 4 === 1) advance(state, obs, now);
    const r = advance(state, obs, now);
    // now and then, as the runner does once its append went through: the step's own fold kept
    // (keepBorrowed) rather than its events folded again; it must be what folding them gives
    const adopt = i % 3 === 0 && r.folded !== undefined;
    const expected = adopt ? JSON.stringify(foldDeployment(state, r.events)) : "";
    // event by event, for the checks below (a copy when the step's fold is kept)
    let view = adopt ? foldDeployment(state, []) : state;
    for (const e of r.events) {
      if (e.type === "TrafficSwitched" && view.blueGreen && e.data.to === view.blueGreen.idleColor) {
        const wave = view.waves[0];
        if (wave?.status !== "completed" || wave.lastVerdict?.kind !== "stable") violations.push(`switched to ${e.data.to} before it passed its check`);
      }
      // the driver's own state, folded on in place (the plain definition is checked at the end)
      view = foldDeployment(view, [e], { ownsNodes: true });
      events.push(e);
      fleet.apply(e, now);
    }
    if (adopt) {
      state = keepBorrowed(state, r.folded!.state, r.folded!.borrowed);
      if (JSON.stringify(state) !== expected) violations.push(`the step's fold, kept, differs from folding its events at ${now - T0} ms`);
    } else state = view;
    // the running counts the fold keeps agree with a walk over the nodes
    const all = Object.values(state.nodes);
    const planned = all.filter((n) => n.wave >= 0);
    const counted = {
      planned: planned.length,
      updated: planned.filter((n) => n.phase === "updated").length,
      inFlight: all.filter((n) => n.phase === "installing" || n.phase === "rollingBack").length,
      failed: all.filter((n) => n.phase === "failed").length,
    };
    if (JSON.stringify(state.nodeCounts) !== JSON.stringify(counted)) {
      violations.push(`nodeCounts ${JSON.stringify(state.nodeCounts)}, nodes say ${JSON.stringify(counted)}`);
    }
    // the in-flight index the fold keeps on this map, through in-place folds and borrowed steps
    const walked = all.filter((n) => n.phase === "installing" || n.phase === "rollingBack").map((n) => n.nodeId);
    const indexed = inFlightNodes(state).map((n) => n.nodeId);
    if (JSON.stringify(indexed) !== JSON.stringify(walked)) violations.push(`in flight by the index ${indexed.join(",")}, by a walk ${walked.join(",")}`);
    for (const w of state.waves) {
      const updated = w.nodeIds.filter((id) => state.nodes[id]?.phase === "updated").length;
      if (w.updated !== updated) violations.push(`wave ${w.index} counts ${w.updated} updated nodes, its nodes say ${updated}`);
    }
    if (advance(state, obs, now).events.length) violations.push(`advance not idempotent at ${now - T0} ms`);
    // where the next requests start in the running wave (a cursor the fold keeps) agrees with a walk
    for (const w of state.currentWave === null ? [] : [state.waves[state.currentWave]!]) {
      const walked = w.nodeIds.findIndex((id) => Object.hasOwn(state.nodes, id) && state.nodes[id]!.phase === "pending");
      const cursor = firstPendingIndex(state, w);
      if (cursor !== (walked === -1 ? w.nodeIds.length : walked)) violations.push(`wave ${w.index}: next pending node at ${cursor} by the cursor, ${walked} by a walk`);
    }
    if (strategy === "Rolling" && fleet.pending.length > settings.maxUnavailable) {
      violations.push(`${fleet.pending.length} nodes out of service, maxUnavailable ${settings.maxUnavailable}`);
    }
    // bounded work in flight: never more requests outstanding than maxInFlight (silent nodes never
    // answer, so the state's count is the one to check: it holds them until they time out)
    if (settings.maxInFlight !== undefined && state.nodeCounts.inFlight > settings.maxInFlight) {
      violations.push(`${state.nodeCounts.inFlight} node updates in flight, maxInFlight ${settings.maxInFlight}`);
    }
    if (strategy === "Canary" && state.currentWave !== null) {
      const allowed = targets[state.currentWave]?.total ?? 0;
      const onNew = [...fleet.nodes.values()].filter((n) => n.version === NEW).length;
      if (onNew > allowed) violations.push(`canary wave ${state.currentWave} allows ${allowed} nodes, ${onNew} run ${NEW}`);
    }
    if (isTerminal(state.status)) continue;
    const next = Math.min(r.wakeAt ?? Infinity, fleet.nextCompletion() ?? Infinity, now + SAMPLE_EVERY_MS);
    now = Math.max(next, now + 1);
  }
  return { state, events, fleet, endedAt: now, violations, succeededBeforeRollback };
}

const clusterSize = fc.oneof(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 500 }));

/** Faults on chosen node indices (each index modulo the cluster size). */
const faultsArb = fc.record({
  installFail: fc.array(fc.nat(), { maxLength: 2 }),
  silent: fc.array(fc.nat(), { maxLength: 1 }),
  degrade: fc.array(fc.nat(), { maxLength: 3 }),
  rollbackFail: fc.array(fc.nat(), { maxLength: 1 }),
  enabled: fc.boolean(),
});

const strategyArb = fc.record({
  strategy: fc.constantFrom<StrategyName>("Direct", "Rolling", "BlueGreen", "Canary"),
  batchSize: fc.integer({ min: 1, max: 60 }),
  maxUnavailable: fc.integer({ min: 1, max: 8 }),
  // small bounds show the limit at work; undefined is a deployment requested before it existed
  maxInFlight: fc.option(fc.integer({ min: 1, max: 40 }), { nil: undefined }),
  canaryPercentages: fc.constantFrom([10, 30, 50, 100], [1, 100], [5, 25, 100], [50, 100], [100]),
  tightDeadline: fc.boolean(),
  manualRollback: fc.boolean(),
});

test("property: every strategy under every failure pattern keeps its invariants", () => {
  fc.assert(
    fc.property(clusterSize, strategyArb, faultsArb, (n, s, f) => {
      // Rolling one node per batch on a big cluster takes long to simulate; cap the batch count.
      const batchSize = Math.max(s.batchSize, Math.ceil(n / 40));
      const ids = Array.from({ length: n }, (_, i) => `node-${String(i).padStart(3, "0")}`);
      const pick = (xs: number[]) => new Set(f.enabled ? xs.map((x) => ids[x % n]!) : []);
      const faults: Faults = { installFail: pick(f.installFail), silent: pick(f.silent), degrade: pick(f.degrade), rollbackFail: pick(f.rollbackFail) };
      const settings = withInFlight(
        settingsFor(s.strategy, {
          batchSize,
          maxUnavailable: s.maxUnavailable,
          canaryPercentages: s.canaryPercentages,
          ...(s.tightDeadline ? { progressDeadlineMs: 5000 } : {}),
        }),
        s.maxInFlight,
      );
      const fleet = new SimFleet(ids, (i) => (i % 3 === 2 ? null : "1.0.0"), faults, T0);
      const previous = new Map(ids.map((id) => [id, fleet.nodes.get(id)!.version]));
      const run = drive(s.strategy, settings, fleet, n, s.manualRollback);
      const { state } = run;

      assert.equal(run.violations, []);
      assert.ok(isTerminal(state.status), `not terminal: ${state.status}`);
      // Replaying the events rebuilds exactly the same state, by the plain definition and by the handler's fold.
      assert.equal(run.events.reduce(evolveDeployment, deploymentDecider.initialState), state);
      assert.equal(fold(deploymentDecider, run.events), state);

      const planned = Object.values(state.nodes).filter((x) => x.wave >= 0).map((x) => x.nodeId);
      const faulty = [...faults.installFail, ...faults.silent, ...faults.degrade];
      if (state.status === "Succeeded") {
        // Blue-green: "every node" means the color now serving, which is what the plan's wave holds.
        for (const id of planned) assert.is(fleet.nodes.get(id)!.version, NEW, `${id} not on ${NEW}`);
        assert.ok(!faulty.some((id) => planned.includes(id)), "succeeded although a planned node was faulty");
        if (state.blueGreen) assert.is(state.servingColor, state.blueGreen.idleColor);
      } else {
        // After any failure, every touched node is back on its previous version, except the ones
        // the deployment names as not returned.
        for (const id of state.rollback?.nodeIds ?? []) {
          if (state.failedNodeIds.includes(id)) continue;
          assert.is(fleet.nodes.get(id)!.version, previous.get(id), `${id} not back on its previous version`);
        }
        for (const id of state.failedNodeIds) assert.ok(faults.rollbackFail.has(id) || faults.silent.has(id), `${id} listed as not returned`);
        if (state.blueGreen) assert.is(state.servingColor, state.blueGreen.activeColor, "blue-green still serves from the failed color");
        const expected = !s.tightDeadline && !faulty.length && !faults.rollbackFail.size;
        if (expected && !run.succeededBeforeRollback) assert.unreachable(`failed without a fault: ${state.failureReason}`);
        if (run.succeededBeforeRollback) assert.is(state.status, faults.rollbackFail.size ? state.status : "RolledBack");
      }
      // Terminal within the progress deadline, plus the bounded time to undo what was touched.
      const deadline = run.succeededBeforeRollback ? Infinity : Date.parse(state.deadlineAt ?? new Date(T0).toISOString());
      const touched = state.rollback?.nodeIds.length ?? 0;
      const concurrency = Math.min(s.strategy === "Rolling" ? s.maxUnavailable : touched || 1, settings.maxInFlight ?? Infinity);
      const undo = settings.installTimeoutMs * (Math.ceil(touched / concurrency) + 1) + SAMPLE_EVERY_MS;
      assert.ok(run.endedAt <= deadline + undo, `ended ${run.endedAt - deadline} ms after the deadline`);
      if (!s.tightDeadline && !run.succeededBeforeRollback) assert.ok(run.endedAt < deadline, "a healthy-deadline run hit its deadline");
    }),
    { numRuns: 30 },
  );
});

// ---------------------------------------------------------------------------------------------
// One fold: every fast path that folds a deployment gives what reducing with evolveDeployment (the
// plain definition) gives, on the histories the process makes, and leaves what it must not change.

const recorded = (events: DeploymentEvent[]): RecordedEvent[] =>
  events.map((e, i) => ({
    type: e.type,
    data: e.data,
    streamId: "deployment-ex",
    revision: i,
    position: i + 1,
    metadata: {
      eventId: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
      occurredAt: (e.data as { at: string }).at,
      actor: { kind: "system", id: "test" },
      correlationId: "c",
      causationId: "c",
      schemaVersion: 1,
      tenantId: "default",
    },
  }));

/** Splits `events` at the cuts (indices, any order, duplicates allowed). */
function chunks<T>(events: T[], cuts: number[]): T[][] {
  const at = [...new Set(cuts.map((c) => c % (events.length + 1)))].sort((a, b) => a - b);
  const out: T[][] = [];
  let from = 0;
  for (const c of [...at, events.length]) {
    out.push(events.slice(from, c));
    from = c;
  }
  return out;
}

test("property: the one fold equals the plain definition in every reader's way of using it", async () => {
  await fc.assert(
    fc.asyncProperty(clusterSize, strategyArb, faultsArb, fc.array(fc.nat(), { maxLength: 8 }), async (n, s, f, cuts) => {
      const batchSize = Math.max(s.batchSize, Math.ceil(n / 40));
      const ids = Array.from({ length: n }, (_, i) => `node-${String(i).padStart(3, "0")}`);
      const pick = (xs: number[]) => new Set(f.enabled ? xs.map((x) => ids[x % n]!) : []);
      const faults: Faults = { installFail: pick(f.installFail), silent: pick(f.silent), degrade: pick(f.degrade), rollbackFail: pick(f.rollbackFail) };
      const settings = withInFlight(settingsFor(s.strategy, { batchSize, maxUnavailable: s.maxUnavailable, canaryPercentages: s.canaryPercentages }), s.maxInFlight);
      const fleet = new SimFleet(ids, (i) => (i % 3 === 2 ? null : "1.0.0"), faults, T0);
      const { events } = drive(s.strategy, settings, fleet, n, s.manualRollback);
      const plain = events.reduce(evolveDeployment, deploymentDecider.initialState);
      const json = JSON.parse(JSON.stringify(plain)) as DeploymentState;

      // the runner: folded in pieces onto its own cache, in place
      let cached = deploymentDecider.initialState;
      for (const piece of chunks(events, cuts)) cached = foldDeployment(cached, piece, { ownsNodes: cached !== deploymentDecider.initialState });
      assert.equal(cached, plain, "the runner's in-place fold");
      assert.equal(deploymentDecider.initialState.nodes, {}, "the initial state is never changed");

      // a store's frozen documents: never changed, copied once by the fold that goes on from them
      let frozen = deploymentDecider.initialState;
      for (const piece of chunks(events, cuts)) {
        const before = JSON.stringify(deepFreeze(frozen));
        const next = foldDeployment(frozen, piece, { ownsNodes: true });
        assert.is(JSON.stringify(frozen), before, "a frozen state is left as it was");
        frozen = next;
      }
      assert.equal(frozen, plain, "folding on from frozen states");

      // a command's answer (readOnly): the map copied only once a node changes, the given state left as it was
      let answer = foldDeployment(deploymentDecider.initialState, chunks(events, cuts)[0] ?? []);
      for (const piece of chunks(events, cuts).slice(1)) {
        const before = JSON.stringify(answer);
        const next = foldDeployment(answer, piece, { readOnly: true });
        assert.is(JSON.stringify(answer), before, "a read-only fold leaves the state it was given as it was");
        answer = next;
      }
      assert.equal(answer, plain, "folding read-only");

      // the process step: folding onto a borrowed state gives the plain answer (while it is lent)
      // and puts every node back
      const [head = [], tail = []] = chunks(events, cuts.slice(0, 1));
      const mid = foldDeployment(deploymentDecider.initialState, head);
      const before = JSON.stringify(mid);
      borrowNodes(mid, (fold) => assert.equal(fold(fold(mid, tail.slice(0, 1)), tail.slice(1)), plain, "a borrowed fold"));
      assert.is(JSON.stringify(mid), before, "the lender's state is back as it was");

      // time travel and snapshots: runs between snapshots folded at once, each snapshot the plain prefix
      const every = 1 + (cuts[0] ?? 6) % 40;
      const history = recorded(events);
      const fromStart = foldFrom(deploymentFold, "deployment-ex", { state: deploymentFold.initial, revision: -1, position: null, occurredAtMs: -Infinity }, history, every);
      assert.equal(fromStart.state, plain, "foldFrom with foldAll");
      // one plain fold carried along the snapshots (refolding each prefix was cubic: with a snapshot
      // every event on a 500-node history, minutes)
      let prefix = deploymentDecider.initialState;
      let next = 0;
      for (const snap of fromStart.due) {
        for (; next <= snap.revision; next++) prefix = evolveDeployment(prefix, events[next]!);
        assert.equal(snap.state, JSON.parse(JSON.stringify(prefix)), `snapshot at ${snap.revision}`);
      }

      // the deployments read model: batches through the memory store, flushed at the cuts
      const store = new MemoryReadStore({ ttlIntervalMs: 0 });
      const applier = new BatchApplier(store);
      const flushAt = new Set(cuts.map((c) => c % (history.length + 1)));
      let early: DeploymentDoc | null = null;
      for (const [i, e] of history.entries()) {
        await applier.apply(deploymentsProjection, e);
        if (flushAt.has(i)) await applier.flush(deploymentsProjection);
        early ??= await store.collection<DeploymentDoc>("deployments").get("ex");
      }
      await applier.flush(deploymentsProjection);
      const doc = (await store.collection<DeploymentDoc>("deployments").get("ex"))!;
      // an older stored document folded on again (a batch discarded after a failure, a replay):
      // the nodes map its pages were written from went on with the later batches, so it is rebuilt
      const again = (from: DeploymentDoc) => {
        let d = from;
        for (const e of history) if (e.position > d.lastPosition) d = { ...deploymentsProjection.apply(d, e)!, lastPosition: e.position } as DeploymentDoc;
        // finished twice (a write retried): the same document both times
        const once = deploymentsProjection.finish!(d);
        assert.equal(deploymentsProjection.finish!(d), once, "finish twice");
        return once;
      };
      if (early) assert.equal(JSON.parse(JSON.stringify(deploymentStateOf(again(early)))), json, "folded on from an older stored document");
      // the read model folded one event at a time, finished after each (its time travel and snapshots)
      const byEvent = projectionFold(deploymentsProjection, "ex");
      const folded = history.reduce((d, e) => byEvent.evolve(d, e), byEvent.initial)!;
      assert.equal(JSON.parse(JSON.stringify(deploymentStateOf(folded))), json, "the projection folded event by event");
      assert.equal(Object.keys(deploymentStateOf(folded).nodes), Object.keys(plain.nodes), "nodes in the map's order");
      assert.equal(JSON.parse(JSON.stringify(deploymentStateOf(doc))), json, "the projection's state");
      assert.equal(JSON.parse(JSON.stringify(deploymentViewOf(doc))), JSON.parse(JSON.stringify(toDeploymentView(plain))), "the projection's view");
      assert.is(doc.progress, deploymentProgress(plain));
      assert.equal(Object.keys(deploymentStateOf(doc).nodes), Object.keys(plain.nodes), "the stored pages keep the map's order");
    }),
    { numRuns: 15 },
  );
});

// ---------------------------------------------------------------------------------------------
// Examples

function started(strategy: StrategyName, extra: Record<string, unknown> = {}, n = 4) {
  const settings = settingsFor(strategy, extra);
  const events = deploymentDecider.decide(
    { type: "RequestDeployment", executionId: "ex", moduleName: "mod", version: NEW, targetEnvironment: "QA", requesterEmail: "a@example.com", requestedBy: "u", strategy, settings, now: T0 },
    deploymentDecider.initialState,
  );
  const ids = Array.from({ length: n }, (_, i) => `n${i}`);
  return { state: fold(deploymentDecider, events), ids, settings };
}

const healthy = (ids: string[], version: string | null = "1.0.0"): FleetNode[] => ids.map((nodeId) => ({ nodeId, status: "Healthy", version }));
const obsOf = (nodes: FleetNode[], extra: Partial<Observation> = {}): Observation => ({ nodes, outcomes: [], samples: NO_SAMPLES, mayStart: true, ...extra });
const apply = (state: DeploymentState, events: DeploymentEvent[]) => events.reduce(evolveDeployment, state);

test("a Pending deployment waits for the cluster and says so once", () => {
  const { state, ids } = started("Direct");
  const first = advance(state, obsOf(healthy(ids), { mayStart: false }), T0);
  assert.equal(first.events.map((e) => e.type), ["DeploymentQueued"]);
  assert.is(first.wakeAt, null);
  const again = advance(apply(state, first.events), obsOf(healthy(ids), { mayStart: false }), T0 + 5000);
  assert.equal(again.events, []);
  const go = advance(apply(state, first.events), obsOf(healthy(ids)), T0 + 6000);
  assert.equal(go.events.slice(0, 5).map((e) => e.type), ["StageStarted", "DeploymentPlanned", "StageCompleted", "StageStarted", "WaveStarted"]);
  assert.equal(go.events.filter((e) => e.type === "NodeUpdateRequested").length, 4);
});

test("approval expiry is a durable timer: wake at expiresAt, then Rejected", () => {
  const settings = resolveSettings("Production", {});
  const events = deploymentDecider.decide(
    { type: "RequestDeployment", executionId: "ex", moduleName: "mod", version: NEW, targetEnvironment: "Production", requesterEmail: "a@example.com", requestedBy: "u", settings, now: T0 },
    deploymentDecider.initialState,
  );
  const state = fold(deploymentDecider, events);
  const early = advance(state, obsOf([]), T0 + 1000);
  assert.equal(early.events, []);
  assert.is(early.wakeAt, T0 + settings.approval.timeoutMs);
  const late = advance(state, obsOf([]), T0 + settings.approval.timeoutMs);
  assert.equal(late.events.map((e) => e.type), ["ApprovalExpired", "StageCompleted", "DeploymentRejected"]);
});

test("only the outcome of the current request counts; a missing one times out", () => {
  const { state, ids } = started("Direct", {}, 1);
  const first = advance(state, obsOf(healthy(ids)), T0);
  let s = apply(state, first.events);
  const req = first.events.find((e) => e.type === "NodeUpdateRequested")!;
  assert.is(req.type === "NodeUpdateRequested" && req.data.assignmentId, "ex:n0:1");
  const stale: AssignmentOutcome = { assignmentId: "ex:n0:0", nodeId: "n0", outcome: "succeeded" };
  assert.equal(advance(s, obsOf(healthy(ids), { outcomes: [stale] }), T0 + 10).events, []);
  assert.is(first.wakeAt, T0 + 4000);
  const timedOut = advance(s, obsOf(healthy(ids)), T0 + 4000);
  assert.equal(timedOut.events.slice(0, 2).map((e) => e.type), ["NodeUpdateFailed", "StageCompleted"]);
  s = apply(s, timedOut.events);
  assert.is(s.status, "RollingBack");
  const rollback = timedOut.events.find((e) => e.type === "NodeUpdateRequested");
  assert.ok(rollback?.type === "NodeUpdateRequested" && rollback.data.kind === "rollback" && rollback.data.toVersion === "1.0.0");
});

test("maxInFlight: a wave of 10 nodes with a bound of 3 asks 3 at a time, in wave order, and refills as outcomes come", () => {
  const { state, ids } = started("Direct", { maxInFlight: 3 }, 10);
  const first = advance(state, obsOf(healthy(ids)), T0);
  const asked = (events: DeploymentEvent[]) => events.filter((e) => e.type === "NodeUpdateRequested").map((e) => (e.data as { nodeId: string }).nodeId);
  assert.equal(asked(first.events), ["n0", "n1", "n2"]);
  const s = apply(state, first.events);
  assert.equal(advance(s, obsOf(healthy(ids)), T0 + 10).events, [], "no slot free, nothing more");
  const two: AssignmentOutcome[] = ["n0", "n2"].map((n) => ({ assignmentId: `ex:${n}:1`, nodeId: n, outcome: "succeeded" }));
  const next = advance(s, obsOf(healthy(ids), { outcomes: two }), T0 + 20);
  assert.equal(next.events.filter((e) => e.type === "NodeUpdated").length, 2);
  assert.equal(asked(next.events), ["n3", "n4"]);
});

test("pause: in-flight updates finish, no new ones start until resume", () => {
  const { state, ids } = started("Rolling", { batchSize: 4, maxUnavailable: 1 });
  const first = advance(state, obsOf(healthy(ids)), T0);
  assert.equal(first.events.filter((e) => e.type === "NodeUpdateRequested").length, 1);
  let s = apply(state, first.events);
  s = apply(s, deploymentDecider.decide({ type: "Pause", by: "u", now: T0 + 1 }, s));
  const done: AssignmentOutcome = { assignmentId: "ex:n0:1", nodeId: "n0", outcome: "succeeded" };
  const whilePaused = advance(s, obsOf(healthy(ids), { outcomes: [done] }), T0 + 100);
  assert.equal(whilePaused.events.map((e) => e.type), ["NodeUpdated"]);
  s = apply(s, whilePaused.events);
  s = apply(s, deploymentDecider.decide({ type: "Resume", by: "u", now: T0 + 200 }, s));
  const resumed = advance(s, obsOf(healthy(ids), { outcomes: [done] }), T0 + 200);
  assert.equal(resumed.events.map((e) => e.type), ["NodeUpdateRequested"]);
});

test("a degraded verdict rolls back with the node, metric, value and threshold", () => {
  const { state, ids } = started("Direct", {}, 2);
  let s = apply(state, advance(state, obsOf(healthy(ids, null)), T0).events);
  const outcomes = ids.map((id) => ({ assignmentId: `ex:${id}:1`, nodeId: id, outcome: "succeeded" as const }));
  s = apply(s, advance(s, obsOf(healthy(ids, NEW), { outcomes }), T0 + 100).events);
  assert.is(s.waves[0]?.status, "analyzing");
  const bad = (nodeId: string, at: number): MetricSample => ({ nodeId, at, cpu: 10, memory: 10, latencyP95Ms: 50, errorRate: nodeId === "n1" ? 0.3 : 0.001, requestRate: 5 });
  const samples = ids.flatMap((id) => [bad(id, T0 + 500), bad(id, T0 + 900)]);
  const r = advance(s, obsOf(healthy(ids, NEW), { outcomes, samples: sampleRunsOf(samples) }), T0 + 1100);
  s = apply(s, r.events);
  assert.is(s.status, "RollingBack");
  assert.equal(s.rollback?.cause, { kind: "degraded", wave: 0, nodeId: "n1", metric: "errorRate", value: 0.3, threshold: 0.05 });
  assert.match(s.rollback?.reason ?? "", /n1.*error rate 0.3 exceeds the threshold 0.05/);
  // nodes that had no version get the module removed
  const removals = r.events.filter((e) => e.type === "NodeUpdateRequested" && e.data.kind === "remove");
  assert.is(removals.length, 2);
});

test("insufficient data past maxWaitMs counts as a failure", () => {
  const { state, ids } = started("Direct", {}, 1);
  let s = apply(state, advance(state, obsOf(healthy(ids)), T0).events);
  const outcomes = [{ assignmentId: "ex:n0:1", nodeId: "n0", outcome: "succeeded" as const }];
  s = apply(s, advance(s, obsOf(healthy(ids, NEW), { outcomes }), T0 + 100).events);
  let now = T0 + 100;
  for (let i = 0; i < 20 && s.status === "Running"; i++) {
    const r = advance(s, obsOf(healthy(ids, NEW), { outcomes }), now);
    s = apply(s, r.events);
    now = r.wakeAt ?? now + 1000;
  }
  assert.is(s.status, "RollingBack");
  assert.equal(s.rollback?.cause, { kind: "not_stable", wave: 0, lastVerdict: "insufficient_data", waitedMs: 6000 });
});

test("no reachable node: the plan fails and so does the deployment", () => {
  const { state } = started("Canary");
  const r = advance(state, obsOf([{ nodeId: "x", status: "Offline", version: null }]), T0);
  assert.equal(r.events.map((e) => e.type), ["StageStarted", "StageCompleted", "DeploymentFailed"]);
});

test("a health check judges only the samples samplesWantedSince asks the fleet for: older ones change nothing", () => {
  // a canary's first wave installed and under analysis, its check due
  const outcomes: Outcome[] = Array.from({ length: 40 }, (_, i) => (i < 10 ? "updated" : "pending"));
  const big = bigDeployment("6f1c1d7e-0000-4000-8000-00000000a1a1", outcomes, { deployStage: true });
  const state = foldDeployment(deploymentDecider.initialState, big.events);
  assert.is(state.waves[0]?.status, "analyzing");
  const now = BIG_T0 + 60_000;
  const since = samplesWantedSince(state, now);
  const healthy = { cpu: 30, memory: 40, latencyP95Ms: 60, errorRate: 0.001, requestRate: 100 };
  const failing = { cpu: 99, memory: 99, latencyP95Ms: 9_000, errorRate: 0.9, requestRate: 100 };
  // every node every 10 s over two windows: the older window's readings would fail any node
  const samples: MetricSample[] = big.nodeIds.flatMap((nodeId) =>
    Array.from({ length: 24 }, (_, k) => {
      const at = now - (23 - k) * 10_000;
      return { nodeId, at, ...(at < since ? failing : healthy) };
    }),
  );
  const nodes: FleetNode[] = big.nodeIds.map((nodeId, i) => ({ nodeId, status: "Healthy", version: i < 10 ? "2.0.0" : "1.0.0" }));
  const check = (from: MetricSample[]) => advance(state, { nodes, outcomes: [], samples: sampleRunsOf(from), mayStart: true }, now).events;
  const all = check(samples);
  assert.equal(all, check(samples.filter((x) => x.at >= since)));
  assert.is(all[0]?.type, "HealthCheckRecorded");
  assert.is((all[0] as DeploymentEventOf<"HealthCheckRecorded">).data.verdict.kind, "stable", "the older readings were not judged");
});

test.run();
