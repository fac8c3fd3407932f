// WAL checkpoints off the event loop. SQLite copies the write-ahead log back into the database
// file from inside the commit that pushes the log past wal_autocheckpoint (1,000 pages), and syncs
// both files there: that commit, on the thread serving requests, took milliseconds instead of tens
// of microseconds (appending 30,000 events in groups of 20: 1.2 s with, 0.7 s without; the worst
// group 8.8 ms vs 1.5 ms). A worker thread with its own connection checkpoints instead (PASSIVE:
// it never blocks a writer or a reader); the store asks after every few MiB appended.
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

/** appended payload between checkpoint requests: about SQLite's own 1,000 pages once indexes are counted */
const CHECKPOINT_EVERY_BYTES = 2 * 1024 * 1024;
/**
 * The store's own connection still checkpoints past this many pages (~40 MiB of log): a
 * checkpointer that falls behind or stops cannot let the log grow without bound.
 */
export const FALLBACK_AUTOCHECKPOINT_PAGES = 10_000;

// plain CommonJS: the thread needs only the driver, so it needs no TypeScript loader
const CHECKPOINTER = `
const { workerData, parentPort } = require("node:worker_threads");
let db;
try {
  db = new (require(workerData.driver))(workerData.file, { timeout: workerData.busyTimeoutMs });
  db.pragma("synchronous = " + workerData.synchronous);
  parentPort.postMessage({ kind: "ready" });
} catch (err) {
  parentPort.postMessage({ kind: "failed", message: String((err && err.message) || err) });
}
if (db) parentPort.on("message", (m) => {
  if (m === "close") {
    db.close();
    parentPort.close();
    return;
  }
  try {
    db.pragma("wal_checkpoint(PASSIVE)");
    parentPort.postMessage({ kind: "done" });
  } catch (err) {
    // busy or the like: the next request tries again, the store's fallback bounds the log meanwhile
    parentPort.postMessage({ kind: "done", error: String((err && err.message) || err) });
  }
});
`;

type FromCheckpointer = { kind: "ready" } | { kind: "failed"; message: string } | { kind: "done"; error?: string };

export class WalCheckpointer {
  /** checkpoints the thread has run (tests, diagnostics) */
  done = 0;
  private bytes = 0;
  private busy = false;
  private ready = false;
  private stopped = false;
  private readonly worker: Worker;
  private readonly exited: Promise<void>;

  /** `onLost` hears that the thread failed or ended: the store's own connection checkpoints alone again */
  constructor(
    options: { file: string; synchronous: string; busyTimeoutMs: number },
    private readonly onLost: (why: string) => void,
  ) {
    const driver = createRequire(import.meta.url).resolve("better-sqlite3");
    this.worker = new Worker(CHECKPOINTER, { eval: true, workerData: { ...options, driver }, execArgv: [] });
    this.exited = new Promise((resolve) => this.worker.once("exit", () => resolve()));
    this.worker.on("message", (m: FromCheckpointer) => {
      if (m.kind === "ready") {
        this.ready = true;
        // what was appended while the thread started (a burst at start may be all there is)
        if (this.bytes >= CHECKPOINT_EVERY_BYTES) this.request();
      } else if (m.kind === "failed") this.lose(`checkpointer failed to open the database: ${m.message}`);
      else {
        this.done++;
        this.busy = false;
        if (this.bytes >= CHECKPOINT_EVERY_BYTES) this.request();
      }
    });
    this.worker.on("error", (err) => this.lose(`checkpointer thread failed: ${err.message}`));
    this.worker.on("exit", () => this.lose("checkpointer thread ended"));
    // an idle checkpointer does not keep the process alive (after the listeners: adding a
    // "message" listener refs the worker again)
    this.worker.unref();
  }

  /** a group of this many payload bytes was committed */
  appended(bytes: number): void {
    this.bytes += bytes;
    if (this.bytes >= CHECKPOINT_EVERY_BYTES) this.request();
  }

  private request(): void {
    if (this.busy || !this.ready || this.stopped) return;
    this.busy = true;
    this.bytes = 0;
    this.worker.postMessage("checkpoint");
  }

  private lose(why: string): void {
    if (this.stopped) return;
    this.stopped = true;
    void this.worker.terminate();
    this.onLost(why);
  }

  /** Ends the thread after the checkpoint in flight, if any (SQLite's last close checkpoints the rest). */
  async close(): Promise<void> {
    if (this.stopped) return this.exited;
    this.stopped = true;
    this.worker.ref();
    this.worker.postMessage("close");
    return this.exited;
  }
}
