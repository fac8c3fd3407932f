import {
  borrowNodes,
  type Borrowed,
  closeStage,
  deploymentDecider,
  firstPendingIndex,
  inFlightNodes,
  isoAt,
  isTerminal,
  startRollback,
  type DeploymentState,
  type NodeState,
} from "../commands/deployment.js";
import type { DeploymentEvent } from "../events/catalog/deployment.js";
import { own } from "../platform/own-keys.js";
import { analyzeRunSet } from "../strategies/health-analysis.js";
import { rowsBetween, type RowRange, type SampleRuns } from "../strategies/sample-runs.js";
import { maxConcurrentUpdates, plan } from "../strategies/index.js";
import type { Color } from "../strategies/plan-types.js";
import { describeWaveVerdict, judgeWave, type WaveDependencies } from "../graph/wave-check.js";

export interface FleetNode {
  nodeId: string;
  status: "Healthy" | "Unhealthy" | "Offline";
  /** this module's version on the node; null when not installed */
  version: string | null;
  color?: Color;
}

export interface AssignmentOutcome {
  assignmentId: string;
  nodeId: string;
  outcome: "succeeded" | "failed";
  error?: string;
  durationMs?: number;
}

export interface Observation {
  /**
   * Every node of the cluster. May be left out (with `samples`) when only the outcomes of the
   * requests in flight were read: a step that needs the fleet then stops and says so (Advance.needsFleet).
   */
  nodes?: FleetNode[];
  /** outcomes of assignments: at least those of every request in flight */
  outcomes: AssignmentOutcome[];
  /** recent samples of the cluster's nodes (sampleRunsOf makes them of objects); may be left out with `nodes` */
  samples?: SampleRuns;
  /** the runner's answer to "is the cluster free for this deployment?" */
  mayStart: boolean;
  /**
   * When the runner (re)started watching. An install timeout that ran out while no runner was
   * watching is extended to resumedAt + installTimeoutMs, so agents can report after a restart.
   */
  resumedAt?: number;
  /** blue-green: the color serving now, as the cluster knows it; the planner guesses when absent */
  activeColor?: Color;
  /**
   * The caller judges module dependencies when a wave starts: a wave starts only once
   * `waveDependencies` holds what its nodes run now (Advance.needsDependencies asks for it). Left
   * out, waves start unjudged (tests of other rules; the request was judged when it was made).
   */
  judgeDependencies?: boolean;
  /** read for the wave Advance.needsDependencies named, and only then: the hot path never pays for it */
  waveDependencies?: WaveDependencies;
}

export interface Advance {
  events: DeploymentEvent[];
  /** call again at the latest then (epoch ms), or null to wait for new observations or commands */
  wakeAt: number | null;
  /**
   * The observation left out the nodes or samples and a step needed them: call again, with the
   * same state and time and the whole fleet view, before acting on `events`.
   */
  needsFleet?: true;
  /**
   * A wave is about to start and the observation lacks what its nodes run: call again, with the
   * same state and time and `waveDependencies` read for this wave, before acting on `events`.
   */
  needsDependencies?: { wave: number; nodeIds: string[] };
  /**
   * The state after `events`, as the step folded them on the state it was given (lent: see
   * borrowNodes). A caller that owns that state and keeps the events may take it with keepBorrowed
   * rather than fold them again.
   */
  folded?: { from: DeploymentState; state: DeploymentState; borrowed: Borrowed };
}

interface Ctx {
  obs: Observation;
  now: number;
  at: string;
  outcomes: Map<string, AssignmentOutcome>;
  /** set by a step that needed what the observation left out */
  needsFleet?: boolean;
  needsDependencies?: { wave: number; nodeIds: string[] };
}

/** The fleet's nodes and samples, or undefined (and the step marked as needing them) when the observation left them out. */
function fleetOf(ctx: Ctx): { nodes: FleetNode[]; samples: SampleRuns } | undefined {
  const { nodes, samples } = ctx.obs;
  if (nodes && samples) return { nodes, samples };
  ctx.needsFleet = true;
  return undefined;
}

