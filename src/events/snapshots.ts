// Snapshots make time travel (`?at=`) on long streams cost a snapshot read plus at most `every`
// events, instead of a fold over the whole stream. They are derived data: kept in a read-model
// collection, never in the event log, written behind by the reads that fold past them, and
// always safe to drop (the next read rebuilds them from the log).
import { matchesFilter } from "./store/port.js";
import type { EventLog } from "./event-log.js";
import type { RecordedEvent } from "./envelope.js";
import type { ProjectedDoc, Projection } from "../projections/projection.js";
import type { Collection, Doc, ReadStore } from "../projections/store/port.js";

export const SNAPSHOTS = "snapshots";
export const DEFAULT_SNAPSHOT_EVERY = 500;
/**
 * What snapshots of a weighted fold may hold per event of the stream, in all: about four entries
 * (a deployment's node entries are smaller than its events, so about as much as the log itself).
 */
export const SNAPSHOT_ENTRIES_PER_EVENT = 4;

/** A left fold over one stream. `name` must change whenever `evolve` changes meaning. */
export interface StreamFold<S> {
  name: string;
  initial: S;
  evolve(state: S, event: RecordedEvent): S;
  /**
   * Optional: the same as reducing `events` with evolve from `state`, in time linear in the events
   * where evolve copies much per event (the deployment's nodes). Never changes `state`.
   */
  foldAll?(state: S, events: readonly RecordedEvent[]): S;
  /**
   * Optional: how large `state` is, in entries (a deployment: its nodes). Snapshots are then at
   * least weight / SNAPSHOT_ENTRIES_PER_EVENT events apart, so what they hold stays in proportion
   * to the stream rather than to its length times its state (quadratic in nodes for a deployment:
   * 60 snapshots of 10,000 nodes for a 10,000-node canary at one per 500 events), and a read folds
   * at most a quarter as many events as the state it answers with has entries.
   */
  weight?(state: S): number;
}

export interface Snapshot {
  fold: string;
  streamId: string;
  /** the state after folding revisions 0..revision, all of them */
  revision: number;
  position: number;
  /**
   * The latest occurredAt among revisions 0..revision (canonical ISO). Times need not grow with
   * revisions, so only an instant at or after this one is sure to include every folded event.
   */
  occurredAt: string;
  state: unknown;
}
export type SnapshotDoc = Doc & Snapshot;

/** Where a fold starts: nothing (-1), or a snapshot. */
export interface FoldStart<S> {
  state: S;
  revision: number;
  position: number | null;
  /** max occurredAt so far, epoch ms; -Infinity before any event */
  occurredAtMs: number;
}

export interface FoldResult<S> {
  state: S;
  /** position of the last event folded into state (from the snapshot or the events), null if none */
  position: number | null;
  /** revision of that event; -1 if none */
  revision: number;
  /** snapshots due: every `every` revisions past the start, while the events are a gap-free run */
  due: Snapshot[];
}

const canonical = (ms: number) => new Date(ms).toISOString();

/** Snapshot ids sort by revision within one fold and stream (the newest is found by an _id range). */
export const snapshotId = (fold: string, streamId: string, revision: number) => `${fold}|${streamId}|${String(revision).padStart(12, "0")}`;

/** The state is stored as JSON, like MongoDB would: what comes back is what any store gives back. */
const asJson = <S>(state: S): S => JSON.parse(JSON.stringify(state)) as S;

/**
 * Pure: folds `events` (one stream's, in revision order) onto `start` and lists the snapshots
 * worth keeping. A snapshot is only taken while the events continue the start without a gap
 * in revisions: an `untilTime` read may skip events whose times are out of order, and a state
 * that missed one is not the state "after revision r".
 */
export function foldFrom<S>(fold: StreamFold<S>, streamId: string, start: FoldStart<S>, events: RecordedEvent[], every: number): FoldResult<S> {
  let { state, revision, position, occurredAtMs } = start;
  let unbroken = true;
  // the next snapshot is at least `every` events after the last, or more for a heavy state
  const spacingAfter = (s: S) => Math.max(every, (fold.weight?.(s) ?? 0) / SNAPSHOT_ENTRIES_PER_EVENT);
  let spacing = spacingAfter(state);
  let since = start.revision;
  const due: FoldResult<S>["due"] = [];
  const foldAll = fold.foldAll?.bind(fold) ?? ((s: S, run: readonly RecordedEvent[]) => run.reduce(fold.evolve.bind(fold), s));
  // runs of events between snapshots are folded at once (foldAll), then the state is written down
  let from = 0;
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!;
    unbroken &&= event.revision === revision + 1;
    revision = event.revision;
    position = event.position;
    occurredAtMs = Math.max(occurredAtMs, Date.parse(event.metadata.occurredAt));
    if (unbroken && revision - since >= spacing) {
      state = foldAll(state, events.slice(from, i + 1));
      from = i + 1;
      due.push({ fold: fold.name, streamId, revision, position, occurredAt: canonical(occurredAtMs), state: asJson(state) });
      since = revision;
      spacing = spacingAfter(state);
    }
  }
  if (from < events.length) state = foldAll(state, from === 0 ? events : events.slice(from));
  return { state, position, revision, due };
}

