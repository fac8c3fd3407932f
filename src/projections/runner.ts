import type { RecordedEvent } from "../events/envelope.js";
import type { EventLog } from "../events/event-log.js";
import { matchesFilter, type EventFilter, type Subscription } from "../events/store/port.js";
import { waitForPosition, type ReadModelProgress } from "./progress.js";
import type { ProjectedDoc, Projection } from "./projection.js";
import type { Doc, IndexSpec, ReadStore } from "./store/port.js";

/** Structurally a subset of pino's logger. */
export interface RunnerLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const silent: RunnerLogger = { info() {}, warn() {}, error() {} };

/**
 * A projection may also declare the indexes of its collection: the runner (re)creates them at
 * start and after every rebuild, since dropping a collection drops its indexes.
 */
export type IndexedProjection = Projection & { indexes?: IndexSpec[] };

export const CHECKPOINTS = "_checkpoints";

/** how stale read models may get while a backlog is being delivered (besides batchSize) */
const MAX_FLUSH_DELAY_MS = 100;

export interface Checkpoint extends Doc {
  /** events up to and including this position are applied and stored */
  position: number;
  version: number;
  failed?: { position: number; message: string };
}

export interface ProjectionFailure {
  projection: string;
  position: number;
  error: unknown;
}

/** One projection's documents touched within a batch: read once, written once at batch end. */
class BatchState {
  readonly docs = new Map<string, ProjectedDoc | null>();
  readonly dirty = new Set<string>();
}

/**
 * Applies events to projections with a per-batch document cache, so a hot document (one cluster
 * touched by every heartbeat) costs one read and one write per batch rather than per event.
 */
export class BatchApplier {
  private batches = new Map<string, BatchState>();

  constructor(private readonly store: ReadStore) {}

  /** Applies one event to one projection; throws what the projection throws. */
  async apply(projection: Projection, event: RecordedEvent): Promise<void> {
    if (!matchesFilter(event, projection.filter)) return;
    const keys = projection.keys(event);
    if (keys.length === 0) return;
    let batch = this.batches.get(projection.name);
    if (!batch) this.batches.set(projection.name, (batch = new BatchState()));
    const collection = this.store.collection<ProjectedDoc>(projection.collection);
    for (const key of keys) {
      let doc = batch.docs.get(key);
      if (doc === undefined) {
        doc = await collection.get(key);
        batch.docs.set(key, doc);
      }
      // Already applied (a replay, or a checkpoint that lagged behind its documents).
      if (doc && doc.lastPosition >= event.position) continue;
      const next = projection.apply(doc, event);
      if (next && next._id !== key) throw new Error(`projection ${projection.name} returned _id ${String(next._id)} for key ${key}`);
      // Omit<> over an index-signature type forgets _id; it was checked just above.
      batch.docs.set(key, next ? ({ ...next, lastPosition: event.position } as ProjectedDoc) : null);
      batch.dirty.add(key);
    }
  }

  /** Writes one projection's touched documents and forgets them. */
  async flush(projection: Projection): Promise<void> {
    const batch = this.batches.get(projection.name);
    if (!batch) return;
    this.batches.delete(projection.name);
    const collection = this.store.collection<ProjectedDoc>(projection.collection);
    const puts: ProjectedDoc[] = [];
    for (const key of batch.dirty) {
      const doc = batch.docs.get(key);
      if (doc) puts.push(projection.finish ? projection.finish(doc) : doc);
      else await collection.delete(key);
    }
    await collection.putMany(puts);
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
}

interface Running {
  projection: IndexedProjection;
  /** persisted position: every event up to it is applied and stored */
  checkpoint: number;
  failure?: ProjectionFailure;
}

/**
 * Keeps every projection's read model up to date with one catch-up subscription to the log,
 * writing documents and checkpoints per batch. See DESIGN.md section 5.
 */
export class ProjectionRunner implements ReadModelProgress {
  private readonly log: EventLog;
  private readonly store: ReadStore;
  private readonly logger: RunnerLogger;
  private readonly batchSize: number;
  private readonly running: Running[];
  private readonly filter: EventFilter | undefined;
  private readonly listeners = new Set<(position: number) => void>();
  private applier: BatchApplier;
  private subscription: Subscription | undefined;
  /** position of the last event handed to us by the subscription */
  private delivered = 0;
  private pending = 0;
  private deliveries = 0;
  private idleScheduled = false;
  private flushedAt = 0;
  /** serialises event handling, flushes and probes */
  private lock: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(options: ProjectionRunnerOptions) {
    this.log = options.log;
    this.store = options.store;
    this.logger = options.logger ?? silent;
    this.batchSize = options.batchSize ?? 500;
    this.applier = new BatchApplier(this.store);
    const names = new Set<string>();
    const collections = new Set<string>();
    for (const p of options.projections) {
      if (names.has(p.name)) throw new Error(`projection ${p.name} registered twice`);
      // A rebuild drops the collection, so two projections may not share one.
      if (collections.has(p.collection)) throw new Error(`collection ${p.collection} used by two projections`);
      if (p.collection === CHECKPOINTS) throw new Error(`collection ${CHECKPOINTS} is reserved`);
      names.add(p.name);
      collections.add(p.collection);
    }
    this.running = options.projections.map((projection) => ({ projection, checkpoint: 0 }));
    this.filter = unionFilter(options.projections);
  }

