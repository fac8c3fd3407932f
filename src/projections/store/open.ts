import { MemoryReadStore } from "./memory.js";
import type { ReadStore } from "./port.js";

export interface OpenReadStoreOptions {
  /** unset: the embedded in-memory store, rebuilt from events at start */
  mongodbUrl?: string;
  mongodbDb: string;
}

export async function openReadStore(opts: OpenReadStoreOptions): Promise<ReadStore> {
  if (opts.mongodbUrl) {
    // loaded only when configured: each client library costs ~20 MiB of RSS (code, and bson's 17 MiB buffer) to a server that never uses it
    const { MongoReadStore } = await import("./mongo.js");
    return MongoReadStore.connect(opts.mongodbUrl, opts.mongodbDb);
  }
  return new MemoryReadStore();
}
