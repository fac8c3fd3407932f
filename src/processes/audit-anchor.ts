import { randomUUID } from "node:crypto";
import { chainHash, GENESIS_HASH } from "../audit/chain.js";
import { anchorIn } from "../audit/verify.js";
import { ANCHOR_STREAM, type AuditAnchoredData } from "../events/catalog/audit.js";
import type { RecordedEvent } from "../events/envelope.js";
import type { EventLog } from "../events/event-log.js";
import { WrongExpectedRevisionError, type ExpectedRevision } from "../events/store/port.js";
import type { LiveFeed } from "../events/live-feed.js";
import type { Clock } from "../platform/clock.js";
import { deterministicUuid } from "../platform/ids.js";

export interface AuditAnchorDeps {
  log: EventLog;
  clock: Clock;
  /** the most events one anchor covers */
  everyEvents: number;
  logger?: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void };
  /** live events, counted to start a pass once everyEvents have come in (without it: the interval only) */
  feed?: Pick<LiveFeed, "attach">;
  pageSize?: number;
}

/** Where the chain stands: after the last anchor, or at the start of the log. */
interface Tip {
  position: number;
  hash: string;
  expected: ExpectedRevision;
}

/** A range being folded into the next anchor. */
class Run {
  fromPosition = 0;
  position = 0;
  events = 0;
  /** events other than anchors: a run of anchors alone is not worth an anchor (it would never end) */
  substantive = 0;
  hash: string;
  constructor(readonly previousHash: string) {
    this.hash = previousHash;
  }
  add(e: RecordedEvent): void {
    if (this.events === 0) this.fromPosition = e.position;
    this.position = e.position;
    this.events++;
    if (e.streamId !== ANCHOR_STREAM) this.substantive++;
    this.hash = chainHash(this.hash, e);
  }
  anchor(): AuditAnchoredData {
    return { fromPosition: this.fromPosition, position: this.position, events: this.events, previousHash: this.previousHash, hash: this.hash };
  }
}

/** Conflicts with another instance that one pass tolerates before leaving the rest to the next. */
const MAX_CONFLICTS = 5;

/**
 * Anchors the audit hash chain in the event log: reads the stored events after the last anchor,
 * folds them into the chain, and appends AuditAnchored {fromPosition, position, events,
 * previousHash, hash} to the stream audit-anchors with the expected revision of the last anchor,
 * so of several instances only one anchors a range (a conflict means another did; the pass goes
 * on from its anchor). The read models are rebuilt from the log, so a chain kept only there
 * would follow an edit of the log after a restart; one kept in the log does not.
 *
 * Full ranges of `everyEvents` are anchored whenever a pass sees them, the rest (the tail) on the
 * interval and at shutdown. Each anchor is also logged, so a copy outlives the database.
 */
export class AuditAnchor {
  private timer: NodeJS.Timeout | undefined;
  private detach: (() => void) | undefined;
  private queued: { tail: boolean } | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(private readonly deps: AuditAnchorDeps) {
    if (!(deps.everyEvents >= 1)) throw new Error("AuditAnchor: everyEvents must be at least 1");
  }

  /** One pass; passes never overlap. `tail`: also anchor a last range shorter than everyEvents. Returns what it appended. */
  anchor(options: { tail: boolean }): Promise<AuditAnchoredData[]> {
    return this.serial(() => this.pass(options.tail));
  }

  /** Resolves once no pass is running or waiting (tests, and anyone who wants the anchors up to date). */
  async idle(): Promise<void> {
    for (let seen: Promise<unknown> | undefined; seen !== this.running; ) {
      seen = this.running;
      await seen;
    }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.running.then(fn);
    this.running = run.catch(() => undefined);
    return run;
  }