/**
 * The deployment process, one step: given the folded stream, what the fleet looks like and the
 * time, which events come next. Pure. Applying the returned events and calling again with the
 * same observation and time returns nothing, so the runner may call it as often as it likes.
 */
export function advance(state: DeploymentState, obs: Observation, now: number): Advance {
  if (!state.exists || isTerminal(state.status)) return { events: [], wakeAt: null };
  const ctx: Ctx = { obs, now, at: isoAt(now), outcomes: new Map(obs.outcomes.map((o) => [o.assignmentId, o])) };
  const events: DeploymentEvent[] = [];
  // Each step changes the state, and there are only so many things a deployment can do at one
  // instant; running past this bound means a rule repeats itself.
  // (planned nodes are counted by the fold; every node only when a step count passes that bound,
  // which a settling deployment never does: a walk over ten thousand keys per call cost more than the step)
  const bound = (nodes: number) => 50 + 10 * nodes + 10 * state.waves.length;
  const cheap = bound(state.nodeCounts.planned);
  // each step's events are folded in, in place on the caller's state, which gets back every node
  // it changed on the way out (borrowNodes): no copy of every node per call
  return borrowNodes(state, (fold, borrowed) => {
    let s = state;
    for (let i = 0; ; i++) {
      const step = nextStep(s, ctx);
      if (step.length === 0) break;
      if (i > cheap && i > bound(Object.keys(state.nodes).length)) throw new Error(`deployment ${state.executionId}: process does not settle (last step ${step[0]?.type})`);
      for (const e of step) events.push(e);
      s = fold(s, step);
    }
    if (ctx.needsFleet) return { events, wakeAt: now, needsFleet: true };
    if (ctx.needsDependencies) return { events, wakeAt: now, needsDependencies: ctx.needsDependencies };
    return { events, wakeAt: wakeAt(s, now, obs.resumedAt), ...(events.length > 0 && { folded: { from: state, state: s, borrowed } }) };
  });
}

function nextStep(s: DeploymentState, ctx: Ctx): DeploymentEvent[] {
  switch (s.status) {
    case "PendingApproval":
      if (s.approval.expiresAt && ctx.now >= Date.parse(s.approval.expiresAt)) {
        return deploymentDecider.decide({ type: "ExpireApproval", now: ctx.now }, s);
      }
      return [];
    case "Pending":
      if (!ctx.obs.mayStart) {
        return s.queued ? [] : [{ type: "DeploymentQueued", data: { at: ctx.at, message: "another deployment holds the cluster; waiting for it to finish" } }];
      }
      return planStep(s, ctx);
    case "Running":
    case "Paused":
    case "RollingBack": {
      const outcomes = collectOutcomes(s, ctx);
      if (outcomes.length) return outcomes;
      if (s.status === "RollingBack") return rollbackStep(s, ctx);
      const failed = s.nodeCounts.failed > 0 ? nodesOf(s).find((n) => n.phase === "failed") : undefined;
      if (failed) {
        const error = failed.error ?? "unknown error";
        return startRollback(
          s,
          "failure",
          { kind: "install_failed", nodeId: failed.nodeId, error },
          `installing ${s.moduleName} ${s.version} failed on node ${failed.nodeId}: ${error}`,
          ctx.at,
        );
      }
      if (s.status === "Running" && s.deadlineAt && ctx.now >= Date.parse(s.deadlineAt)) {
        return startRollback(
          s,
          "deadline",
          { kind: "deadline", deadlineAt: s.deadlineAt },
          `the deployment made no complete progress before its deadline ${s.deadlineAt}`,
          ctx.at,
        );
      }
      if (s.stage === "Deploy") return deployStep(s, ctx);
      if (s.stage === "Verify") return verifyStep(s, ctx);
      return [];
    }
    default:
      return [];
  }
}

