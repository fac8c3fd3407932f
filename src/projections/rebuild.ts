import type { EventLog } from "../events/event-log.js";
import { CHECKPOINTS, type Checkpoint } from "./checkpoints.js";
import type { Projection } from "./projection.js";
import { shadowOf, switchIn } from "./rebuild-shadow.js";
import { BatchApplier, type IndexedProjection } from "./runner.js";
import type { ReadStore } from "./store/port.js";

export interface RebuildResult {
  projection: string;
  events: number;
  position: number;
}

/**
 * Replays the whole log into a fresh copy of a read model, page by page, checkpointing as it
 * goes, beside the served one (see rebuild-shadow.ts), and switches it in at the end: readers
 * keep the old model, whole, until then. Run it while no ProjectionRunner is writing the same
 * store (the CLI's case): what a runner writes meanwhile is replaced by the switch. A running
 * server rebuilds by itself, the same way, when a projection's version changes.
 */
export async function rebuildProjection(
  log: EventLog,
  store: ReadStore,
  projection: Projection,
  pageSize = 1000,
): Promise<RebuildResult> {
  const checkpoints = store.collection<Checkpoint>(CHECKPOINTS);
  const shadow = shadowOf(projection);
  const indexes = (projection as IndexedProjection).indexes ?? [];
  const head = await log.headPosition();
  await store.drop(shadow.collection);
  await checkpoints.put({ _id: shadow.checkpointId, position: 0, version: projection.version });
  for (const index of indexes) await store.collection(shadow.collection).ensureIndex(index);

  const applier = new BatchApplier(store, () => shadow.collection);
  let position = 0;
  let events = 0;
  for (;;) {
    const page = await log.readAll({ after: position, maxCount: pageSize, ...(projection.filter && { filter: projection.filter }) });
    if (page.length === 0) break;
    for (const event of page) await applier.apply(projection, event);
    await applier.flush(projection);
    position = page[page.length - 1]!.position;
    events += page.length;
    await checkpoints.put({ _id: shadow.checkpointId, position, version: projection.version });
  }
  // Filtered-out events up to the head at start are passed too.
  position = Math.max(position, head);
  await switchIn(store, projection, indexes, position);
  return { projection: projection.name, events, position };
}
