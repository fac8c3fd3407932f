import type { EventLog } from "../events/event-log.js";
import { waitForPosition, type ProjectionRetry, type ReadModelProgress } from "./progress.js";
import type { Projection } from "./projection.js";
import { CHECKPOINTS, type Checkpoint, type ProjectionFailure, type RunnerLogger } from "./runner.js";
import type { ReadStore } from "./store/port.js";

export interface ProjectionFollowerOptions {
  log: EventLog;
  store: ReadStore;
  /** the projections this code knows, to compare their versions with what the writer stores */
  projections: Projection[];
  logger: RunnerLogger;
  /** how often the checkpoints are read; default 100 ms */
  pollMs?: number;
  /** how long start() waits for the writer to reach the head before serving anyway; default 60 s */
  startWaitMs?: number;
}

/**
 * PROJECTIONS_MODE=follow: another instance writes the read models into a shared store (MongoDB);
 * this one never writes them, and learns how far they are from the checkpoints that instance
 * stores. Several instances can then serve one database without racing on its documents.
 */
export class ProjectionFollower implements ReadModelProgress {
  private checkpoints = new Map<string, Checkpoint>();
  private readonly listeners = new Set<(position: number) => void>();
  private timer?: NodeJS.Timeout;
  private reported = -1;
  private readonly warned = new Set<string>();
  /** checkpoint reads failing in a row (the poll itself is the retry) */
  private pollFailure: ProjectionRetry | undefined;

  constructor(private readonly o: ProjectionFollowerOptions) {}

  async start(): Promise<void> {
    const head = await this.o.log.headPosition();
    await this.poll();
    this.timer = setInterval(() => {
      this.poll().then(
        () => (this.pollFailure = undefined),
        (err: unknown) => {
          const attempts = (this.pollFailure?.attempts ?? 0) + 1;
          this.pollFailure = { projection: "all", op: "read checkpoints", attempts, error: err instanceof Error ? err.message : String(err) };
          this.o.logger.warn({ err, attempts }, "reading projection checkpoints failed");
        },
      );
    }, this.o.pollMs ?? 100);
    this.timer.unref();
    if (!(await this.waitFor(head, this.o.startWaitMs ?? 60_000))) {
      this.o.logger.warn({ head, readPosition: this.position() }, "the read models this instance follows lag the log; serving anyway");
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
  }

  position(): number {
    const healthy = this.o.projections.filter((p) => !this.failureOf(p));
    if (healthy.length === 0) return this.o.projections.length ? 0 : Infinity;
    return Math.min(...healthy.map((p) => this.checkpoints.get(p.name)?.position ?? 0));
  }

  positionOf(name: string): number | undefined {
    if (!this.o.projections.some((p) => p.name === name)) return undefined;
    return this.checkpoints.get(name)?.position ?? 0;
  }

  failures(): ProjectionFailure[] {
    return this.o.projections.flatMap((p) => {
      const failure = this.failureOf(p);
      return failure ? [failure] : [];
    });
  }

  retrying(): ProjectionRetry[] {
    return this.pollFailure ? [this.pollFailure] : [];
  }

  waitFor(position: number, timeoutMs: number): Promise<boolean> {
    return waitForPosition(this, position, timeoutMs);
  }

  onProgress(listener: (position: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * A projection the writer reports as failed, or one stored under another version than this
   * code's (a rolling upgrade half done): its documents may not have the shape this code reads.
   */
  private failureOf(p: Projection): ProjectionFailure | undefined {
    const cp = this.checkpoints.get(p.name);
    if (!cp) return undefined;
    if (cp.failed) return { projection: p.name, position: cp.failed.position, error: cp.failed.message };
    if (cp.version === p.version) return undefined;
    if (!this.warned.has(p.name)) {
      this.warned.add(p.name);
      this.o.logger.error({ projection: p.name, stored: cp.version, expected: p.version }, "followed read model has another version than this code");
    }
    return { projection: p.name, position: cp.position, error: `stored as version ${cp.version}, this code reads version ${p.version}` };
  }

  private async poll(): Promise<void> {
    const docs = await this.o.store.collection<Checkpoint>(CHECKPOINTS).find({});
    this.checkpoints = new Map(docs.map((d) => [d._id, d]));
    const now = this.position();
    if (now === this.reported) return;
    this.reported = now;
    for (const listener of this.listeners) listener(now);
  }
}