const nodesOf = (s: DeploymentState): NodeState[] => Object.values(s.nodes);

function settingsOf(s: DeploymentState) {
  if (!s.settings || !s.strategy) throw new Error(`deployment ${s.executionId}: no settings`);
  return { settings: s.settings, strategy: s.strategy };
}

function planStep(s: DeploymentState, ctx: Ctx): DeploymentEvent[] {
  const { settings, strategy } = settingsOf(s);
  const at = ctx.at;
  const fleet = fleetOf(ctx);
  if (!fleet) return [];
  const reachable = fleet.nodes.filter((n) => n.status !== "Offline");
  const skippedNodeIds = fleet.nodes.filter((n) => n.status === "Offline").map((n) => n.nodeId).sort();
  const started: DeploymentEvent = { type: "StageStarted", data: { stage: "Plan", at, message: `planning a ${strategy} rollout` } };
  if (reachable.length === 0) {
    const reason = `no reachable node in ${s.targetEnvironment}`;
    return [
      started,
      { type: "StageCompleted", data: { stage: "Plan", outcome: "failed", at, message: reason } },
      { type: "DeploymentFailed", data: { at, reason, failedNodeIds: [] } },
    ];
  }
  const p = plan(strategy, reachable, settings, { activeColor: ctx.obs.activeColor });
  const waveOf = new Map(p.waves.flatMap((w) => w.nodeIds.map((id) => [id, w.index] as const)));
  // Blue-green plans every node (the active color too) so its samples can serve as the baseline.
  const nodes = [...reachable]
    .sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1))
    .map((n) => ({
      nodeId: n.nodeId,
      previousVersion: n.version,
      wave: waveOf.get(n.nodeId) ?? -1,
      ...(p.blueGreen ? { color: own(p.blueGreen.colors, n.nodeId) } : {}),
    }));
  const summary = p.waves.map((w) => w.label).join(" -> ");
  return [
    started,
    {
      type: "DeploymentPlanned",
      data: {
        strategy,
        waves: p.waves,
        nodes,
        skippedNodeIds,
        ...(p.blueGreen ? { blueGreen: p.blueGreen } : {}),
        deadlineAt: isoAt(ctx.now + settings.progressDeadlineMs),
        at,
      },
    },
    { type: "StageCompleted", data: { stage: "Plan", outcome: "succeeded", at, message: summary } },
    { type: "StageStarted", data: { stage: "Deploy", at, message: `${p.waves.length} wave(s)` } },
  ];
}

/** Outcomes of requests in flight: the runner's reports, or a timeout. */
function collectOutcomes(s: DeploymentState, ctx: Ctx): DeploymentEvent[] {
  const out: DeploymentEvent[] = [];
  for (const n of inFlightNodes(s)) {
    if (!n.assignmentId) continue;
    const o = ctx.outcomes.get(n.assignmentId);
    // An outcome only counts for the request it answers: a stale report of an earlier request is ignored.
    const reported = o && o.nodeId === n.nodeId ? o : undefined;
    const timedOut = !reported && n.timeoutAt !== null && ctx.now >= effectiveTimeout(s, n.timeoutAt, ctx.obs.resumedAt);
    if (!reported && !timedOut) continue;
    const assignmentId = n.assignmentId;
    const error = reported ? (reported.error ?? "failed without a message") : `no outcome before ${n.timeoutAt}`;
    const ok = reported?.outcome === "succeeded";
    if (n.phase === "installing") {
      out.push(
        ok
          ? {
              type: "NodeUpdated",
              data: { nodeId: n.nodeId, assignmentId, version: s.version, ...(reported?.durationMs !== undefined ? { durationMs: reported.durationMs } : {}), at: ctx.at },
            }
          : { type: "NodeUpdateFailed", data: { nodeId: n.nodeId, assignmentId, error, at: ctx.at } },
      );
    } else {
      out.push(
        ok
          ? { type: "NodeRolledBack", data: { nodeId: n.nodeId, assignmentId, version: n.previousVersion, at: ctx.at } }
          : { type: "NodeRollbackFailed", data: { nodeId: n.nodeId, assignmentId, error, at: ctx.at } },
      );
    }
  }
  return out;
}

