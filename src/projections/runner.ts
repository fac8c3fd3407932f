import type { RecordedEvent } from "../events/envelope.js";
import type { EventLog } from "../events/event-log.js";
import { backoffDelay, DEFAULT_BACKOFF, type Backoff } from "../events/resubscribing.js";
import { matchesFilter, type EventFilter, type Subscription } from "../events/store/port.js";
import { realSleep, type Sleep } from "../platform/sleep.js";
import { CHECKPOINTS, type Checkpoint } from "./checkpoints.js";
import { waitForPosition, type ProjectionRetry, type ReadModelProgress } from "./progress.js";
import type { ProjectedDoc, Projection } from "./projection.js";
import { shadowOf, switchIn } from "./rebuild-shadow.js";
import { DuplicateKeyError, type IndexSpec, type ReadStore } from "./store/port.js";

export { CHECKPOINTS, type Checkpoint } from "./checkpoints.js";

/** Structurally a subset of pino's logger. */
export interface RunnerLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const silent: RunnerLogger = { info() {}, warn() {}, error() {} };

/** What the runner counts; the server wires it to projection_retries_total. */
export interface RunnerMetrics {
  projectionRetry(projection: string): void;
}

/**
 * A projection may also declare the indexes of its collection: the runner (re)creates them at
 * start and on every rebuild, since a new collection has none.
 */
export type IndexedProjection = Projection & { indexes?: IndexSpec[] };

/** how stale read models may get while a backlog is being delivered (besides batchSize) */
const MAX_FLUSH_DELAY_MS = 100;

/**
 * how often a writer busy with a backlog looks whether another version took its read models over
 * (a query per look); a flush when idle always looks
 */
const SUPERSEDED_CHECK_MS = 100;

/** the label of retries that belong to no single projection (reading the log or every checkpoint) */
const ALL = "all";

export interface ProjectionFailure {
  projection: string;
  position: number;
  error: unknown;
}

/**
 * Thrown by the projection's own code (keys, apply, finish): a bug, the same on every retry, so
 * the projection is stopped and reported. Everything a store throws is taken for transient
 * (an election, a dropped connection) and retried, except a unique-index violation.
 */
