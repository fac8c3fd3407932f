// Mark and sweep of committed artifacts. register() commits an upload's bytes before it appends
// ModuleVersionRegistered (an event must never name bytes that are missing), so bytes whose append
// never came stay behind: the loser of two uploads of one version racing, an append that failed,
// a process killed between the two. Left alone, racing uploads grow the disk without bound.
//
// Marked: every digest a ModuleVersionRegistered in the event log names (the log is the truth; a
// read model may lag or be rebuilding). Swept: every other committed artifact whose commit time is
// older than the grace period. Why that is safe against uploads in flight:
// - an upload commits (which renews the commit time of content already stored) just before its
//   append, so its bytes are young for the whole grace period, and the delete is conditional on the
//   commit time in the store itself: a commit between this pass's listing and its delete wins;
// - the listing comes before the log is read, so an artifact listed old and unreferenced whose event
//   lands after the read was committed again after the listing, and the condition keeps it;
// - register() checks after its append that the bytes are there and commits them again if not
//   (a commit that took longer than the grace period, a clock that jumped).
// Several instances may sweep at once: a delete that finds nothing answers false.
//
// One interlock: a pass whose log names none of the stored artifacts deletes nothing (and says so).
// That is a log that is empty or not the one these bytes belong to (a wrong EVENTSTORE_URL, a
// restored store beside a fresh log), and emptying the store on it could not be undone; real
// orphans always sit beside at least one registered version (a lost race has a winner).
import type { EventLog } from "../events/event-log.js";
import { streamPrefixes } from "../events/streams.js";
import { digestOf, sha256Of, type ArtifactStore } from "../modules/artifacts/port.js";
import type { Clock } from "../platform/clock.js";

export const DEFAULT_GRACE_MS = 3600_000;
/** the first pass after start waits this long (or the interval, when shorter): a start has enough to do */
const FIRST_PASS_DELAY_MS = 60_000;
const PAGE_SIZE = 1000;
/** setTimeout fires at once for anything longer */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** a log line names at most this many removed artifacts (and counts the rest) */
const LOGGED_MAX = 100;

export interface ArtifactSweepDeps {
  log: Pick<EventLog, "readAll">;
  artifacts: ArtifactStore;
  clock: Clock;
  /** an unreferenced artifact younger than this is kept: an upload may be between its commit and its append */
  graceMs?: number;
  logger?: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void };
  /** each artifact this instance removed (metrics) */
  onRemoved?: (artifact: { sha256: string; size: number }) => void;
  /** a pass that failed (metrics); it is logged and the next interval tries again */
  onFailed?: () => void;
}

export interface SweepResult {
  removed: { digest: string; size: number }[];
  /** committed artifacts some ModuleVersionRegistered names */
  referenced: number;
  /** unreferenced artifacts kept because they are younger than the grace period (or were committed again meanwhile) */
  young: number;
  /** the log names none of the stored artifacts: nothing was deleted (see the header) */
  refused: boolean;
}

export class ArtifactSweep {
  private readonly graceMs: number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;

  constructor(private readonly deps: ArtifactSweepDeps) {
    this.graceMs = deps.graceMs ?? DEFAULT_GRACE_MS;
    if (!(this.graceMs > 0)) throw new Error("ArtifactSweep: graceMs must be positive");
  }

  /** One pass; a pass already running is joined rather than run twice. Rejects when the store or the log fails. */
  sweep(): Promise<SweepResult> {
    if (this.running) return this.running as Promise<SweepResult>;
    const run = this.pass();
    this.running = run;
    const clear = () => {
      if (this.running === run) this.running = undefined;
    };
    run.then(clear, clear);
    return run;
  }

  /** What the timer runs: a failed pass is logged and counted, never thrown (the next interval tries again). */
  async tick(): Promise<SweepResult | null> {
    try {
      return await this.sweep();
    } catch (err) {
      this.deps.onFailed?.();
      this.deps.logger?.warn({ err }, "artifact sweep failed; retrying on the next interval");
      return null;
    }
  }

  /** A pass shortly after start (`firstDelayMs`, default a minute or the interval if shorter), then every intervalMs. */
  start(intervalMs: number, firstDelayMs = Math.min(FIRST_PASS_DELAY_MS, intervalMs)): void {
    if (this.timer || this.stopped) return;
    const next = (delayMs: number) => {
      this.timer = setTimeout(() => {
        void this.tick().then(() => {
          if (!this.stopped) next(intervalMs);
        });
      }, Math.min(delayMs, MAX_TIMER_MS));
      this.timer.unref();
    };
    next(firstDelayMs);
  }

  /** No further pass; a pass running stops before its next delete and is waited for. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  private async pass(): Promise<SweepResult> {
    const { artifacts, clock } = this.deps;
    // listed before the log is read (see the header): what is old here and named by no event there
    // either has no event or was committed again since, which the conditional delete sees
    const listed = new Map<string, { size: number; committedAt: number }>();
    for await (const a of artifacts.listCommitted()) {
      const seen = listed.get(a.sha256);
      // a store may hold one content twice (two first commits at once): the later date speaks for it
      if (!seen || a.committedAt > seen.committedAt) listed.set(a.sha256, { size: a.size, committedAt: a.committedAt });
    }
    const referenced = await this.referenced();
    const cutoff = clock.now() - this.graceMs;
    const result: SweepResult = { removed: [], referenced: 0, young: 0, refused: false };
    if (listed.size > 0 && ![...listed.keys()].some((sha256) => referenced.has(sha256))) {
      result.refused = true;
      this.deps.logger?.warn(
        { stored: listed.size, registeredDigests: referenced.size },
        "artifact sweep deleted nothing: the event log names none of the stored artifacts (is this the event store they belong to?)",
      );
      return result;
    }
    for (const [sha256, a] of listed) {
      if (referenced.has(sha256)) {
        result.referenced++;
        continue;
      }
      if (a.committedAt >= cutoff) {
        result.young++;
        continue;
      }
      if (this.stopped) break;
      if (await artifacts.delete(sha256, { committedBefore: cutoff })) {
        result.removed.push({ digest: digestOf(sha256), size: a.size });
        this.deps.onRemoved?.({ sha256, size: a.size });
      } else result.young++;
    }
    if (result.removed.length) {
      this.deps.logger?.info(
        {
          removed: result.removed.slice(0, LOGGED_MAX),
          ...(result.removed.length > LOGGED_MAX && { more: result.removed.length - LOGGED_MAX }),
          count: result.removed.length,
          bytes: result.removed.reduce((n, r) => n + r.size, 0),
          graceMs: this.graceMs,
        },
        "removed committed artifacts that no registered module version names",
      );
    }
    return result;
  }

  /** Every digest a ModuleVersionRegistered names, read from the log in pages. */
  private async referenced(): Promise<Set<string>> {
    const names = new Set<string>();
    const filter = { streamPrefixes: [streamPrefixes.module], eventTypes: ["ModuleVersionRegistered"] };
    for (let after = 0; ; ) {
      const page = await this.deps.log.readAll({ after, maxCount: PAGE_SIZE, filter });
      for (const e of page) {
        const { digest } = e.data as { digest: string };
        const sha256 = sha256Of(digest);
        // registration only ever records sha256:<hex>; anything else is a reason to delete nothing
        if (!sha256) throw new Error(`ModuleVersionRegistered at position ${e.position} names a digest the sweep does not understand: ${JSON.stringify(String(digest).slice(0, 80))}`);
        names.add(sha256);
      }
      if (page.length < PAGE_SIZE) return names;
      after = page.at(-1)!.position;
    }
  }
}