const inFlight = (s: DeploymentState): number => s.nodeCounts.inFlight;

function request(s: DeploymentState, n: NodeState, kind: "install" | "rollback" | "remove", ctx: Ctx): DeploymentEvent {
  const { settings } = settingsOf(s);
  const install = kind === "install";
  return {
    type: "NodeUpdateRequested",
    data: {
      nodeId: n.nodeId,
      assignmentId: `${s.executionId}:${n.nodeId}:${n.seq + 1}`,
      moduleName: s.moduleName,
      fromVersion: install ? n.previousVersion : s.version,
      toVersion: install ? s.version : n.previousVersion,
      kind,
      // the registered bytes, when the deployment is bound to them (rollbacks restore what the node had)
      ...(install && s.artifact && { artifact: { digest: s.artifact.digest, size: s.artifact.size } }),
      timeoutAt: isoAt(ctx.now + settings.installTimeoutMs),
      at: ctx.at,
    },
  };
}

function deployStep(s: DeploymentState, ctx: Ctx): DeploymentEvent[] {
  const { settings, strategy } = settingsOf(s);
  const wave = s.currentWave === null ? undefined : s.waves[s.currentWave];
  const paused = s.status === "Paused";
  if (!wave) return [...closeStage(s, "succeeded", "nothing to deploy", ctx.at), { type: "StageStarted", data: { stage: "Verify", at: ctx.at, message: "" } }];
  switch (wave.status) {
    case "pending":
      if (paused) return [];
      return waveStart(s, wave.index, wave.nodeIds, ctx);
    case "running": {
      if (paused) return [];
      const slots = maxConcurrentUpdates(strategy, settings) - inFlight(s);
      // the first `slots` pending nodes, in wave order, without listing the whole wave each step
      const requests: DeploymentEvent[] = [];
      for (let i = firstPendingIndex(s, wave); i < wave.nodeIds.length && requests.length < slots; i++) {
        const n = own(s.nodes, wave.nodeIds[i]!);
        if (n?.phase === "pending") requests.push(request(s, n, "install", ctx));
      }
      return requests;
    }
    case "analyzing":
      return analysisStep(s, wave.index, ctx);
    case "completed": {
      const bg = s.blueGreen;
      if (bg && s.servingColor !== bg.idleColor) {
        if (paused) return [];
        return [
          {
            type: "TrafficSwitched",
            data: { from: bg.activeColor, to: bg.idleColor, at: ctx.at, reason: `${bg.idleColor} passed its checks on ${s.version}; ${bg.activeColor} stays on the previous version for an instant rollback` },
          },
        ];
      }
      const updated = nodesOf(s).filter((n) => n.phase === "updated").length;
      return [
        { type: "StageCompleted", data: { stage: "Deploy", outcome: "succeeded", at: ctx.at, message: `${updated} node(s) on ${s.version}` } },
        { type: "StageStarted", data: { stage: "Verify", at: ctx.at, message: "waiting for every updated node to report the new version" } },
      ];
    }
    case "failed":
      return [];
  }
}

/**
 * A wave starts only if its nodes still run what the version needs, and it would leave no module
 * there without what it needs (judged at request time, judged again now: src/graph/wave-check.ts).
 * If not, the deployment fails as it does when a wave fails: waves already done are rolled back,
 * and with nothing touched yet it simply fails (startRollback).
 */
