// A catch-up subscription that outlives its store stream. A store's subscription ends when the
// connection drops (an EventStoreDB leader election, a gRPC stream reset, SQLITE_BUSY on a poll);
// the consumers (projection runner, live feed) must not stop with it. This wrapper resubscribes
// from the last position it passed, with capped exponential backoff and full jitter, so every
// adapter gets the same recovery and the embedded one exercises it in tests.
import type { RecordedEvent } from "./envelope.js";
import { HandlerCall } from "./store/handler-call.js";
import type { EventStore, SubscribeOptions, Subscription, SubscriptionControl, SubscriptionHandler } from "./store/port.js";

export interface Backoff {
  /** first delay's upper bound, ms */
  baseMs: number;
  /** cap of the upper bound, ms */
  maxMs: number;
  /** [0, 1): full jitter, so instances that lost the same server do not come back in step */
  random: () => number;
}

export const DEFAULT_BACKOFF: Backoff = { baseMs: 100, maxMs: 5_000, random: Math.random };

/** Delay before resubscription attempt `attempt` (0-based). Pure. */
export function backoffDelay(backoff: Backoff, attempt: number): number {
  const ceiling = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(backoff.random() * ceiling);
}

export interface ResubscribeHooks {
  /**
   * Sees every raw event in order; returns the event to hand to the handler, or null to pass it
   * by (it still counts as passed: a resubscription starts after it).
   */
  decode(event: RecordedEvent): RecordedEvent | null;
  /** the store's stream failed or ended on its own; the next attempt follows after delayMs */
  dropped?(error: unknown, delayMs: number): void;
  backoff?: Backoff;
}

class HandlerFailure {
  constructor(readonly error: unknown) {}
}

class ResubscribingSubscription implements Subscription {
  readonly done: Promise<void>;
  private stopped = false;
  private current: Subscription | undefined;
  private wakeUp: (() => void) | undefined;
  /** position of the last event passed (delivered or skipped) */
  private after: number | undefined;
  private readonly handlerCall = new HandlerCall();
  /** the store subscription's control, given with the event in flight */
  private storeControl: SubscriptionControl | undefined;
  private readonly control: SubscriptionControl = { stop: () => this.halt() };

  constructor(
    private readonly store: EventStore,
    private readonly options: SubscribeOptions,
    private readonly handler: SubscriptionHandler,
    private readonly hooks: ResubscribeHooks,
  ) {
    this.after = options.after;
    this.done = this.run();
  }

  private async run(): Promise<void> {
    const backoff = this.hooks.backoff ?? DEFAULT_BACKOFF;
    let attempt = 0;
    while (!this.stopped) {
      const before = this.after;
      let failure: unknown;
      try {
        this.current = this.store.subscribe({ ...this.options, after: this.after }, (raw, control) => this.deliver(raw, control));
        await this.current.done;
      } catch (err) {
        failure = err;
      }
      if (failure instanceof HandlerFailure) throw failure.error;
      if (this.stopped) return;
      // progress since the last drop means the store came back: start the backoff over
      if (this.after !== before) attempt = 0;
      const delay = backoffDelay(backoff, attempt++);
      this.hooks.dropped?.(failure ?? new Error("the store ended the subscription"), delay);
      await this.sleep(delay);
    }
  }

  private async deliver(raw: RecordedEvent, storeControl: SubscriptionControl): Promise<void> {
    try {
      const event = this.hooks.decode(raw);
      // the handler's own stop (this.control) ends the store's subscription through the store's
      // control: both would otherwise wait for this very call
      if (event) {
        this.storeControl = storeControl;
        await this.handlerCall.call(this.handler, event, this.control);
      }
    } catch (err) {
      // the handler's failure, or an event that does not validate, ends the subscription (as the
      // port says): reading it again would fail again. Only store failures are worth a retry.
      throw new HandlerFailure(err);
    }
    this.after = raw.position;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakeUp = undefined;
        resolve();
      }, ms);
      // kept referenced: while a server is still starting, this wait can be the only thing pending,
      // and an unref'd timer let the process exit silently mid-start; stop() ends the wait
      this.wakeUp = () => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        resolve();
      };
    });
  }

  /** Stops without waiting for the handler in flight: the caller is that handler. */
  private async halt(): Promise<void> {
    this.stopped = true;
    this.wakeUp?.();
    await this.storeControl?.stop();
  }

  async stop(): Promise<void> {
    // stop() awaited from inside the handler (its synchronous part) would otherwise wait for itself
    if (this.handlerCall.calling) return this.halt();
    this.stopped = true;
    this.wakeUp?.();
    await this.current?.stop();
    await this.done.catch(() => undefined);
  }
}

export function resubscribing(
  store: EventStore,
  options: SubscribeOptions,
  handler: SubscriptionHandler,
  hooks: ResubscribeHooks,
): Subscription {
  return new ResubscribingSubscription(store, options, handler, hooks);
}
