// npm run events:import -- --in file
// Loads an NDJSON export into an EMPTY event store (refuses otherwise), preserving order, ids and metadata.
import { createReadStream } from "node:fs";
import { parseArgs } from "node:util";
import { loadConfig } from "../platform/config.js";
import { importEvents, readNdjson } from "./ndjson.js";
import { openEventStore } from "./store/open.js";

async function main() {
  const { values } = parseArgs({ options: { in: { type: "string" } } });
  if (!values.in) throw new Error("usage: npm run events:import -- --in <file.ndjson>");
  const config = loadConfig();
  const store = await openEventStore({ eventstoreUrl: config.eventstoreUrl, dataDir: config.dataDir, sqliteSynchronous: config.sqliteSynchronous });
  try {
    const r = await importEvents(store, readNdjson(createReadStream(values.in)));
    process.stderr.write(`imported ${r.events} events in ${r.streams} streams into ${store.kind}\n`);
    if (r.movedPositions) process.stderr.write(`note: ${r.movedPositions} events got a different global position (the export did not start at position 1 or had gaps)\n`);
  } finally {
    await store.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`events:import failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
