import { closeStage, foldDeployment, inFlightNodes, initialDeploymentState, isoAt, isTerminal, keepBorrowed, touchedNodeIds, type DeploymentState } from "../commands/deployment.js";
import { metadataFor, type CommandContext } from "../commands/handler.js";
import type { DeploymentFolds } from "../commands/deployments.js";
import type { Loaded } from "../commands/aggregate-cache.js";
import type { DeploymentEvent } from "../events/catalog/deployment.js";
import type { RecordedEvent } from "../events/envelope.js";
import { EventValidationError, type EventLog } from "../events/event-log.js";
import type { LiveFeed } from "../events/live-feed.js";
import { streamCategory, streamKey, streams } from "../events/streams.js";
import { WrongExpectedRevisionError } from "../events/store/port.js";
import { fleetView } from "../fleet/fleet-view.js";
import type { DeploymentDoc } from "../projections/deployments.js";
import { NODE_OUTCOMES, NODES, type NodeDoc, type OutcomeDoc } from "../projections/nodes.js";
import type { ReadStore } from "../projections/store/port.js";
import type { Clock } from "../platform/clock.js";
import type { Coordination, Lease } from "../platform/coordination/port.js";
import type { Logger } from "../platform/logger.js";
import type { Metrics } from "../platform/metrics.js";
import { withSpan } from "../platform/telemetry.js";
import type { Color } from "../strategies/plan-types.js";
import { advance, samplesWantedSince, type Advance, type AssignmentOutcome, type Observation } from "./deployment-process.js";
import { recordDeploymentMetrics } from "./deployment-metrics.js";
import { waveDependencyFacts } from "../graph/dependencies.js";
import { ClusterQueue, queueFactsOf } from "./cluster-queue.js";

const STEP_GAP_MS = 50;
/** events that carry the outcome of an assignment (src/projections/nodes.ts, nodeOutcomesProjection) */
const OUTCOME_TYPES: ReadonlySet<string> = new Set(["ModuleInstalled", "ModuleInstallFailed", "ModuleRemoved"]);
/** how long a step waits for the outcomes read model to show a reported outcome before stepping anyway */
const OUTCOME_WAIT_MS = 10_000;
/** how often the head of a queue looks again for a cluster slot another instance may still hold */
const QUEUED_RECHECK_MS = 1000;
/** a step that fails alike this many times in a row fails its deployment instead of trying forever */
export const MAX_STEP_FAILURES = 5;
const STEP_RETRY_MS = 1000;
/** how long start() waits for the read models to list what is in flight before it serves what they list */
const RESUME_WAIT_MS = 60_000;
/** then, in the background, how long each further wait lasts before resuming what they list by then */
const RESUME_RETRY_MS = 10_000;
/** what stop() gives steps in flight when its caller names no bound */
const STOP_WAIT_MS = 10_000;

export interface RunnerDeps {
  log: EventLog;
  readStore: ReadStore;
  feed: LiveFeed;
  /** observations come from read models: a step is worth retrying whenever they advance */
  projections: { onProgress(listener: (position: number) => void): () => void; waitFor(position: number, timeoutMs: number): Promise<boolean> };
  coordination: Coordination;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  /** this instance, as lease owner */
  instanceId: string;
  /** how often due timers are checked (ms) */
  tickMs?: number;
  leaseTtlMs?: number;
  /** the pure process step; tests swap in one that fails */
  advance?: (state: DeploymentState, obs: Observation, now: number) => Advance;
}

/**
 * The deployment's own process failed, not the stores it talks to: the fold or the step threw, or
 * the events it decided were refused by their schemas. The same state gives the same failure, so
 * trying again cannot help for long (an outage, by contrast, is retried for as long as it lasts).
 */
class ProcessStepError extends Error {
  constructor(
    override readonly cause: unknown,
    /** the last event the step had read, which a DeploymentFailed must follow */
    readonly last: RecordedEvent,
    /** the folded state, when folding worked */
    readonly state: DeploymentState | undefined,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.name = "ProcessStepError";
  }
}