  /** Loads checkpoints, rebuilds projections whose version changed, and resolves once caught up with the head. */
  async start(): Promise<void> {
    const head = await this.log.headPosition();
    const checkpoints = this.store.collection<Checkpoint>(CHECKPOINTS);
    for (const r of this.running) {
      const p = r.projection;
      const cp = await checkpoints.get(p.name);
      if (!cp || cp.version !== p.version) {
        this.logger.info({ projection: p.name, from: cp?.version, to: p.version }, "rebuilding projection");
        await this.store.drop(p.collection);
        await checkpoints.put({ _id: p.name, position: 0, version: p.version });
        r.checkpoint = 0;
      } else {
        r.checkpoint = cp.position;
      }
      for (const index of p.indexes ?? []) await this.store.collection(p.collection).ensureIndex(index);
    }
    this.delivered = Math.min(...this.running.map((r) => r.checkpoint), head);
    if (this.running.length === 0) return;
    this.subscription = this.log.subscribe({ after: this.delivered, ...(this.filter && { filter: this.filter }) }, (e) =>
      this.onEvent(e),
    );
    this.subscription.done.then(() => {
      if (!this.stopped) this.logger.error({ position: this.delivered }, "projection subscription ended");
    });
    void this.probe();
    const caughtUp = this.waitFor(head, Infinity);
    const ended = this.subscription.done.then(() => {
      if (!this.stopped) throw new Error("projection subscription ended before catching up");
    });
    await Promise.race([caughtUp, ended]);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.subscription?.stop();
    await this.locked(() => this.flush());
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

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn);
    this.lock = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private onEvent(event: RecordedEvent): Promise<void> {
    this.deliveries++;
    this.scheduleIdle();
    return this.locked(async () => {
      for (const r of this.running) {
        if (r.failure || event.position <= r.checkpoint) continue;
        try {
          await this.applier.apply(r.projection, event);
        } catch (error) {
          this.fail(r, event.position, error);
        }
      }
      this.delivered = event.position;
      if (++this.pending >= this.batchSize) await this.flush();
    });
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
      const head = await this.log.headPosition();
      // known events only: one of a type this code does not know is never delivered, so it must not hold the checkpoint back
      const ahead =
        head > this.delivered ? await this.log.readAll({ after: this.delivered, maxCount: 1, ...(this.filter && { filter: this.filter }) }) : [];
      // the subscription has more to deliver, and will look for idleness again after it
      if (ahead.length && performance.now() - this.flushedAt < MAX_FLUSH_DELAY_MS) return;
      await this.flush();
      if (head > this.position() && ahead.length === 0) await this.advance(head);
    }).catch((error) => this.logger.error({ err: error }, "projection probe failed"));
  }

  private async flush(): Promise<void> {
    this.flushedAt = performance.now();
    this.pending = 0;
    for (const r of this.running) {
      if (r.failure) continue;
      try {
        await this.applier.flush(r.projection);
      } catch (error) {
        this.fail(r, this.delivered, error);
      }
    }
    await this.advance(this.delivered);
  }

  /** Moves every healthy checkpoint up to `position` and tells the listeners. */
  private async advance(position: number): Promise<void> {
    const checkpoints = this.store.collection<Checkpoint>(CHECKPOINTS);
    let moved = false;
    for (const r of this.running) {
      if (r.failure || r.checkpoint >= position) continue;
      await checkpoints.put({ _id: r.projection.name, position, version: r.projection.version });
      r.checkpoint = position;
      moved = true;
    }
    if (!moved) return;
    const now = this.position();
    for (const listener of this.listeners) listener(now);
  }

  private fail(r: Running, position: number, error: unknown): void {
    // Everything before this event is applied; keep it, and stop this projection only.
    r.failure = { projection: r.projection.name, position, error };
    this.applier.discard(r.projection);
    this.logger.error({ projection: r.projection.name, position, err: error }, "projection failed; stopped");
    const message = error instanceof Error ? error.message : String(error);
    void this.store
      .collection<Checkpoint>(CHECKPOINTS)
      .put({ _id: r.projection.name, position: r.checkpoint, version: r.projection.version, failed: { position, message } })
      .catch(() => undefined);
  }
}