function waveStart(s: DeploymentState, index: number, nodeIds: string[], ctx: Ctx): DeploymentEvent[] {
  const started: DeploymentEvent[] = [{ type: "WaveStarted", data: { wave: index, nodeIds, at: ctx.at } }];
  if (!ctx.obs.judgeDependencies) return started;
  const facts = ctx.obs.waveDependencies;
  if (!facts || facts.wave !== index) {
    ctx.needsDependencies = { wave: index, nodeIds };
    return [];
  }
  const verdict = judgeWave(s.moduleName, s.version, facts);
  if (verdict.unsatisfied.length === 0 && verdict.broken.length === 0) return started;
  // the event keeps the first ones: a big wave could name thousands
  const cause = { kind: "dependencies" as const, wave: index, unsatisfied: verdict.unsatisfied.slice(0, 100), broken: verdict.broken.slice(0, 100) };
  return startRollback(s, "failure", cause, describeWaveVerdict(s.moduleName, s.version, index, verdict), ctx.at);
}

/**
 * The canary side (every node on the new version) and the baseline (planned nodes not yet touched),
 * each node with its rows of samples inside its window, both in the nodes' order: one walk over the
 * nodes and one over the fleet's runs (this is every node of the cluster at each check).
 */
function samplesOfSides(
  s: DeploymentState,
  ctx: Ctx,
  samples: SampleRuns,
  subjectAfter: number,
  baselineAfter: number,
): { subject: Map<string, RowRange>; baseline: Map<string, RowRange> } {
  const none: RowRange = { from: 0, to: 0 };
  const subject = new Map<string, RowRange>();
  const baseline = new Map<string, RowRange>();
  for (const n of nodesOf(s)) {
    if (n.phase === "updated") subject.set(n.nodeId, none);
    else if (n.phase === "pending") baseline.set(n.nodeId, none);
  }
  for (const run of samples.runs) {
    if (subject.has(run.nodeId)) subject.set(run.nodeId, rowsBetween(samples.rows, run, subjectAfter, ctx.now));
    else if (baseline.has(run.nodeId)) baseline.set(run.nodeId, rowsBetween(samples.rows, run, baselineAfter, ctx.now));
  }
  return { subject, baseline };
}

/**
 * The oldest sample a step of this deployment looks at, for the caller's fleet read: one analysis
 * window back, which is all analysisStep judges (it read two, and dropped half: at 10,000 nodes
 * heartbeating every 10 s, 120,000 samples a check for nothing).
 */
export function samplesWantedSince(s: Pick<DeploymentState, "settings">, now: number): number {
  // without settings no step analyses anything: the default window, as a read of its own would take
  return now - (s.settings?.analysisWindowMs ?? 120_000);
}