interface Tracked {
  /** when to step it next (epoch ms), or null: when an event or the queue wakes it; set through DeploymentRunner.wake */
  wakeAt: number | null;
  /** as of the last step: only a started deployment needs the fleet's every move */
  active: boolean;
  busy: boolean;
  again: boolean;
  /** the stream folded up to its last event read, so a step reads only newer events */
  folded?: { state: DeploymentState; last: RecordedEvent };
  /** when the last step started (epoch ms) */
  lastStepAt: number;
  /** the last step threw (logged once until a step works again) */
  failing?: boolean;
  /** the newest outcome of one of its assignments the read model is being waited for (see onOutcome) */
  outcomeAt?: number;
  /** the process step's failures in a row with the same message */
  stepFailures?: { message: string; count: number };
  /** when this instance got the current lease grant: it started (or took over) watching then */
  watchingSince: number | null;
}

const ACTIVE = new Set(["Running", "Paused", "RollingBack"]);

/**
 * Drives every non-terminal deployment by feeding the pure process step (advance) with what the
 * fleet looks like, and appending what it decides with the stream's expected revision. All state
 * lives in the deployment streams: a restart, or another instance taking over, simply folds the
 * stream again. Leases keep two instances from racing; optimistic concurrency is the final guard.
 */
export class DeploymentRunner implements DeploymentFolds {
  private readonly tracked = new Map<string, Tracked>();
  /** the tracked deployments with a wakeAt: a tick looks at these only, not at every one queued */
  private readonly timed = new Set<string>();
  /** each cluster's started deployment and ready ones in line, from the deployments' events: wakes the head when it may go */
  private readonly queue = new ClusterQueue((id) => this.track(id, 0));
  private readonly finished = new Map<string, NonNullable<Tracked["folded"]>>();
  private readonly leases = new Map<string, Lease>();
  private timer?: NodeJS.Timeout;
  private detach?: () => void;
  private stopped = false;
  private tickQueued = false;
  private gapTimer?: NodeJS.Timeout;
  private readonly leaseTtlMs: number;
  /** steps running now: stop() lets them finish (bounded) before letting go of their leases */
  private readonly inFlight = new Set<Promise<void>>();
  private stopping?: Promise<void>;

  constructor(private readonly deps: RunnerDeps) {
    this.leaseTtlMs = deps.leaseTtlMs ?? 10_000;
  }

  private startedAt = 0;

  async start(): Promise<void> {
    this.startedAt = this.deps.clock.now();
    const attachment = this.deps.feed.attach((e) => this.onEvent(e));
    const unlisten = this.deps.projections.onProgress(() => {
      // read models move many times a second under load; a step costs a look at the whole fleet,
      // so steps driven by them are spaced at least STEP_GAP_MS apart
      for (const [id, t] of this.tracked) if (t.active) this.track(id, t.lastStepAt + STEP_GAP_MS);
    });
    this.detach = () => {
      attachment.detach();
      unlisten();
    };
    // resume everything in flight: the read model, once it has caught up with what the feed has not
    // delivered, lists it; later deployments arrive through the feed
    const caughtUp = await this.deps.projections.waitFor(attachment.position, RESUME_WAIT_MS);
    for (const id of await this.nonTerminalIds()) this.track(id, null);
    // A read model still behind may leave out deployments whose streams get no new event for a long
    // time (a canary between waves, an approval): serve what it lists now, and list again once it
    // has caught up, however long that takes.
    if (!caughtUp) void this.resumeWhenCaughtUp(attachment.position);
    this.timer = setInterval(() => {
      void this.keepLeases();
      void this.tick();
    }, this.deps.tickMs ?? 250);
    this.timer.unref();
    await this.tick();
  }

  /**
   * Starts no more steps, lets the ones in flight finish (each ends after its current append, or
   * before it when the stores are closed under it: either way the stream holds whole steps only,
   * and whoever folds it next decides again), at most `timeoutMs`, then lets go of the leases so
   * another instance can take over at once.
   */
  stop(timeoutMs = STOP_WAIT_MS): Promise<void> {
    this.stopping ??= this.shutDown(timeoutMs);
    return this.stopping;
  }

