import { randomUUID } from "node:crypto";
import type { Coordination } from "./port.js";

/** The caller did not get its turn in time, or too many were already waiting for the key. */
export class MutexBusyError extends Error {
  constructor(readonly key: string) {
    super(`mutex ${key} is busy`);
    this.name = "MutexBusyError";
  }
}

export interface KeyedMutexOptions {
  /** how long a hold lasts if its holder dies without unlocking */
  holdMs: number;
  /** how long a caller waits for its turn before MutexBusyError */
  waitMs: number;
  /** callers of one key waiting in this process beyond which new ones are turned away at once */
  maxWaiters: number;
  /** pause between tries while another instance holds the key */
  pollMs?: number;
}

interface Queue {
  tail: Promise<void>;
  waiters: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * One holder at a time per key across every instance sharing the Coordination. Callers in this
 * process queue in arrival order without polling; only the head of a queue asks the shared mutex,
 * and polls only while another instance holds it. Waiting is bounded in time and in numbers.
 */
export class KeyedMutex {
  private readonly queues = new Map<string, Queue>();
  private readonly id = randomUUID();
  private seq = 0;

  constructor(
    private readonly coordination: Coordination,
    private readonly opts: KeyedMutexOptions,
  ) {}

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const queue = this.queues.get(key) ?? { tail: Promise.resolve(), waiters: 0 };
    if (queue.waiters >= this.opts.maxWaiters) throw new MutexBusyError(key);
    this.queues.set(key, queue);
    queue.waiters++;
    const previous = queue.tail;
    let done!: () => void;
    const mine = new Promise<void>((resolve) => (done = resolve));
    // the next caller starts only after the previous one AND this one are through, even if this
    // one gave up waiting: giving up must not let two run at once
    const tail = previous.then(() => mine);
    queue.tail = tail;
    const deadline = Date.now() + this.opts.waitMs;
    try {
      await this.turn(previous, key, deadline);
      const owner = `${this.id}:${this.seq++}`;
      await this.take(key, owner, deadline);
      try {
        return await fn();
      } finally {
        // if unlocking fails (Coordination down) the hold lapses after holdMs
        await this.coordination.unlock(key, owner).catch(() => {});
      }
    } finally {
      queue.waiters--;
      done();
      void tail.then(() => {
        if (this.queues.get(key) === queue && queue.tail === tail) this.queues.delete(key);
      });
    }
  }

  /** waits for the callers ahead in this process */
  private async turn(previous: Promise<void>, key: string, deadline: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new MutexBusyError(key)), Math.max(0, deadline - Date.now()));
    });
    try {
      await Promise.race([previous, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** takes the shared mutex, polling while another instance holds it */
  private async take(key: string, owner: string, deadline: number): Promise<void> {
    const pollMs = this.opts.pollMs ?? 25;
    while (!(await this.coordination.tryLock(key, owner, this.opts.holdMs))) {
      if (Date.now() >= deadline) throw new MutexBusyError(key);
      await sleep(pollMs / 2 + Math.random() * pollMs);
    }
  }
}
