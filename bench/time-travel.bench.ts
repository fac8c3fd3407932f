// Deployment time travel (GET /api/v1/deployments/{id}?at=): loadDeployment reads the stream up to
// the instant from SQLite and folds it. Two shapes: one very long deployment-like stream, and a
// normal-length deployment inside a large log. Sizes: BENCH_TT_SIZES (default 100000,1000000).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deploymentDecider } from "../src/commands/deployment.js";
import { loadDeployment } from "../src/commands/deployments.js";
import { catalog } from "../src/events/catalog/index.js";
import type { NewEvent } from "../src/events/envelope.js";
import { EventLog } from "../src/events/event-log.js";
import { SqliteEventStore } from "../src/events/store/sqlite.js";
import { resolveSettings } from "../src/strategies/settings.js";
import { emit } from "./emit.js";

const SIZES = (process.env.BENCH_TT_SIZES ?? "100000,1000000").split(",").map(Number);
const T0 = Date.parse("2026-01-01T00:00:00.000Z");
// a 1,000,000-event fold takes tens of seconds: measure it once, to keep the bench near 2 minutes
const repeatFor = (size: number) => (size >= 1_000_000 ? 1 : 3);

let seq = 0;
const meta = (i: number) => ({
  eventId: `00000000-0000-4000-8000-${(seq++).toString(16).padStart(12, "0")}`,
  occurredAt: new Date(T0 + i * 1000).toISOString(),
  actor: { kind: "system" as const, id: "bench" },
  correlationId: "bench",
  causationId: "bench",
  schemaVersion: 1,
  tenantId: "default",
});

function requested(executionId: string) {
  const events = deploymentDecider.decide(
    { type: "RequestDeployment", executionId, moduleName: "netfilter-ext", version: "2.0.0", targetEnvironment: "QA", requesterEmail: "b@example.com", requestedBy: "bench", settings: resolveSettings("QA", {}), now: T0 },
    deploymentDecider.initialState,
  );
  if (!Array.isArray(events)) throw new Error("decide failed");
  return events;
}

const healthCheck = (i: number): NewEvent => ({
  type: "HealthCheckRecorded",
  data: { wave: 0, verdict: { kind: "stable", reason: "ok" }, consecutiveStable: i % 3, at: new Date(T0 + i * 1000).toISOString(), nextCheckAt: null },
  metadata: meta(i),
});

async function timeIt(fn: () => Promise<unknown>, repeat: number): Promise<number[]> {
  const out: number[] = [];
  for (let r = 0; r < repeat; r++) {
    const started = performance.now();
    await fn();
    out.push(performance.now() - started);
  }
  return out.sort((a, b) => a - b);
}

for (const size of SIZES) {
  const dir = mkdtempSync(join(tmpdir(), "tt-bench-"));
  const store = new SqliteEventStore({ file: join(dir, "events.db"), synchronous: "OFF" });
  const log = new EventLog(store, catalog);
  try {
    // 1) one deployment-like stream of `size` events
    const first = requested("long");
    await store.append("deployment-long", first.map((e, i) => ({ ...e, metadata: meta(i) })), "no_stream");
    for (let i = first.length; i < size; i += 5000) {
      const n = Math.min(5000, size - i);
      await store.append("deployment-long", Array.from({ length: n }, (_, k) => healthCheck(i + k)), "any");
    }
    const endAt = new Date(T0 + size * 1000).toISOString();
    const midAt = new Date(T0 + (size / 2) * 1000).toISOString();
    const points = size >= 1_000_000 ? ([["end", endAt]] as const) : ([["end", endAt], ["middle", midAt]] as const);
    for (const [label, at] of points) {
      const ms = await timeIt(() => loadDeployment(log, "long", at), repeatFor(size));
      emit("timeTravel.longStream", ms[Math.floor(ms.length / 2)]!, "ms", { streamEvents: size, at: label, repeat: repeatFor(size), store: "sqlite", targetMs: 50 });
    }
    // 2) a 200-event deployment inside a log of `size` events (the other events in other streams)
    const inLog = new SqliteEventStore({ file: join(dir, "log.db"), synchronous: "OFF" });
    const log2 = new EventLog(inLog, catalog);
    const firstB = requested("short");
    await inLog.append("deployment-short", firstB.map((e, i) => ({ ...e, metadata: meta(i) })), "no_stream");
    let written = firstB.length;
    for (let i = 0; written < size; i++) {
      const n = Math.min(5000, size - written);
      const target = i % 25 === 0 ? "deployment-short" : `deployment-other-${i % 1000}`;
      const batch = Array.from({ length: target === "deployment-short" ? Math.min(n, 8) : n }, (_, k) => healthCheck(written + k));
      await inLog.append(target, batch, "any");
      written += batch.length;
    }
    const streamLen = (await log2.readStream("deployment-short")).length;
    const ms = await timeIt(() => loadDeployment(log2, "short", new Date(T0 + size * 1000).toISOString()), 5);
    emit("timeTravel.streamInLargeLog", ms[Math.floor(ms.length / 2)]!, "ms", { logEvents: size, streamEvents: streamLen, repeat: 5, store: "sqlite", targetMs: 50 });
    await inLog.close();
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
