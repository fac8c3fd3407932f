import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { EventStore } from "./port.js";
import { SqliteEventStore, type SqliteSynchronous } from "./sqlite.js";

export interface OpenEventStoreOptions {
  /** EventStoreDB connection string; unset means the embedded SQLite file */
  eventstoreUrl?: string;
  dataDir: string;
  sqliteSynchronous: SqliteSynchronous;
}

/** Picks the adapter from configuration: EventStoreDB when a URL is given, else `${dataDir}/events.db`. */
export async function openEventStore(opts: OpenEventStoreOptions): Promise<EventStore> {
  if (opts.eventstoreUrl) {
    // loaded only when configured: each client library costs ~20 MiB of RSS (code, and bson's 17 MiB buffer) to a server that never uses it
    const { EsdbEventStore } = await import("./esdb.js");
    return new EsdbEventStore(opts.eventstoreUrl);
  }
  // owner-only when we create it: the event log and development secrets live here
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  return new SqliteEventStore({ file: join(opts.dataDir, "events.db"), synchronous: opts.sqliteSynchronous });
}
