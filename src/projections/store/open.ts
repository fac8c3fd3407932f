import { MemoryReadStore } from "./memory.js";
import { MongoReadStore } from "./mongo.js";
import type { ReadStore } from "./port.js";

export interface OpenReadStoreOptions {
  /** unset: the embedded in-memory store, rebuilt from events at start */
  mongodbUrl?: string;
  mongodbDb: string;
}

export async function openReadStore(opts: OpenReadStoreOptions): Promise<ReadStore> {
  if (opts.mongodbUrl) return MongoReadStore.connect(opts.mongodbUrl, opts.mongodbDb);
  return new MemoryReadStore();
}