export interface LoadOptions {
  /** only events with occurredAt <= this ISO time */
  untilTime?: string;
  /** where snapshots live; without one this is a plain fold */
  readStore?: ReadStore;
  every?: number;
}

async function newestSnapshot(snapshots: Collection<SnapshotDoc>, fold: string, streamId: string, untilTime: string | undefined): Promise<SnapshotDoc | null> {
  const prefix = snapshotId(fold, streamId, 0).slice(0, -12);
  const filter = {
    // ":" sorts right after "9": the range holds exactly this fold's and stream's snapshots
    _id: { $gte: prefix, $lt: prefix + ":" },
    fold,
    streamId,
    ...(untilTime !== undefined && { occurredAt: { $lte: canonical(Date.parse(untilTime)) } }),
  };
  const [doc] = await snapshots.find(filter, { sort: { _id: -1 }, limit: 1 });
  return doc ?? null;
}

/**
 * One stream folded up to an instant (or to its end), starting from the newest usable snapshot,
 * and storing the snapshots the fold passed. Gives the same state as a full fold of the events
 * with occurredAt <= untilTime (as JSON: a snapshot's state went through JSON).
 */
export async function loadStream<S>(
  log: EventLog,
  streamId: string,
  fold: StreamFold<S>,
  options: LoadOptions = {},
): Promise<{ state: S; position: number | null; revision: number; events: RecordedEvent[] }> {
  const { untilTime, readStore } = options;
  const every = options.every ?? DEFAULT_SNAPSHOT_EVERY;
  const snapshots = readStore?.collection<SnapshotDoc>(SNAPSHOTS);
  const snap = snapshots ? await newestSnapshot(snapshots, fold.name, streamId, untilTime) : null;
  let start: FoldStart<S> = { state: fold.initial, revision: -1, position: null, occurredAtMs: -Infinity };
  let events: RecordedEvent[];
  if (snap) {
    // read from the snapshot's own revision: if that event is not the one it was taken at, the
    // log was replaced under a persistent read store, and every snapshot of the stream is stale
    const from = await log.readStream(streamId, { fromRevision: snap.revision, ...(untilTime !== undefined && { untilTime }) });
    if (from[0]?.revision === snap.revision && from[0].position === snap.position) {
      start = { state: snap.state as S, revision: snap.revision, position: snap.position, occurredAtMs: Date.parse(snap.occurredAt) };
      events = from.slice(1);
    } else {
      await snapshots!.deleteMany({ fold: fold.name, streamId });
      events = await log.readStream(streamId, untilTime !== undefined ? { untilTime } : undefined);
    }
  } else {
    events = await log.readStream(streamId, untilTime !== undefined ? { untilTime } : undefined);
  }
  const result = foldFrom(fold, streamId, start, events, every);
  if (snapshots && result.due.length) {
    try {
      await snapshots.putMany(result.due.map((s) => ({ _id: snapshotId(s.fold, s.streamId, s.revision), ...s })));
    } catch {
      // a snapshot that could not be stored only costs the next read some time; the answer stands
    }
  }
  return { state: result.state, position: result.position, revision: result.revision, events };
}

/**
 * A projection's document for one key, as a fold over the stream(s) that touch it: exactly what
 * the runner would compute (same filter, same key test, same position guard and lastPosition).
 */
export function projectionFold<D extends ProjectedDoc>(projection: Projection<D>, key: string): StreamFold<D | null> {
  return {
    name: `projection:${projection.name}@${projection.version}`,
    initial: null,
    evolve(doc, event) {
      if (!matchesFilter(event, projection.filter) || !projection.keys(event).includes(key)) return doc;
      if (doc && doc.lastPosition >= event.position) return doc;
      const next = projection.apply(doc, event, key);
      if (!next) return null;
      const stamped = { ...next, lastPosition: event.position } as D;
      return projection.finish ? projection.finish(stamped) : stamped;
    },
  };
}
