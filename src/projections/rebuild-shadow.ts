import { CHECKPOINTS, type Checkpoint } from "./checkpoints.js";
import type { Projection } from "./projection.js";
import type { IndexSpec, ReadStore } from "./store/port.js";

/**
 * Blue-green rebuilds (as Marten does them): a projection is rebuilt beside the read model being
 * served, into `<collection>__v<version>` with its own checkpoint `<name>__v<version>`, and
 * switched in once caught up, so readers see the old model, whole, until the new one is.
 */
export function shadowOf(projection: Pick<Projection, "name" | "collection" | "version">): { collection: string; checkpointId: string } {
  return { collection: `${projection.collection}__v${projection.version}`, checkpointId: `${projection.name}__v${projection.version}` };
}

/** Runs one store call; the runner passes its retry, so a transient fault does not abandon a switch half done. */
export type Step = <T>(op: string, call: () => Promise<T>) => Promise<T>;

const once: Step = (_op, call) => call();

/**
 * Switches a caught-up shadow in: afterwards the collection holds it and the projection's
 * checkpoint says `position` at this version.
 *
 * The order survives a crash between any two steps. The shadow's checkpoint goes first, so a
 * restart never resumes a shadow that was already renamed away (it rebuilds afresh instead, while
 * the collection keeps serving whichever model it holds). Each step is safe to repeat after a
 * lost answer: a delete of nothing, a rename of a source already gone, a put of the same document.
 */
export async function switchIn(store: ReadStore, projection: Projection, indexes: IndexSpec[], position: number, step: Step = once): Promise<void> {
  const shadow = shadowOf(projection);
  const checkpoints = store.collection<Checkpoint>(CHECKPOINTS);
  // an empty model may exist nowhere (MongoDB creates a collection on its first write), and a
  // rename of nothing changes nothing: then the served model is dropped instead
  const empty = (await step("count", () => store.collection(shadow.collection).count())) === 0;
  await step("delete shadow checkpoint", () => checkpoints.delete(shadow.checkpointId));
  if (empty) {
    await step("drop", () => store.drop(projection.collection));
    await step("drop", () => store.drop(shadow.collection));
    for (const index of indexes) await step("ensureIndex", () => store.collection(projection.collection).ensureIndex(index));
  } else {
    await step("rename", () => store.rename(shadow.collection, projection.collection));
  }
  await step("checkpoint", () => checkpoints.put({ _id: projection.name, position, version: projection.version }));
}
