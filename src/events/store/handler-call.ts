import type { RecordedEvent } from "../envelope.js";
import type { SubscriptionControl, SubscriptionHandler } from "./port.js";

/**
 * Calls a subscription's handler and knows while its synchronous part runs: a stop() arriving then
 * comes from the handler itself (nothing else runs in between), so it must not wait for the
 * handler. After the handler's first await, it stops through its SubscriptionControl instead.
 * This replaced an AsyncLocalStorage, which on Node 20 turns on promise hooks for every promise.
 */
export class HandlerCall {
  /** true only during the synchronous part of a handler call */
  calling = false;

  call(handler: SubscriptionHandler, event: RecordedEvent, control: SubscriptionControl): Promise<void> | void {
    this.calling = true;
    try {
      return handler(event, control);
    } finally {
      this.calling = false;
    }
  }
}
