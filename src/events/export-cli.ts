// npm run events:export -- [--from POS] [--to POS] [--out file]
// Writes the event log (or a position range of it) as NDJSON envelopes, to stdout by default.
import { createWriteStream, fchmodSync, fstatSync, openSync } from "node:fs";
import { once } from "node:events";
import { parseArgs } from "node:util";
import { loadConfig } from "../platform/config.js";
import { exportEvents } from "./ndjson.js";
import { openEventStore } from "./store/open.js";

const position = (name: string, v: string | undefined) => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a position >= 1`);
  return n;
};

/**
 * An export holds password hashes and client addresses: a new file is created 0600 and an
 * existing regular file is tightened to 0600 before anything is written to it.
 */
function openPrivate(path: string): number {
  const fd = openSync(path, "w", 0o600);
  if (fstatSync(fd).isFile()) fchmodSync(fd, 0o600);
  return fd;
}

async function main() {
  const { values } = parseArgs({ options: { from: { type: "string" }, to: { type: "string" }, out: { type: "string" } } });
  const config = loadConfig();
  const store = await openEventStore({ eventstoreUrl: config.eventstoreUrl, dataDir: config.dataDir, sqliteSynchronous: config.sqliteSynchronous });
  const out = values.out ? createWriteStream("", { fd: openPrivate(values.out) }) : process.stdout;
  try {
    const write = async (chunk: string) => {
      if (!out.write(chunk)) await once(out, "drain");
    };
    const count = await exportEvents(store, { from: position("from", values.from), to: position("to", values.to) }, write);
    if (values.out) await new Promise<void>((resolve, reject) => (out as ReturnType<typeof createWriteStream>).end((err?: Error | null) => (err ? reject(err) : resolve())));
    // the count goes to stderr so stdout stays pure NDJSON
    process.stderr.write(`exported ${count} events from ${store.kind}${values.out ? ` to ${values.out}` : ""}\n`);
  } finally {
    await store.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`events:export failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
