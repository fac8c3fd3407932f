// A deployment's event feed says, with every message, where the deployment stands (status and
// progress), which takes a fold of the stream up to that event. Each connection used to keep a fold
// of its own: fifty people watching a 10,000-node rollout meant fifty copies of its nodes and every
// node event folded, rendered and serialized fifty times (with 50 watchers the canary's CPU per
// node went from 1.2 to 2.8 ms). Now one fold per watched deployment is shared by every connection
// that keeps pace with it, and each event's message is made once and written to all of them. A
// connection that falls behind the shared fold by more than the messages it keeps folds on its own
// until it catches up, as every connection did before.
import { foldDeployment, initialDeploymentState, type DeploymentState } from "../commands/deployment.js";
import type { DeploymentEvent } from "../events/catalog/deployment.js";
import type { RecordedEvent } from "../events/envelope.js";
import type { EventLog } from "../events/event-log.js";
import type { WireMessage } from "./sse-wire.js";

/** The message for an event, from the state right after it. */
export type Render = (event: RecordedEvent, state: DeploymentState) => WireMessage;

/** How many of its newest messages a shared fold keeps for connections a little behind it. */
export const KEPT_MESSAGES = 1024;

const fresh = (): DeploymentState => ({ ...initialDeploymentState, nodes: {} });
const foldOne = (state: DeploymentState, event: RecordedEvent) => foldDeployment(state, [event as unknown as DeploymentEvent], { ownsNodes: true });

/** The fold of one deployment's stream shared by its watchers, and the messages of its newest events. */
class SharedFold {
  state = fresh();
  /** revision of the last event folded; -1 before any */
  revision = -1;
  readonly messages = new Map<number, WireMessage>();
  watchers = 0;

  constructor(
    private readonly render: Render,
    private readonly kept: number,
  ) {}

  /** Folds the stream's next event (the caller has passed every known event before it) and makes its message. */
  fold(event: RecordedEvent): WireMessage {
    this.state = foldOne(this.state, event);
    this.revision = event.revision;
    const message = this.render(event, this.state);
    this.messages.set(event.revision, message);
    // revisions come in order: the first key is the oldest
    if (this.messages.size > this.kept) this.messages.delete(this.messages.keys().next().value!);
    return message;
  }
}

const sharedByLog = new WeakMap<EventLog, Map<string, SharedFold>>();

/**
 * One connection's view of a deployment's stream. The connection passes every known event of the
 * stream to it in order: those the client already has (`skip`) and those it sends (`pass`).
 */
export class DeploymentWatch {
  /** revision and position of the last event passed; -1 / 0 before any */
  private last = -1;
  private lastPosition = 0;
  /** a fold of its own, while the connection is behind the shared one (null while it keeps pace) */
  private own: DeploymentState | null = null;
  private released = false;

  private constructor(
    private readonly log: EventLog,
    private readonly streamId: string,
    private readonly shared: SharedFold,
    private readonly render: Render,
  ) {}

  static open(log: EventLog, streamId: string, render: Render, kept = KEPT_MESSAGES): DeploymentWatch {
    let folds = sharedByLog.get(log);
    if (!folds) sharedByLog.set(log, (folds = new Map()));
    let shared = folds.get(streamId);
    if (!shared) folds.set(streamId, (shared = new SharedFold(render, kept)));
    shared.watchers++;
    return new DeploymentWatch(log, streamId, shared, render);
  }

  /** The revision to read the stream from: the one after the last event passed. */
  get nextRevision(): number {
    return this.last + 1;
  }

  /**
   * The message for `event`, the stream's next known event after the last passed; undefined when
   * it cannot be made without reading the log (the connection fell behind what the shared fold
   * keeps): then `prepare()` first.
   */
  pass(event: RecordedEvent): WireMessage | undefined {
    return this.step(event, true) ?? undefined;
  }

  /** Passes an event the client already has: folded where needed, no message made. False as pass() gives undefined. */
  skip(event: RecordedEvent): boolean {
    return this.step(event, false) !== undefined;
  }

  /** Whether pass() or skip() can take `event` (the next known event) without prepare(). */
  canTake(event: RecordedEvent): boolean {
    return this.shared.revision === this.last || this.own !== null || this.shared.messages.has(event.revision);
  }

  /** Makes the next event passable: a fold of its own up to the last event passed, read from the log. */
  async prepare(): Promise<void> {
    if (this.own !== null || this.shared.revision === this.last) return;
    const upTo = this.lastPosition;
    const events = this.last < 0 ? [] : await this.log.readStream(this.streamId, { untilPosition: upTo });
    // another call may have prepared it meanwhile, or the connection moved on
    if (this.own !== null || this.lastPosition !== upTo) return;
    this.own = foldDeployment(fresh(), events as unknown as DeploymentEvent[], { ownsNodes: true });
  }

  /** Lets go of the shared fold; the last watcher to go takes it away. Safe to call twice. */
  release(): void {
    if (this.released) return;
    this.released = true;
    if (--this.shared.watchers > 0) return;
    const folds = sharedByLog.get(this.log);
    if (folds?.get(this.streamId) === this.shared) folds.delete(this.streamId);
  }

  /** The message (or null when not wanted) once `event` is passed; undefined when it cannot be passed yet. */
  private step(event: RecordedEvent, wanted: boolean): WireMessage | null | undefined {
    const { shared } = this;
    let message: WireMessage | null | undefined;
    if (shared.revision === this.last) {
      // at the shared fold's head: this connection takes it one event further, for everyone
      message = shared.fold(event);
      this.own = null;
    } else if (this.own !== null) {
      this.own = foldOne(this.own, event);
      message = shared.messages.get(event.revision) ?? (wanted ? this.render(event, this.own) : null);
      // caught up: the shared fold is where this one is, and takes over
      if (shared.revision === event.revision) this.own = null;
    } else {
      message = shared.messages.get(event.revision);
      if (message === undefined) return undefined;
    }
    this.last = event.revision;
    this.lastPosition = event.position;
    return wanted ? message : null;
  }
}
