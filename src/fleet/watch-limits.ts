/**
 * Counts what each key (a node) holds open, refusing more than `max` at once: a node's token
 * must not be able to park unbounded streams or long-polls on the server. Per instance: what is
 * held is a socket on this process.
 */
export class PerKeyLimit {
  private readonly held = new Map<string, number>();
  constructor(readonly max: number) {}

  /** A release function (safe to call twice), or null when `key` already holds `max`. */
  tryAcquire(key: string): (() => void) | null {
    const n = this.held.get(key) ?? 0;
    if (n >= this.max) return null;
    this.held.set(key, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.held.get(key) ?? 1) - 1;
      if (left > 0) this.held.set(key, left);
      else this.held.delete(key);
    };
  }
}