export class ProjectionCodeError extends Error {
  constructor(
    readonly projection: string,
    override readonly cause: unknown,
  ) {
    super(`projection ${projection}: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = "ProjectionCodeError";
  }
}

function own<T>(projection: Projection, run: () => T): T {
  try {
    return run();
  } catch (error) {
    throw new ProjectionCodeError(projection.name, error);
  }
}

const isPermanent = (error: unknown) => error instanceof ProjectionCodeError || error instanceof DuplicateKeyError;

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Whether applying `event` needs the stored document of `key` read first (one the event makes alone does not). */
function mustRead(projection: Projection, event: RecordedEvent, key: string, batch: BatchState): boolean {
  if (batch.docs.has(key)) return false;
  return !projection.madeByEventAlone || !own(projection, () => projection.madeByEventAlone!(key, event));
}

/** One projection's documents touched within a batch: read once, written once at batch end. */
class BatchState {
  readonly docs = new Map<string, ProjectedDoc | null>();
  readonly dirty = new Set<string>();
}

/**
 * Applies events to projections with a per-batch document cache, so a hot document (one cluster
 * touched by every heartbeat) costs one read and one write per batch rather than per event.
 * Either call may be repeated after a store error: an event is applied only once all its
 * documents are read, and a batch is forgotten only once written.
 */
export class BatchApplier {
  private batches = new Map<string, BatchState>();

  /** `target`: the collection a projection writes (its own, or the shadow a rebuild goes into) */
  constructor(
    private readonly store: ReadStore,
    private readonly target: (projection: Projection) => string = (p) => p.collection,
  ) {}

  /**
   * Applies one event to one projection; what the projection throws comes out as ProjectionCodeError.
   * Synchronous (undefined) when the batch already holds every document the event touches, or it
   * touches none: most events pass most projections without a key, and a hot document is read once
   * per batch, so the promise and its await are paid only where a read is.
   */
  apply(projection: Projection, event: RecordedEvent): Promise<void> | void {
    if (!matchesFilter(event, projection.filter)) return;
    const keys = own(projection, () => projection.keys(event));
    if (keys.length === 0) return;
    let batch = this.batches.get(projection.name);
    if (!batch) this.batches.set(projection.name, (batch = new BatchState()));
    for (const key of keys) if (mustRead(projection, event, key, batch)) return this.readThenApply(projection, event, keys, batch);
    this.applyKeys(projection, event, keys, batch);
  }

  private async readThenApply(projection: Projection, event: RecordedEvent, keys: string[], batch: BatchState): Promise<void> {
    const collection = this.store.collection<ProjectedDoc>(this.target(projection));
    // every read before any apply: a store error then leaves this event untouched for the retry
    for (const key of keys) if (mustRead(projection, event, key, batch)) batch.docs.set(key, await collection.get(key));
    this.applyKeys(projection, event, keys, batch);
  }

  private applyKeys(projection: Projection, event: RecordedEvent, keys: string[], batch: BatchState): void {
    for (const key of keys) {
      const doc = batch.docs.get(key) ?? null;
      // Already applied (a replay, or a checkpoint that lagged behind its documents).
      if (doc && doc.lastPosition >= event.position) continue;
      const next = own(projection, () => projection.apply(doc, event, key));
      if (next && next._id !== key) throw new ProjectionCodeError(projection.name, new Error(`returned _id ${String(next._id)} for key ${key}`));
      // Omit<> over an index-signature type forgets _id; it was checked just above. A document that
      // carries this position already (an audit entry, built frozen to be stored as it is) is kept as it is.
      const done = next && (next as Partial<ProjectedDoc>).lastPosition === event.position;
      batch.docs.set(key, next ? (done ? (next as ProjectedDoc) : ({ ...next, lastPosition: event.position } as ProjectedDoc)) : null);
      batch.dirty.add(key);
    }
  }

  /** Writes one projection's touched documents, then forgets them. */
  async flush(projection: Projection): Promise<void> {
    const batch = this.batches.get(projection.name);
    if (!batch) return;
    const collection = this.store.collection<ProjectedDoc>(this.target(projection));
    const puts: ProjectedDoc[] = [];
    for (const key of batch.dirty) {
      const doc = batch.docs.get(key);
      if (doc) puts.push(projection.finish ? own(projection, () => projection.finish!(doc)) : doc);
      else await collection.delete(key);
    }
    await collection.putMany(puts);
    this.batches.delete(projection.name);
  }

  /** Drops one projection's unwritten work (it failed). */
  discard(projection: Projection): void {
    this.batches.delete(projection.name);
  }
}

/** One subscription filter covering every projection's filter, or undefined when none can be built. */
export function unionFilter(projections: Projection[]): EventFilter | undefined {
  const filters = projections.map((p) => p.filter);
  if (filters.length === 0 || filters.some((f) => !f || (!f.streamPrefixes && !f.eventTypes))) return undefined;
  // A filter ANDs prefixes with types, so only a union along a single dimension is exact.
  if (filters.every((f) => f!.streamPrefixes && !f!.eventTypes)) {
    return { streamPrefixes: [...new Set(filters.flatMap((f) => f!.streamPrefixes!))] };
  }
  if (filters.every((f) => f!.eventTypes && !f!.streamPrefixes)) {
    return { eventTypes: [...new Set(filters.flatMap((f) => f!.eventTypes!))] };
  }
  return undefined;
}

/** Builds read models into `store` from a finite list of events (a scratch store for time travel). */
export async function replayInto(
  store: ReadStore,
  events: Iterable<RecordedEvent> | RecordedEvent[],
  projections: Projection[],
  batchSize = 1000,
): Promise<void> {
  const applier = new BatchApplier(store);
  let n = 0;
  for (const event of events) {
    for (const p of projections) await applier.apply(p, event);
    if (++n % batchSize === 0) for (const p of projections) await applier.flush(p);
  }
  for (const p of projections) await applier.flush(p);
}

export interface ProjectionRunnerOptions {
  log: EventLog;
  store: ReadStore;
  projections: Projection[];
  logger?: RunnerLogger;
  /** events per batch before documents and checkpoints are written; default 500 */
  batchSize?: number;
  /** how failed store calls are retried: capped exponential backoff with jitter, waited through `sleep` */
  retry?: { backoff?: Backoff; sleep?: Sleep };
  metrics?: RunnerMetrics;
}

interface Running {
  projection: IndexedProjection;
  /** the collection written: the projection's own, or its shadow while a new version is rebuilt beside it */
  target: string;
  /** the checkpoint document written: the projection's name, or its shadow's */
  checkpointId: string;
  /** persisted position: every event up to it is applied and stored */
  checkpoint: number;
  /** set while rebuilding beside the served model: the position at which the rebuild is switched in */
  switchAt?: number;
  failure?: ProjectionFailure;
}

/**
 * Keeps every projection's read model up to date with one catch-up subscription to the log,
 * writing documents and checkpoints per batch. See DESIGN.md section 5.
 *
 * Store calls that fail are retried with capped backoff for as long as it takes (the events wait:
 * the subscription is not read past an event until it is applied), counted, and listed by
 * retrying() so /health shows the read models degraded. Only a projection's own code failing
 * stops that projection, alone.
 */
export class ProjectionRunner implements ReadModelProgress {
  private readonly log: EventLog;
  private readonly store: ReadStore;
  private readonly logger: RunnerLogger;
  private readonly batchSize: number;
  private readonly running: Running[];
  private readonly filter: EventFilter | undefined;
  private readonly listeners = new Set<(position: number) => void>();
  private readonly backoff: Backoff;
  private readonly sleep: Sleep;
  private readonly metrics: RunnerMetrics | undefined;
  /** store calls being retried, by projection and operation */
  private readonly retries = new Map<string, ProjectionRetry>();
  /** cuts a backoff short on stop */
  private readonly stopping = new AbortController();
  private applier: BatchApplier;
  private subscription: Subscription | undefined;
  /** position of the last event handed to us by the subscription */
  private delivered = 0;
  private pending = 0;
  private deliveries = 0;
  private idleScheduled = false;
  private flushedAt = 0;
  private supersededCheckedAt = -Infinity;
  /** serialises event handling, flushes and probes */
  private lock: Promise<void> = Promise.resolve();
  /** calls queued in or running under the lock: while none, an event is applied without it */
  private lockHeld = 0;
  private stopped = false;

  constructor(options: ProjectionRunnerOptions) {
    this.log = options.log;
    this.store = options.store;
    this.logger = options.logger ?? silent;
    this.batchSize = options.batchSize ?? 500;
    this.backoff = options.retry?.backoff ?? DEFAULT_BACKOFF;
    this.sleep = options.retry?.sleep ?? realSleep;
    this.metrics = options.metrics;
    const names = new Set<string>();
    const collections = new Set<string>();
    for (const p of options.projections) {
      if (names.has(p.name)) throw new Error(`projection ${p.name} registered twice`);
      // A rebuild replaces the collection, so two projections may not share one.
      if (collections.has(p.collection)) throw new Error(`collection ${p.collection} used by two projections`);
      if (p.collection === CHECKPOINTS) throw new Error(`collection ${CHECKPOINTS} is reserved`);
      names.add(p.name);
      collections.add(p.collection);
    }
    this.running = options.projections.map((projection) => ({ projection, target: projection.collection, checkpointId: projection.name, checkpoint: 0 }));
    const byName = new Map(this.running.map((r) => [r.projection.name, r]));
    this.applier = new BatchApplier(this.store, (p) => byName.get(p.name)?.target ?? p.collection);
    this.filter = unionFilter(options.projections);
  }

  /**
   * Loads checkpoints, starts a rebuild beside the served model for projections whose version
   * changed, and resolves once caught up with the head (rebuilds switched in).
   */
  async start(): Promise<void> {
    const head = await this.retry(ALL, "headPosition", () => this.log.headPosition());
    for (const r of this.running) await this.retry(r.projection.name, "load checkpoint", () => this.load(r, head));
    for (const r of this.running) await this.switchWhenCaughtUp(r);
    this.delivered = Math.min(...this.running.map((r) => r.checkpoint), head);
    if (this.running.length === 0) return;
    const subscription = this.log.subscribe({ after: this.delivered, ...(this.filter && { filter: this.filter }) }, (e) => this.onEvent(e));
    this.subscription = subscription;
    // The log resubscribes after store faults by itself; it ends only when a handler fails, and
    // ours fails only when stopped mid-retry. Either way this must not become an unhandled rejection.
    const ended = subscription.done.then(
      () => {
        if (!this.stopped) throw new Error("projection subscription ended");
      },
      (err: unknown) => {
        if (!this.stopped) throw err;
      },
    );
    ended.catch((err: unknown) => this.logger.error({ position: this.delivered, err }, "projection subscription ended; read models stop here"));
    await Promise.race([this.caughtUp(head), ended]);
  }

  /** Resolves once every projection has passed `head` or failed (a failed one waits for nothing). */
  private caughtUp(head: number): Promise<void> {
    void this.probe();
    return new Promise((resolve) => {
      const check = () => {
        if (this.position() < head && !this.running.every((r) => r.failure)) return;
        off();
        resolve();
      };
      const off = this.onProgress(check);
      check();
    });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stopping.abort();
    await this.subscription?.stop();
    try {
      await this.locked(() => this.flush());
    } catch (err) {
      // harmless: the checkpoint lags its documents, and the next start re-applies those events
      this.logger.warn({ err }, "projections: the last batch was not written on stop");
    }
  }

  /** The position every healthy projection has passed (failed projections are reported by failures()). */
  position(): number {
    const healthy = this.running.filter((r) => !r.failure);
    if (healthy.length === 0) return this.running.length ? 0 : Infinity;
    return Math.min(...healthy.map((r) => r.checkpoint));
  }

  positionOf(name: string): number | undefined {
    return this.running.find((r) => r.projection.name === name)?.checkpoint;
  }

  failures(): ProjectionFailure[] {
    return this.running.flatMap((r) => (r.failure ? [r.failure] : []));
  }

  retrying(): ProjectionRetry[] {
    return [...this.retries.values()];
  }

  /** Resolves true once position() >= position, or false after timeoutMs (read-your-writes). */
  waitFor(position: number, timeoutMs: number): Promise<boolean> {
    if (this.position() >= position) return Promise.resolve(true);
    // An event no projection subscribes to is never delivered: a probe notices we passed it.
    void this.probe();
    return waitForPosition(this, position, timeoutMs);
  }

  onProgress(listener: (position: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Where a projection resumes: its checkpoint, from scratch, or a rebuild beside the served model. */
  private async load(r: Running, head: number): Promise<void> {
    const p = r.projection;
    const checkpoints = this.store.collection<Checkpoint>(CHECKPOINTS);
    const cp = await checkpoints.get(p.name);
    if (cp && cp.version === p.version) {
      r.checkpoint = cp.position;
    } else if (!cp) {
      // nothing is served yet (the memory store at every start): build in place
      await this.store.drop(p.collection);
      await checkpoints.put({ _id: p.name, position: 0, version: p.version });
      r.checkpoint = 0;
    } else {
      const shadow = shadowOf(p);
      const resumed = await checkpoints.get(shadow.checkpointId);
      if (resumed?.version !== p.version) {
        await this.store.drop(shadow.collection);
        await checkpoints.put({ _id: shadow.checkpointId, position: 0, version: p.version });
      }
      r.target = shadow.collection;
      r.checkpointId = shadow.checkpointId;
      r.checkpoint = resumed?.version === p.version ? resumed.position : 0;
      r.switchAt = head;
      this.logger.info({ projection: p.name, from: cp.version, to: p.version, resumeAt: r.checkpoint, switchAt: head }, "rebuilding projection beside the served one");
    }
    for (const index of p.indexes ?? []) await this.store.collection(r.target).ensureIndex(index);
  }

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    this.lockHeld++;
    const run = this.lock.then(async () => {
      try {
        return await fn();
      } finally {
        this.lockHeld--;
      }
    });
    this.lock = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /**
   * Runs a store call until it answers: a transient failure waits (capped backoff with jitter)
   * and tries again; a permanent one, or any once stopped, is thrown.
   */
  private async retry<T>(projection: string, op: string, call: () => Promise<T> | T, first?: Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        const value = attempt === 0 && first ? await first : await call();
        if (attempt > 0) {
          this.retries.delete(`${projection}\u0000${op}`);
          this.logger.info({ projection, op, attempts: attempt }, "store call succeeded after retries");
        }
        return value;
      } catch (error) {
        if (isPermanent(error) || this.stopped) {
          if (attempt > 0) this.retries.delete(`${projection}\u0000${op}`);
          throw error;
        }
        const delayMs = backoffDelay(this.backoff, attempt);
        this.retries.set(`${projection}\u0000${op}`, { projection, op, attempts: attempt + 1, error: messageOf(error) });
        this.metrics?.projectionRetry(projection);
        this.logger.warn({ projection, op, attempt: attempt + 1, delayMs, err: error }, "store call failed; retrying");
        await this.sleep(delayMs, this.stopping.signal);
      }
    }
  }

  /**
   * Applies one event to every projection. With the lock free (no flush or probe running, no earlier
   * event waiting for a read) the projections that need no read are applied at once, in order, and
   * only from the first one that does the rest waits in the lock: an event then costs no promise per
   * projection. The order of the projections and of the events is the same either way.
   */
  private onEvent(event: RecordedEvent): Promise<void> | void {
    this.deliveries++;
    this.scheduleIdle();
    if (this.lockHeld > 0) return this.locked(() => this.applyFrom(event, 0));
    for (let i = 0; i < this.running.length; i++) {
      const r = this.running[i]!;
      if (r.failure || event.position <= r.checkpoint) continue;
      let pending: Promise<void> | void;
      try {
        pending = this.applier.apply(r.projection, event);
      } catch (error) {
        pending = Promise.reject(error);
      }
      // the read (or the failure) is this projection's first attempt, retried in the lock as any other
      if (pending) return this.locked(() => this.applyFrom(event, i, pending));
    }
    this.delivered = event.position;
    if (++this.pending >= this.batchSize) return this.locked(() => this.flush());
  }

  /** Applies `event` to the projections from index `from` on; `first`: the attempt already started for that one. */
  private async applyFrom(event: RecordedEvent, from: number, first?: Promise<void>): Promise<void> {
    for (let i = from; i < this.running.length; i++) {
      const r = this.running[i]!;
      if (r.failure || event.position <= r.checkpoint) continue;
      try {
        await this.retry(r.projection.name, "apply", () => this.applier.apply(r.projection, event), i === from ? first : undefined);
      } catch (error) {
        if (this.stopped) throw error;
        await this.fail(r, event.position, error);
      }
    }
    this.delivered = event.position;
    if (++this.pending >= this.batchSize) await this.flush();
  }

  /** Once the subscription pauses (history exhausted, or live and quiet), write what is pending. */
  private scheduleIdle(): void {
    if (this.idleScheduled) return;
    this.idleScheduled = true;
    const seen = this.deliveries;
    setImmediate(() => {
      this.idleScheduled = false;
      if (this.deliveries !== seen) this.scheduleIdle();
      else void this.probe();
    });
  }

  /**
   * Flushes, then asks the log whether anything the subscription would deliver lies beyond what it
   * delivered; if not, every projection has passed the head, even past events it filters out.
   *
   * A pause in the middle of a backlog (the event loop serving HTTP between two pages) is not
   * idleness: flushing there wrote a hot document, a deployment of ten thousand nodes, once per
   * handful of events. Such a pause flushes only when the last flush is MAX_FLUSH_DELAY_MS old.
   */
  private probe(): Promise<void> {
    return this.locked(async () => {
      if (this.stopped) return;
      const head = await this.retry(ALL, "headPosition", () => this.log.headPosition());
      // known events only: one of a type this code does not know is never delivered, so it must not hold the checkpoint back
      const ahead =
        head > this.delivered
          ? await this.retry(ALL, "readAll", () => this.log.readAll({ after: this.delivered, maxCount: 1, ...(this.filter && { filter: this.filter }) }))
          : [];
      // the subscription has more to deliver, and will look for idleness again after it
      if (ahead.length && performance.now() - this.flushedAt < MAX_FLUSH_DELAY_MS) return;
      await this.flush(true);
      if (head > this.position() && ahead.length === 0) await this.advance(head);
    }).catch((error) => {
      if (!this.stopped) this.logger.error({ err: error }, "projection probe failed");
    });
  }

  /** `idle`: between bursts of events (a query more costs little there) */
  private async flush(idle = false): Promise<void> {
    this.flushedAt = performance.now();
    this.pending = 0;
    await this.stopIfSuperseded(idle);
    for (const r of this.running) {
      if (r.failure) continue;
      try {
        await this.retry(r.projection.name, "write", () => this.applier.flush(r.projection));
      } catch (error) {
        if (this.stopped) throw error;
        await this.fail(r, this.delivered, error);
      }
    }
    await this.advance(this.delivered);
  }

  /**
   * Another instance, running another version of a projection, may have switched its rebuild in
   * over the model this one serves (a rolling upgrade). Writing on would put documents of this
   * version's shape into that model: such a projection stops here, and is reported as failed.
   * Best effort: within a backlog it is looked at every SUPERSEDED_CHECK_MS, and a switch may
   * fall between the look and the write, so a few documents written around the switch may still
   * be of the old shape. Rolling upgrades that bump a version should stop the old writer first
   * (or run old instances with PROJECTIONS_MODE=follow).
   */
  private async stopIfSuperseded(always: boolean): Promise<void> {
    const served = this.running.filter((r) => !r.failure && r.switchAt === undefined);
    if (served.length === 0 || (!always && performance.now() - this.supersededCheckedAt < SUPERSEDED_CHECK_MS)) return;
    this.supersededCheckedAt = performance.now();
    const ids = served.map((r) => r.projection.name);
    const stored = await this.retry(ALL, "read checkpoints", () => this.store.collection<Checkpoint>(CHECKPOINTS).find({ _id: { $in: ids } }));
    for (const cp of stored) {
      const r = served.find((x) => x.projection.name === cp._id);
      if (!r || cp.version === r.projection.version) continue;
      const error = new Error(`superseded: the stored read model is version ${cp.version}, this code writes version ${r.projection.version}`);
      await this.fail(r, this.delivered, error, false);
    }
  }

  /** Moves every healthy checkpoint up to `position`, switches in caught-up rebuilds, and tells the listeners. */
  private async advance(position: number): Promise<void> {
    const checkpoints = this.store.collection<Checkpoint>(CHECKPOINTS);
    let moved = false;
    for (const r of this.running) {
      if (r.failure || r.checkpoint >= position) continue;
      await this.retry(r.projection.name, "checkpoint", () => checkpoints.put({ _id: r.checkpointId, position, version: r.projection.version }));
      r.checkpoint = position;
      moved = true;
      await this.switchWhenCaughtUp(r);
    }
    if (!moved) return;
    const now = this.position();
    for (const listener of this.listeners) listener(now);
  }

  /** A rebuild that has reached the head it started from replaces the served model. */
  private async switchWhenCaughtUp(r: Running): Promise<void> {
    if (r.failure || r.switchAt === undefined || r.checkpoint < r.switchAt) return;
    const p = r.projection;
    await switchIn(this.store, p, p.indexes ?? [], r.checkpoint, (op, call) => this.retry(p.name, op, call));
    r.target = p.collection;
    r.checkpointId = p.name;
    r.switchAt = undefined;
    this.logger.info({ projection: p.name, version: p.version, position: r.checkpoint }, "rebuilt projection switched in");
  }

  /**
   * Stops one projection; everything before `position` stays applied. `persist`: record the
   * failure in its checkpoint, where followers read it (not when the checkpoint is another version's).
   */
  private async fail(r: Running, position: number, error: unknown, persist = true): Promise<void> {
    const cause = error instanceof ProjectionCodeError ? error.cause : error;
    r.failure = { projection: r.projection.name, position, error: cause };
    this.applier.discard(r.projection);
    this.logger.error({ projection: r.projection.name, position, err: cause }, "projection failed; stopped");
    // position() now leaves it out, which may move it
    const now = this.position();
    for (const listener of this.listeners) listener(now);
    if (!persist) return;
    const failed = { position, message: messageOf(cause) };
    await this.retry(r.projection.name, "checkpoint", () =>
      this.store.collection<Checkpoint>(CHECKPOINTS).put({ _id: r.checkpointId, position: r.checkpoint, version: r.projection.version, failed }),
    ).catch(() => undefined); // only when stopping: the failure is still reported by failures()
  }
}