  /** A pass from the timer or the feed: at most one waits behind the one running, and it takes the tail if any caller wanted it. */
  private schedule(tail: boolean): void {
    if (this.queued) {
      this.queued.tail ||= tail;
      return;
    }
    const queued = { tail };
    this.queued = queued;
    this.serial(() => {
      this.queued = undefined;
      return this.pass(queued.tail);
    }).catch((err) => this.deps.logger?.warn({ err }, "audit anchoring failed; retrying on the next tick"));
  }

  /**
   * Anchors full ranges now (a backlog after an upgrade or a crash) and each time everyEvents more
   * have come in, and everything every intervalMs.
   */
  start(intervalMs: number): void {
    if (this.timer || this.stopped) return;
    this.schedule(false);
    this.timer = setInterval(() => this.schedule(true), intervalMs);
    this.timer.unref();
    let seen = 0;
    this.detach = this.deps.feed?.attach(() => {
      if (++seen < this.deps.everyEvents) return;
      seen = 0;
      this.schedule(false);
    }).detach;
  }

  /** Stops the timer and anchors what is left, so a restart finds the whole log anchored. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    this.detach?.();
    try {
      await this.anchor({ tail: true });
    } catch (err) {
      this.deps.logger?.warn({ err }, "audit anchoring at shutdown failed; the next start anchors the rest");
    }
  }

  private async pass(tail: boolean): Promise<AuditAnchoredData[]> {
    const { log, everyEvents } = this.deps;
    const pageSize = this.deps.pageSize ?? 1000;
    const written: AuditAnchoredData[] = [];
    for (let conflicts = 0; ; ) {
      // what a pass looks at ends here: its own anchors land after it and wait for the next pass
      const head = await log.headPosition();
      let tip = await this.tip();
      let run = new Run(tip.hash);
      try {
        let after = tip.position;
        let end = false;
        while (!end && after < head) {
          const page = await log.store.readAll({ after, maxCount: pageSize });
          for (const e of page) {
            if (e.position > head) {
              end = true;
              break;
            }
            run.add(e);
            if (run.events >= everyEvents && run.substantive > 0) {
              tip = await this.append(run.anchor(), tip.expected);
              written.push(run.anchor());
              run = new Run(tip.hash);
            }
          }
          if (page.length < pageSize) end = true;
          else after = page.at(-1)!.position;
        }
        if (tail && run.substantive > 0) {
          await this.append(run.anchor(), tip.expected);
          written.push(run.anchor());
        }
        return written;
      } catch (err) {
        if (!(err instanceof WrongExpectedRevisionError) || ++conflicts > MAX_CONFLICTS) throw err;
        // another instance anchored meanwhile: go on from its anchor
      }
    }
  }

  private async tip(): Promise<Tip> {
    const [last] = await this.deps.log.store.readStream(ANCHOR_STREAM, { direction: "backwards", maxCount: 1 });
    if (!last) return { position: 0, hash: GENESIS_HASH, expected: "no_stream" };
    const data = anchorIn(last);
    // building on an anchor that does not read would hide the damage; verify reports it
    if (!data) throw new Error(`the last audit anchor (position ${last.position}) is unreadable; anchoring stops until it is repaired`);
    return { position: data.position, hash: data.hash, expected: last.revision };
  }

  private async append(anchor: AuditAnchoredData, expected: ExpectedRevision): Promise<Tip> {
    const { log, clock } = this.deps;
    const correlationId = randomUUID();
    const [event] = log.envelope([{ type: "AuditAnchored", data: anchor }], [
      {
        actor: { kind: "system", id: "audit-anchor" },
        correlationId,
        causationId: correlationId,
        // two instances that compute the same anchor append one event (the store dedupes by id)
        eventId: deterministicUuid(`audit-anchor:${anchor.previousHash}:${anchor.position}:${anchor.hash}`),
        occurredAt: new Date(clock.now()).toISOString(),
      },
    ]);
    const r = await log.append(ANCHOR_STREAM, [event!], expected);
    this.deps.logger?.info({ ...anchor, anchorPosition: r.position }, "audit chain anchored");
    return { position: anchor.position, hash: anchor.hash, expected: r.nextRevision };
  }
}
