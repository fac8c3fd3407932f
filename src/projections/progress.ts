import type { ProjectionFailure } from "./runner.js";

/**
 * What the rest of the service needs of the read models: how far they have applied the log, and a
 * way to wait for a position. A ProjectionRunner writes them; a ProjectionFollower only watches
 * another instance write them into a shared store.
 */
/** Resolves true once `progress` reports a position >= `position`, false after timeoutMs. */
export function waitForPosition(progress: Pick<ReadModelProgress, "position" | "onProgress">, position: number, timeoutMs: number): Promise<boolean> {
  if (progress.position() >= position) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = Number.isFinite(timeoutMs) ? setTimeout(() => finish(false), timeoutMs) : undefined;
    const finish = (ok: boolean) => {
      clearTimeout(timer);
      off();
      resolve(ok);
    };
    const off = progress.onProgress((p) => {
      if (p >= position) finish(true);
    });
  });
}

/** A store call the read models are waiting on: it failed, and is being retried with backoff. */
export interface ProjectionRetry {
  /** the projection, or "all" for a call on behalf of every projection (reading the log, or the checkpoints) */
  projection: string;
  op: string;
  /** failed attempts so far */
  attempts: number;
  /** the last error's message */
  error: string;
}

export interface ReadModelProgress {
  /** resolves once the read models have caught up with the log as it was at the call */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** the position every healthy projection has passed */
  position(): number;
  positionOf(name: string): number | undefined;
  failures(): ProjectionFailure[];
  /** store calls failing and being retried now: the read models are stale, not failed (/health: degraded) */
  retrying(): ProjectionRetry[];
  /** true once position() >= position, false after timeoutMs (read-your-writes) */
  waitFor(position: number, timeoutMs: number): Promise<boolean>;
  onProgress(listener: (position: number) => void): () => void;
}