function analysisStep(s: DeploymentState, index: number, ctx: Ctx): DeploymentEvent[] {
  const { settings } = settingsOf(s);
  const wave = s.waves[index]!;
  const start = Date.parse(wave.installedAt ?? ctx.at);
  const waited = ctx.now - start;
  const due = wave.nextCheckAt !== null && ctx.now >= Date.parse(wave.nextCheckAt);
  const enoughTime = waited >= settings.minWaitMs;
  const complete = (consecutive: number): DeploymentEvent => ({
    type: "WaveCompleted",
    data: { wave: index, at: ctx.at, message: `${consecutive} consecutive stable check(s) after ${Math.round(waited / 1000)} s` },
  });
  const notStable = (lastVerdict: "stable" | "insufficient_data" | "none") =>
    startRollback(
      s,
      "failure",
      { kind: "not_stable", wave: index, lastVerdict, waitedMs: waited },
      lastVerdict === "insufficient_data"
        ? `wave ${index + 1} had too little metric data to judge after ${Math.round(waited / 1000)} s`
        : `wave ${index + 1} did not reach ${settings.requiredStableChecks} consecutive stable checks within ${Math.round(settings.maxWaitMs / 1000)} s`,
      ctx.at,
    );

  if (!due) {
    if (wave.consecutiveStable >= settings.requiredStableChecks && enoughTime) return [complete(wave.consecutiveStable)];
    if (waited >= settings.maxWaitMs) return notStable(wave.lastVerdict?.kind === "insufficient_data" ? "insufficient_data" : wave.lastVerdict ? "stable" : "none");
    return [];
  }

  const fleet = fleetOf(ctx);
  if (!fleet) return [];
  const windowStart = ctx.now - settings.analysisWindowMs;
  const sides = samplesOfSides(s, ctx, fleet.samples, Math.max(start, windowStart), windowStart);
  const verdict = analyzeRunSet(fleet.samples.rows, sides.subject, [...sides.baseline.values()], settings.thresholds);
  const consecutive = verdict.kind === "stable" ? wave.consecutiveStable + 1 : 0;
  const done = consecutive >= settings.requiredStableChecks && enoughTime;
  const giveUp = !done && waited >= settings.maxWaitMs;
  const ends = verdict.kind === "degraded" || done || giveUp;
  const check: DeploymentEvent = {
    type: "HealthCheckRecorded",
    data: { wave: index, verdict, consecutiveStable: consecutive, at: ctx.at, nextCheckAt: ends ? null : isoAt(ctx.now + settings.checkIntervalMs) },
  };
  if (verdict.kind === "degraded") {
    const { nodeId, metric, value, threshold } = verdict;
    return [check, ...startRollback(s, "failure", { kind: "degraded", wave: index, nodeId, metric, value, threshold }, verdict.reason, ctx.at)];
  }
  if (done) return [check, complete(consecutive)];
  if (giveUp) return [check, ...notStable(verdict.kind === "insufficient_data" ? "insufficient_data" : "stable")];
  return [check];
}

function verifyStep(s: DeploymentState, ctx: Ctx): DeploymentEvent[] {
  const { settings } = settingsOf(s);
  const fleet = fleetOf(ctx);
  if (!fleet) return [];
  const reported = new Map(fleet.nodes.map((n) => [n.nodeId, n.version]));
  const updated = nodesOf(s).filter((n) => n.phase === "updated");
  const mismatched = updated.filter((n) => reported.get(n.nodeId) !== s.version).map((n) => n.nodeId);
  const at = ctx.at;
  if (mismatched.length === 0) {
    const where = s.blueGreen ? ` (${s.servingColor} color serving)` : "";
    return [
      { type: "StageCompleted", data: { stage: "Verify", outcome: "succeeded", at, message: `${updated.length} node(s) report ${s.version}${where}` } },
      { type: "StageStarted", data: { stage: "Complete", at, message: "" } },
      { type: "StageCompleted", data: { stage: "Complete", outcome: "succeeded", at, message: "deployment complete" } },
      { type: "DeploymentSucceeded", data: { at, message: `${s.moduleName} ${s.version} runs on ${updated.length} node(s)${where}` } },
    ];
  }
  const since = Date.parse(s.verifyStartedAt ?? at);
  if (ctx.now - since < settings.installTimeoutMs) return [];
  return startRollback(
    s,
    "failure",
    { kind: "verify_failed", nodeIds: mismatched },
    `node(s) ${mismatched.slice(0, 5).join(", ")}${mismatched.length > 5 ? " and more" : ""} do not report ${s.version}`,
    at,
  );
}

