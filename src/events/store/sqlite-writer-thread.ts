// Worker-thread entry of the SQLite event store's writer: its own connection to the same file,
// committing the groups the store sends, one at a time, in order. Started by SqliteEventStore.
import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";
import { SqliteWriter, type FromWriter, type ToWriter, type WriterThreadData } from "./sqlite-writer.js";

const port = parentPort!;
const data = workerData as WriterThreadData;
const say = (m: FromWriter) => port.postMessage(m);

try {
  const db = new Database(data.file, { timeout: data.busyTimeoutMs });
  db.pragma("journal_mode = WAL");
  db.pragma(`synchronous = ${data.synchronous}`);
  const writer = new SqliteWriter(db);
  port.on("message", (m: ToWriter) => {
    if (m.kind === "commit") say({ kind: "committed", id: m.id, outcomes: writer.commit(m.group) });
    else {
      // the store has no commit in flight when it closes: close the connection, and with the
      // port closed nothing keeps this thread alive
      db.close();
      port.close();
    }
  });
  say({ kind: "ready" });
} catch (err) {
  const e = err instanceof Error ? err : new Error(String(err));
  say({ kind: "failed", error: { name: e.name, message: e.message } });
}