  private async shutDown(timeoutMs: number): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.gapTimer);
    this.detach?.();
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const settled = Promise.allSettled([...this.inFlight]).then(() => true);
    const finished = await Promise.race([settled, bound]);
    clearTimeout(timer);
    if (!finished) this.deps.logger.warn({ steps: this.inFlight.size, timeoutMs }, "deployment steps still running at shutdown; leaving them to whoever resumes the deployments");
    await Promise.all([...this.leases.values()].map((l) => this.deps.coordination.release(l).catch(() => {})));
  }

  private async resumeWhenCaughtUp(position: number): Promise<void> {
    this.deps.logger.warn({ position }, "read models are behind the log at start; resuming what they list, and the rest once they catch up");
    for (;;) {
      let failed = false;
      const caughtUp = await this.deps.projections.waitFor(position, RESUME_RETRY_MS).catch(() => (failed = true) && false);
      if (this.stopped) return;
      try {
        for (const id of await this.nonTerminalIds()) this.track(id, null);
        if (caughtUp) {
          this.deps.logger.info({ position }, "read models caught up: every deployment in flight is resumed");
          return;
        }
      } catch (err) {
        failed = true;
        this.deps.logger.warn({ err }, "could not list deployments in flight; trying again");
      }
      // a wait that times out paces this loop; one that fails at once must not spin it
      if (failed) await new Promise((resolve) => setTimeout(resolve, STEP_RETRY_MS).unref());
    }
  }

  /**
   * Renews held leases well before they expire, so a deployment waiting a long time between steps
   * stays with this instance; a lease found lost is dropped and the next step tries to acquire it.
   */
  private async keepLeases(): Promise<void> {
    const now = this.deps.clock.now();
    await Promise.all(
      [...this.leases.entries()]
        .filter(([, l]) => l.expiresAt - now < this.leaseTtlMs / 2)
        .map(async ([id, held]) => {
          const renewed = await this.deps.coordination.renew(held, this.leaseTtlMs).catch(() => held);
          // the map may have moved on meanwhile (forgotten, or re-acquired by a step)
          if (this.leases.get(id) !== held) return;
          if (renewed) this.leases.set(id, renewed);
          else this.leases.delete(id);
        }),
    );
  }

  /**
   * A copy of what this runner last folded of a deployment (one it drives, or one it finished
   * lately), for a user's command to start from. Node entries are never changed, only replaced,
   * and each event's fold makes a new state object: the nodes map is all a later step changes in
   * place, so copying it makes the copy the caller's own.
   */
  folded(executionId: string): Loaded<DeploymentState> | undefined {
    const f = this.tracked.get(executionId)?.folded ?? this.finished.get(executionId);
    if (!f) return undefined;
    return { state: { ...f.state, nodes: { ...f.state.nodes } }, revision: f.last.revision, position: f.last.position };
  }

  /** Steps every deployment that is due (its timer passed) or was marked by an event. */
  async tick(): Promise<void> {
    const now = this.deps.clock.now();
    await Promise.all(
      [...this.timed].filter((id) => this.tracked.get(id)!.wakeAt! <= now).map((id) => this.stepTracked(id)),
    );
  }

  private stepTracked(id: string): Promise<void> {
    const running = this.step(id);
    this.inFlight.add(running);
    return running.finally(() => this.inFlight.delete(running));
  }

  /** The deployments in flight as the read model lists them; their queue facts go to the queue (kept where the feed or a fold knows newer). */
  private async nonTerminalIds(): Promise<string[]> {
    const docs = await this.deps.readStore
      .collection<DeploymentDoc>("deployments")
      .find(
        { status: { $in: ["Pending", "PendingApproval", "Running", "Paused", "RollingBack"] } },
        { projection: { _id: 1, targetEnvironment: 1, status: 1, createdAt: 1, approval: 1, lastPosition: 1, "state.queued": 1 } },
      );
    for (const d of docs) {
      const facts = queueFactsOf({ ...d, queued: d.state?.queued }, d.lastPosition);
      if (facts) this.queue.set(d._id, facts);
    }
    return docs.map((d) => d._id);
  }

  private onEvent(event: RecordedEvent): void {
    const category = streamCategory(event.streamId);
    if (category === "deployment") {
      const id = streamKey(event.streamId);
      this.queue.apply(id, event);
      // it said it waits behind another, and still does: nothing to decide until the queue wakes it
      if (event.type === "DeploymentQueued" && this.queue.waitingBehind(id)) return;
      this.track(id, 0);
    }
    else if (category === "node" && OUTCOME_TYPES.has(event.type)) this.onOutcome(event);
  }

  /**
   * A node reported the outcome of an assignment: the deployment that asked (its id leads the
   * assignment id) steps as soon as the outcomes read model has it, rather than at the next
   * read-model-driven step, which is spaced STEP_GAP_MS from the last. With a bound on updates in
   * flight, that wait was the pace of the whole rollout. One wait per deployment at a time.
   */
  private onOutcome(event: RecordedEvent): void {
    const assignmentId = (event.data as { assignmentId?: unknown }).assignmentId;
    if (typeof assignmentId !== "string") return;
    const id = assignmentId.slice(0, Math.max(0, assignmentId.indexOf(":")));
    const t = this.tracked.get(id);
    if (!t?.active) return;
    if (t.outcomeAt !== undefined) {
      t.outcomeAt = Math.max(t.outcomeAt, event.position);
      return;
    }
    t.outcomeAt = event.position;
    const wait = async () => {
      while (t.outcomeAt !== undefined && !this.stopped) {
        const position = t.outcomeAt;
        await this.deps.projections.waitFor(position, OUTCOME_WAIT_MS).catch(() => false);
        if (t.outcomeAt === position) t.outcomeAt = undefined;
        if (this.tracked.get(id) === t) this.track(id, 0);
      }
    };
    void wait();
  }

  private track(id: string, wakeAt: number | null): void {
    const t = this.tracked.get(id);
    if (!t) {
      const folded = this.finished.get(id);
      this.finished.delete(id);
      const added: Tracked = { wakeAt: null, busy: false, again: false, watchingSince: null, folded, lastStepAt: 0, active: false };
      this.tracked.set(id, added);
      this.wake(id, added, wakeAt ?? 0);
    } else if (wakeAt !== null && (t.wakeAt === null || wakeAt < t.wakeAt)) {
      this.wake(id, t, wakeAt);
    }
    const due = this.tracked.get(id)!.wakeAt;
    const delay = due === null ? 0 : due - this.deps.clock.now();
    if (!this.stopped && delay > 0 && !this.gapTimer) {
      this.gapTimer = setTimeout(() => {
        this.gapTimer = undefined;
        void this.tick();
      }, delay);
      this.gapTimer.unref();
    }
    if (!this.stopped && delay <= 0 && !this.tickQueued) {
      this.tickQueued = true;
      queueMicrotask(() => {
        this.tickQueued = false;
        void this.tick();
      });
    }
  }

  /** Sets when a tracked deployment is stepped next (null: not by time). */
  private wake(id: string, t: Tracked, at: number | null): void {
    t.wakeAt = at;
    // a step that outlived its deployment (forgotten while it awaited the store, perhaps tracked
    // again since) must not put the id back among the timed: only the tracked entry decides
    if (this.tracked.get(id) !== t) return;
    if (at === null) this.timed.delete(id);
    else this.timed.add(id);
  }

  private async step(id: string): Promise<void> {
    const t = this.tracked.get(id);
    if (!t || this.stopped) return;
    if (t.busy) {
      t.again = true;
      return;
    }
    t.busy = true;
    try {
      do {
        t.again = false;
        await this.stepOnce(id, t);
        // the embedded stores answer synchronously: without this, a deployment that keeps finding
        // work would never let HTTP requests (or the heartbeats it waits for) be served
        await new Promise((resolve) => setImmediate(resolve));
        // not once forgotten: the id is stepped through its new entry, if tracked again, whose cached
        // fold this one's (moved to `finished`, then taken over) must not be folded by both
      } while (t.again && !this.stopped && this.tracked.get(id) === t);
      if (t.failing) this.deps.logger.info({ executionId: id }, "deployment steps work again");
      t.failing = false;
      t.stepFailures = undefined;
    } catch (err) {
      this.wake(id, t, this.deps.clock.now() + STEP_RETRY_MS);
      // stores closed under a step at shutdown: nothing to report, the next owner decides again
      if (this.stopped && !(err instanceof ProcessStepError)) return;
      if (err instanceof ProcessStepError) {
        const count = t.stepFailures?.message === err.message ? t.stepFailures.count + 1 : 1;
        t.stepFailures = { message: err.message, count };
        if (count >= MAX_STEP_FAILURES) {
          await this.failDeployment(id, t, err, count);
          return;
        }
      }
      // a store or Redis outage fails every step: say so once per deployment and outage, not every second
      if (!t.failing) this.deps.logger.error({ err, executionId: id }, "deployment step failed; retrying every second");
      t.failing = true;
    } finally {
      t.busy = false;
    }
  }

  private async stepOnce(id: string, t: Tracked): Promise<void> {
    t.lastStepAt = this.deps.clock.now();
    const { log, coordination, clock } = this.deps;
    const streamId = streams.deployment(id);
    const lease = await coordination.acquire(`lease:deployment:${id}`, this.deps.instanceId, this.leaseTtlMs);
    if (!lease) {
      // Another instance drives it. Look again within half a lease period, so a crashed owner's
      // work is taken over at most 1.5 lease periods after its last renewal.
      this.leases.delete(id);
      t.watchingSince = null;
      // one queued behind another needs nobody until the queue wakes it (on every instance)
      this.wake(id, t, this.queue.waitingBehind(id) ? null : clock.now() + this.leaseTtlMs / 2);
      return;
    }
    // A new grant (not a renewal of ours) means we start watching now: install timeouts that ran
    // out while nobody watched (previous owner dead, lease not yet expired) are extended from here.
    const previous = this.leases.get(id);
    if (!previous || previous.fencingToken !== lease.fencingToken || t.watchingSince === null) t.watchingSince = clock.now();
    this.leases.set(id, lease);
    // fold only what was appended since the last step (by us or anyone)
    const fresh = await log.readStream(streamId, { fromRevision: t.folded ? t.folded.last.revision + 1 : 0 });
    const last = fresh.at(-1) ?? t.folded?.last;
    if (!last) return;
    let state: DeploymentState;
    try {
      // the cached state is the runner's own (nobody else holds it): folded on in place
      state = foldDeployment(t.folded?.state ?? initialDeploymentState, fresh as unknown as DeploymentEvent[], { ownsNodes: t.folded !== undefined });
    } catch (err) {
      // a fold that threw half way may have left the cache half changed: the next step folds afresh
      t.folded = undefined;
      throw new ProcessStepError(err, last, undefined);
    }
    t.folded = { state, last };
    t.active = ACTIVE.has(state.status);
    const facts = queueFactsOf(state, last.position);
    if (facts) this.queue.set(id, facts);
    if (!state.exists || isTerminal(state.status)) {
      await this.forget(id, state);
      return;
    }
    const now = clock.now();
    const step = this.deps.advance ?? advance;
    const resumedAt = Math.max(this.startedAt, t.watchingSince ?? now);
    // A deployment that is ready but not first in line, or whose cluster has a started one, cannot
    // start: the process only says it is queued, from no observation. Otherwise most steps only
    // collect the outcomes of what is in flight: the whole fleet (every node, the samples) is read
    // when the step asks for it, or when it surely will (planning, verifying).
    const inLine = state.status === "Pending" && state.waves.length === 0 && !this.queue.mayGo(state.targetEnvironment!, id);
    let obs: Observation = inLine ? { outcomes: [], mayStart: false, resumedAt } : await this.observe(state, now, t.watchingSince ?? now, state.status === "Pending" || state.stage === "Verify");
    let decided: Advance;
    try {
      decided = step(state, obs, now);
      if (decided.needsFleet) {
        obs = await this.observe(state, now, t.watchingSince ?? now, true);
        decided = step(state, obs, now);
      }
    } catch (err) {
      throw new ProcessStepError(err, last, state);
    }
    // a wave about to start is judged on what its nodes run now: read then, for its nodes only
    for (let round = 0; decided.needsDependencies; round++) {
      if (round === 3) throw new ProcessStepError(new Error("the process keeps asking what the wave's nodes run"), last, state);
      obs = { ...obs, waveDependencies: await waveDependencyFacts(this.deps.readStore, log, state, decided.needsDependencies) };
      try {
        decided = step(state, obs, now);
      } catch (err) {
        throw new ProcessStepError(err, last, state);
      }
    }
    const { events, wakeAt } = decided;
    // A queued deployment waits for the queue to wake it. The one first in line whose cluster is
    // free by the queue but not by its slot lease (held a moment longer by the deployment that just
    // ended, here or on another instance) looks again every second.
    this.wake(id, t, wakeAt ?? (state.status === "Pending" && !obs.mayStart && !inLine ? now + QUEUED_RECHECK_MS : null));
    if (!events.length) return;
    const trigger = last.metadata;
    const ctx: CommandContext = {
      actor: { kind: "system", id: "deployment-runner" },
      correlationId: trigger.correlationId,
      causationId: trigger.eventId,
      traceparent: trigger.traceparent,
      tenantId: trigger.tenantId,
      now,
    };
    try {
      // one metadata for the step's every event (a hundred, in a big rollout): without an
      // idempotency key, metadataFor gives each index the same, and envelope gives each its own id
      const metadata = metadataFor(ctx, streamId, 0);
      const envelopes = log.envelope(events, () => metadata);
      const appended = await withSpan("deployment.step", { traceparent: trigger.traceparent, "deployment.id": id, "deployment.events": events.length }, () =>
        log.append(streamId, envelopes, last.revision),
      );
      // The events follow `last` in the stream (the append expected it): folded into the cached
      // state here, the next step reads only what others appended since, rather than these back.
      const after = this.foldAppended(t, state, decided, { ...envelopes.at(-1)!, streamId, revision: appended.nextRevision, position: appended.position });
      recordDeploymentMetrics(this.deps.metrics, after ?? state, events);
      // decide again on what changed meanwhile; not after only saying it is queued (the queue wakes it)
      if (!(inLine && events.every((e) => e.type === "DeploymentQueued"))) t.again = true;
    } catch (err) {
      if (err instanceof EventValidationError) throw new ProcessStepError(err, last, state);
      if (!(err instanceof WrongExpectedRevisionError)) throw err;
      t.again = true; // someone else wrote first: fold again and decide again
    }
  }

  /**
   * The cached fold moved past events this step appended, in place (the cache is the runner's own);
   * undefined, with the cache dropped, when that fold throws: the next step folds the stream afresh.
   */
  private foldAppended(t: Tracked, state: DeploymentState, decided: Advance, last: RecordedEvent): DeploymentState | undefined {
    if (t.folded?.state !== state) return undefined;
    try {
      // the step folded these events already, on this very state lent to it: kept rather than folded again
      const after = decided.folded?.from === state ? keepBorrowed(state, decided.folded.state, decided.folded.borrowed) : foldDeployment(state, decided.events, { ownsNodes: true });
      t.folded = { state: after, last };
      return after;
    } catch {
      t.folded = undefined;
      return undefined;
    }
  }

  /**
   * Ends a deployment whose process keeps failing alike: Failed, with the error as the reason.
   * Nodes it touched keep what they run (rolling them back needs the very process that fails);
   * the reason says so. A failure to write this is retried like any step.
   */
  private async failDeployment(id: string, t: Tracked, err: ProcessStepError, attempts: number): Promise<void> {
    const { log, clock, logger } = this.deps;
    const at = isoAt(clock.now());
    const touched = err.state ? touchedNodeIds(err.state) : [];
    const left = touched.length ? `; ${touched.length} node(s) it touched were left as they are: ${touched.slice(0, 5).join(", ")}${touched.length > 5 ? " and more" : ""}` : "";
    const reason = `the deployment process failed ${attempts} times in a row: ${err.message}${left}`.slice(0, 2000);
    const events: DeploymentEvent[] = [...(err.state ? closeStage(err.state, "failed", reason, at) : []), { type: "DeploymentFailed", data: { at, reason, failedNodeIds: [] } }];
    const streamId = streams.deployment(id);
    const trigger = err.last.metadata;
    const ctx: CommandContext = {
      actor: { kind: "system", id: "deployment-runner" },
      correlationId: trigger.correlationId,
      causationId: trigger.eventId,
      traceparent: trigger.traceparent,
      tenantId: trigger.tenantId,
      now: clock.now(),
    };
    logger.error({ err: err.cause, executionId: id, attempts }, "deployment process keeps failing; failing the deployment");
    try {
      await log.append(streamId, log.envelope(events, (i) => metadataFor(ctx, streamId, i)), err.last.revision);
      t.stepFailures = undefined;
      this.wake(id, t, clock.now()); // the next step folds the failure and lets the deployment go
    } catch (appendErr) {
      // someone else wrote first (the next step decides again), or the store is down (retried)
      if (!(appendErr instanceof WrongExpectedRevisionError)) logger.error({ err: appendErr, executionId: id }, "could not record the deployment's failure; retrying");
    }
  }

  private async forget(id: string, state: DeploymentState): Promise<void> {
    const t = this.tracked.get(id);
    this.tracked.delete(id);
    this.timed.delete(id);
    // a finished deployment can still receive events (a manual rollback): keep its fold, so waking
    // it again reads only what is new; bounded, oldest out first
    if (t?.folded) {
      this.finished.delete(id);
      this.finished.set(id, t.folded);
      if (this.finished.size > 1000) this.finished.delete(this.finished.keys().next().value!);
    }
    const lease = this.leases.get(id);
    this.leases.delete(id);
    if (lease) await this.deps.coordination.release(lease).catch(() => {});
    if (state.targetEnvironment) {
      const slot = await this.deps.coordination.acquire(`lease:cluster:${state.targetEnvironment}`, id, 1).catch(() => null);
      if (slot) await this.deps.coordination.release(slot).catch(() => {});
      // the head may have asked for the slot before it was free: it need not wait for its recheck
      this.queue.slotReleased(state.targetEnvironment);
    }
  }

  /** `whole`: the fleet view (every node, outcomes, samples); otherwise the outcomes of the requests in flight only. */
  private async observe(state: DeploymentState, now: number, watchingSince: number, whole: boolean): Promise<Observation> {
    const env = state.targetEnvironment!;
    const view = whole ? await fleetView(this.deps.readStore, env, state.moduleName, samplesWantedSince(state, now)) : { outcomes: await this.inFlightOutcomes(state, env) };
    const activeColor = state.strategy === "BlueGreen" ? await this.activeColor(env, state.executionId) : undefined;
    return {
      ...view,
      mayStart: await this.mayStart(state),
      resumedAt: Math.max(this.startedAt, watchingSince),
      ...(activeColor ? { activeColor } : {}),
      // module dependencies are judged again as each wave starts (the step asks for what to read)
      judgeDependencies: true,
    };
  }

  /**
   * The recorded outcomes of this deployment's requests in flight, as the fleet view has them (an
   * outcome counts while its node is registered in the cluster), read by id: a few documents per
   * step where the whole view read every node and every outcome of the module ever recorded.
   */
  private async inFlightOutcomes(state: DeploymentState, env: string): Promise<AssignmentOutcome[]> {
    const assignmentIds = inFlightNodes(state).flatMap((n) => (n.assignmentId ? [n.assignmentId] : []));
    if (assignmentIds.length === 0) return [];
    const { readStore } = this.deps;
    const docs = await readStore.collection<OutcomeDoc>(NODE_OUTCOMES).find({ _id: { $in: assignmentIds }, moduleName: state.moduleName });
    if (docs.length === 0) return [];
    const nodeIds = [...new Set(docs.map((d) => d.nodeId))];
    const registered = new Set(
      (await readStore.collection<NodeDoc>(NODES).find({ _id: { $in: nodeIds }, environment: env })).map((d) => d._id),
    );
    return docs
      .filter((o) => registered.has(o.nodeId))
      .map((o) => ({ assignmentId: o.assignmentId, nodeId: o.nodeId, outcome: o.outcome, durationMs: o.durationMs, ...(o.error !== undefined ? { error: o.error } : {}) }));
  }

  /** Blue-green: the color the last finished blue-green deployment left serving in this cluster. */
  private async activeColor(environment: string, except: string): Promise<Color | undefined> {
    const [last] = await this.deps.readStore
      .collection("deployments")
      .find(
        { targetEnvironment: environment, executionId: { $ne: except }, servingColor: { $in: ["blue", "green"] }, endedAt: { $ne: null } },
        { sort: { endedAt: -1 }, limit: 1, projection: { servingColor: 1 } },
      );
    return last?.servingColor as Color | undefined;
  }

  /**
   * One active deployment per cluster: the one ready to start the longest goes first, and a
   * cluster-slot lease owned by the deployment makes it exclusive across instances. Only a
   * deployment that may start now asks for the slot: one still waiting for its approval must not
   * hold it (the lease outlives the step by a minute, and nothing renews or frees it meanwhile).
   */
  private async mayStart(state: DeploymentState): Promise<boolean> {
    const env = state.targetEnvironment!;
    const started = ACTIVE.has(state.status) || state.waves.length > 0;
    if (!started && state.status !== "Pending") return false;
    if (!started && !this.queue.mayGo(env, state.executionId)) return false;
    const slot = await this.deps.coordination.acquire(`lease:cluster:${env}`, state.executionId, 60_000);
    return slot !== null;
  }
}
