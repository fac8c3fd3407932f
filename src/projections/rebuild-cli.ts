// npm run projections:rebuild -- <name|all> [name...]
// Drops the named read models and replays the whole log into them.
import { catalog } from "../events/catalog/index.js";
import { EventLog } from "../events/event-log.js";
import { openEventStore } from "../events/store/open.js";
import { loadConfig } from "../platform/config.js";
import { allProjections } from "./index.js";
import { rebuildProjection } from "./rebuild.js";
import { openReadStore } from "./store/open.js";

async function main() {
  const names = process.argv.slice(2).filter((a) => !a.startsWith("-"));
  const config = loadConfig();
  const available = allProjections({ auditRetentionMs: config.auditRetentionMs });
  if (names.length === 0) throw new Error(`usage: npm run projections:rebuild -- <all|${available.map((p) => p.name).join("|")}>`);
  const chosen = names.includes("all") ? available : names.map((n) => available.find((p) => p.name === n) ?? fail(`unknown projection ${n}; known: ${available.map((p) => p.name).join(", ")}`));
  if (!config.mongodbUrl) {
    process.stderr.write(
      "note: MONGODB_URL is not set, so read models live in memory and every server start rebuilds them from the log;\n" +
        "      this run only replays the log as a check (nothing is kept). Set MONGODB_URL to rebuild a persistent store.\n",
    );
  }
  const store = await openEventStore({ eventstoreUrl: config.eventstoreUrl, dataDir: config.dataDir, sqliteSynchronous: config.sqliteSynchronous });
  const readStore = await openReadStore({ mongodbUrl: config.mongodbUrl, mongodbDb: config.mongodbDb });
  const log = new EventLog(store, catalog);
  try {
    for (const p of chosen) {
      const started = performance.now();
      const r = await rebuildProjection(log, readStore, p);
      const secs = (performance.now() - started) / 1000;
      process.stdout.write(JSON.stringify({ ...r, seconds: Number(secs.toFixed(2)), readStore: readStore.kind }) + "\n");
    }
  } finally {
    await readStore.close();
    await store.close();
  }
}

function fail(message: string): never {
  throw new Error(message);
}

main().catch((err: unknown) => {
  process.stderr.write(`projections:rebuild failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
