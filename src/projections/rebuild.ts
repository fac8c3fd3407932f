import type { EventLog } from "../events/event-log.js";
import type { Projection } from "./projection.js";
import { BatchApplier, CHECKPOINTS, type Checkpoint, type IndexedProjection } from "./runner.js";
import type { ReadStore } from "./store/port.js";

export interface RebuildResult {
  projection: string;
  events: number;
  position: number;
}

/**
 * Drops a read model and replays the whole log into it, page by page, checkpointing as it goes.
 * Run it while no ProjectionRunner is writing the same store (the CLI's case); a running server
 * rebuilds by itself when a projection's version changes.
 */
export async function rebuildProjection(
  log: EventLog,
  store: ReadStore,
  projection: Projection,
  pageSize = 1000,
): Promise<RebuildResult> {
  const checkpoints = store.collection<Checkpoint>(CHECKPOINTS);
  const head = await log.headPosition();
  await store.drop(projection.collection);
  await checkpoints.put({ _id: projection.name, position: 0, version: projection.version });
  for (const index of (projection as IndexedProjection).indexes ?? []) await store.collection(projection.collection).ensureIndex(index);

  const applier = new BatchApplier(store);
  let position = 0;
  let events = 0;
  for (;;) {
    const page = await log.readAll({ after: position, maxCount: pageSize, ...(projection.filter && { filter: projection.filter }) });
    if (page.length === 0) break;
    for (const event of page) await applier.apply(projection, event);
    await applier.flush(projection);
    position = page[page.length - 1]!.position;
    events += page.length;
    await checkpoints.put({ _id: projection.name, position, version: projection.version });
  }
  // Filtered-out events up to the head at start are passed too.
  if (head > position) {
    position = head;
    await checkpoints.put({ _id: projection.name, position, version: projection.version });
  }
  return { projection: projection.name, events, position };
}