function rollbackStep(s: DeploymentState, ctx: Ctx): DeploymentEvent[] {
  const { settings, strategy } = settingsOf(s);
  const rb = s.rollback;
  if (!rb) return [];
  const bg = s.blueGreen;
  if (bg && s.servingColor !== null && s.servingColor !== bg.activeColor) {
    // Instant rollback: the previous color never left the old version.
    return [{ type: "TrafficSwitched", data: { from: s.servingColor, to: bg.activeColor, at: ctx.at, reason: `rollback: ${rb.reason}` } }];
  }
  const nodes = rb.nodeIds.map((id) => own(s.nodes, id)).filter((n): n is NodeState => n !== undefined);
  const ready = nodes.filter((n) => n.phase === "updated" || n.phase === "failed");
  if (ready.length) {
    const slots = maxConcurrentUpdates(strategy, settings) - inFlight(s);
    return ready.slice(0, Math.max(0, slots)).map((n) => request(s, n, n.previousVersion === null ? "remove" : "rollback", ctx));
  }
  if (nodes.some((n) => n.phase === "installing" || n.phase === "rollingBack")) return [];
  const failed = nodes.filter((n) => n.phase === "rollbackFailed").map((n) => n.nodeId);
  const at = ctx.at;
  if (failed.length) {
    return [
      { type: "StageCompleted", data: { stage: "Rollback", outcome: "failed", at, message: `${failed.length} node(s) did not return to their previous version` } },
      { type: "DeploymentFailed", data: { at, reason: `${rb.reason}; rollback failed on ${failed.join(", ")}`, failedNodeIds: failed } },
    ];
  }
  const closed: DeploymentEvent = {
    type: "StageCompleted",
    data: { stage: "Rollback", outcome: "succeeded", at, message: `${nodes.length} node(s) back on their previous version` },
  };
  switch (rb.trigger) {
    case "abort":
      return [closed, { type: "DeploymentCancelled", data: { at, by: rb.cause.kind === "abort" ? rb.cause.by : "system", reason: rb.reason } }];
    case "deadline":
      return [closed, { type: "DeploymentFailed", data: { at, reason: rb.reason, failedNodeIds: [] } }];
    default:
      return [closed, { type: "DeploymentRolledBack", data: { at, reason: rb.reason } }];
  }
}

function effectiveTimeout(s: DeploymentState, timeoutAt: string, resumedAt: number | undefined): number {
  const at = parseTime(timeoutAt);
  return resumedAt === undefined ? at : Math.max(at, resumedAt + settingsOf(s).settings.installTimeoutMs);
}

/**
 * Date.parse, for the timeouts of the requests in flight, looked at for each of them in every step
 * (up to three walks a step): requested together, they share one time, parsed once.
 */
function parseTime(iso: string): number {
  if (iso !== lastParsed.iso) {
    lastParsed.iso = iso;
    lastParsed.ms = Date.parse(iso);
  }
  return lastParsed.ms;
}
const lastParsed: { iso: string | undefined; ms: number } = { iso: undefined, ms: Number.NaN };

function wakeAt(s: DeploymentState, now: number, resumedAt?: number): number | null {
  const times: number[] = [];
  const add = (iso: string | null | undefined, plus = 0) => {
    if (iso) times.push(Date.parse(iso) + plus);
  };
  if (s.status === "PendingApproval") add(s.approval.expiresAt);
  if (s.status === "Running" || s.status === "Paused" || s.status === "RollingBack") {
    const { settings } = settingsOf(s);
    // the earliest timeout only: a list of every node's would cost a spread of thousands
    let earliest = Number.POSITIVE_INFINITY;
    for (const n of inFlightNodes(s)) if (n.timeoutAt) earliest = Math.min(earliest, effectiveTimeout(s, n.timeoutAt, resumedAt));
    if (earliest !== Number.POSITIVE_INFINITY) times.push(earliest);
    if (s.status === "Running") add(s.deadlineAt);
    const wave = s.currentWave === null ? undefined : s.waves[s.currentWave];
    if (s.status !== "RollingBack" && s.stage === "Deploy" && wave?.status === "analyzing") {
      add(wave.nextCheckAt);
      add(wave.installedAt, settings.maxWaitMs);
      if (wave.consecutiveStable >= settings.requiredStableChecks) add(wave.installedAt, settings.minWaitMs);
    }
    if (s.status !== "RollingBack" && s.stage === "Verify") add(s.verifyStartedAt, settings.installTimeoutMs);
  }
  if (times.length === 0) return null;
  return Math.max(now, Math.min(...times));
}
