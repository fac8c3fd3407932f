import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { EsdbEventStore } from "./esdb.js";
import type { EventStore } from "./port.js";
import { SqliteEventStore, type SqliteSynchronous } from "./sqlite.js";

export interface OpenEventStoreOptions {
  /** EventStoreDB connection string; unset means the embedded SQLite file */
  eventstoreUrl?: string;
  dataDir: string;
  sqliteSynchronous: SqliteSynchronous;
}

/** Picks the adapter from configuration: EventStoreDB when a URL is given, else `${dataDir}/events.db`. */
export function openEventStore(opts: OpenEventStoreOptions): EventStore {
  if (opts.eventstoreUrl) return new EsdbEventStore(opts.eventstoreUrl);
  // owner-only when we create it: the event log and development secrets live here
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  return new SqliteEventStore({ file: join(opts.dataDir, "events.db"), synchronous: opts.sqliteSynchronous });
}
