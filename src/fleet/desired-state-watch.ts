import { DESIRED_STATE, type DesiredStateDoc } from "../projections/desired-state.js";
import type { ReadStore } from "../projections/store/port.js";

/** The part of ProjectionRunner the watch needs. */
export interface ProgressSource {
  onProgress(listener: (position: number) => void): () => void;
}

interface Waiter {
  after: number;
  resolve(doc: DesiredStateDoc | null): void;
}

/**
 * Long-poll and SSE support for desired state: waiters park here, and each time the read models
 * advance, one query over the parked nodes' documents wakes those whose state moved past the
 * version they hold. Cost is per progress step and per waiting node, never per event.
 */
export class DesiredStateWatch {
  private readonly waiters = new Map<string, Set<Waiter>>();
  private checking = false;
  private again = false;

  constructor(
    private readonly readStore: ReadStore,
    progress: ProgressSource,
  ) {
    progress.onProgress(() => void this.check());
  }

  private get collection() {
    return this.readStore.collection<DesiredStateDoc>(DESIRED_STATE);
  }

  /**
   * The node's desired-state document once its version (lastPosition) is above `after`, or null
   * when `timeoutMs` passes or `signal` aborts first.
   */
  async wait(nodeId: string, after: number, timeoutMs: number, signal?: AbortSignal): Promise<DesiredStateDoc | null> {
    let waiter!: Waiter;
    const settled = new Promise<DesiredStateDoc | null>((resolve) => (waiter = { after, resolve }));
    // Park first, then look: a change landing between the two cannot be missed.
    let set = this.waiters.get(nodeId);
    if (!set) this.waiters.set(nodeId, (set = new Set()));
    set.add(waiter);
    const timer = setTimeout(() => waiter.resolve(null), timeoutMs);
    const onAbort = () => waiter.resolve(null);
    signal?.addEventListener("abort", onAbort, { once: true });
    // an abort that came first (the client left, the server is shutting down) fires no event
    if (signal?.aborted) onAbort();
    try {
      const doc = await this.collection.get(nodeId);
      if (doc && doc.lastPosition > after) waiter.resolve(doc);
      return await settled;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      set.delete(waiter);
      if (set.size === 0 && this.waiters.get(nodeId) === set) this.waiters.delete(nodeId);
    }
  }

  get size(): number {
    let n = 0;
    for (const s of this.waiters.values()) n += s.size;
    return n;
  }

  private async check(): Promise<void> {
    if (this.checking) {
      this.again = true;
      return;
    }
    this.checking = true;
    try {
      do {
        this.again = false;
        if (this.waiters.size === 0) break;
        const docs = await this.collection.find({ _id: { $in: [...this.waiters.keys()] } });
        for (const doc of docs) {
          for (const w of this.waiters.get(doc._id) ?? []) if (doc.lastPosition > w.after) w.resolve(doc);
        }
      } while (this.again);
    } catch {
      // a failed look is retried on the next progress step; waiters time out meanwhile
    } finally {
      this.checking = false;
    }
  }
}

const watches = new WeakMap<object, DesiredStateWatch>();

/** One watch per projection runner (i.e. per server), created on first use. */
export function desiredStateWatch(readStore: ReadStore, progress: ProgressSource): DesiredStateWatch {
  let w = watches.get(progress);
  if (!w) watches.set(progress, (w = new DesiredStateWatch(readStore, progress)));
  return w;
}
