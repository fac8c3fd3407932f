import type { RecordedEvent } from "./envelope.js";
import type { EventLog } from "./event-log.js";
import type { Subscription } from "./store/port.js";

export interface Attachment {
  /** every event after this position will reach the listener; history up to it is the caller's */
  position: number;
  detach(): void;
}

/**
 * One live subscription to the log, fanned out to many listeners (SSE connections, runners),
 * so a thousand watchers cost one reader. Listeners must be quick and must not throw.
 */
export class LiveFeed {
  private readonly listeners = new Set<(event: RecordedEvent) => void>();
  private position = 0;
  private subscription?: Subscription;

  constructor(private readonly log: EventLog) {}

  async start(): Promise<void> {
    this.position = await this.log.headPosition();
    this.subscription = this.log.subscribe({ after: this.position }, (event) => {
      this.position = event.position;
      for (const listener of this.listeners) listener(event);
    });
  }

  async stop(): Promise<void> {
    await this.subscription?.stop();
    this.listeners.clear();
  }

  attach(listener: (event: RecordedEvent) => void): Attachment {
    this.listeners.add(listener);
    return { position: this.position, detach: () => this.listeners.delete(listener) };
  }

  get size(): number {
    return this.listeners.size;
  }
}
