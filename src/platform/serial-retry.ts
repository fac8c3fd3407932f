// Loading what a change names (a secret's versions, a private key) from a store that may be down:
// one pass at a time, and a failed pass tried again later while nothing newer asks.

const MAX_RETRY_MS = 60_000;

/**
 * Runs `pass` one at a time, in the order asked. A pass that throws is reported to `onError` and
 * tried again after `firstMs`, doubling up to a minute; asking again meanwhile replaces that retry.
 */
export class SerialRetry {
  private chain: Promise<void> = Promise.resolve();
  private timer?: NodeJS.Timeout;
  private delayMs: number;
  private stopped = false;

  constructor(
    private readonly pass: () => Promise<void>,
    private readonly onError: (err: unknown) => void,
    private readonly firstMs = 1000,
  ) {
    this.delayMs = firstMs;
  }

  request(): void {
    clearTimeout(this.timer);
    this.chain = this.chain.then(async () => {
      if (this.stopped) return;
      try {
        await this.pass();
        this.delayMs = this.firstMs;
      } catch (err) {
        this.onError(err);
        if (this.stopped) return;
        this.timer = setTimeout(() => this.request(), this.delayMs);
        this.timer.unref?.();
        this.delayMs = Math.min(this.delayMs * 2, MAX_RETRY_MS);
      }
    });
  }

  /** resolves once the passes asked for so far are done (a scheduled retry not included) */
  settled(): Promise<void> {
    return this.chain;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
