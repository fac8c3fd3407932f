// The server under test for fleet.bench.ts, in its own process and compiled to plain JavaScript as
// the Dockerfile runs it (no tsx loader in its memory or CPU). Commands arrive over IPC; each gets
// exactly one answer.
import { getHeapSpaceStatistics, getHeapStatistics, setFlagsFromString, writeHeapSnapshot } from "node:v8";
import { readFileSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { runInNewContext } from "node:vm";
import { loadConfig } from "../src/platform/config.js";
import { startServer, type RunningServer } from "../src/server.js";
import * as telemetry from "../src/fleet/telemetry.js";
import type { Environment } from "../src/strategies/settings.js";

export type ServerCommand =
  | { cmd: "start"; env: Record<string, string> }
  /** `perNode` samples per node of `environment`, `intervalMs` apart, ending now, through recordHeartbeat */
  | { cmd: "prefill"; environment: Environment; perNode: number; intervalMs: number }
  | { cmd: "settle" }
  | { cmd: "head" }
  | { cmd: "memory"; gc: boolean }
  /** a V8 heap snapshot written to `path` (to see what the heap holds) */
  | { cmd: "heapSnapshot"; path: string }
  /**
   * Sampled allocations (V8's sampling heap profiler) from "start" to "stop", written to `path` as
   * a .heapprofile; with the objects a minor GC collected left out and those a major GC collected
   * kept, so what it shows is what was promoted: what grows the old generation between full GCs.
   */
  | { cmd: "allocations"; action: "start" }
  | { cmd: "allocations"; action: "stop"; path: string }
  | { cmd: "close" };

export interface Started {
  url: string;
  joinToken: string;
  heartbeatIntervalMs: number;
}

export interface Memory {
  rssMiB: number;
  heapUsedMiB: number;
  heapTotalMiB: number;
  externalMiB: number;
  arrayBuffersMiB: number;
  /** what V8 itself malloc'ed outside its heap (zone memory, compiler), MiB */
  mallocedMiB: number;
  /** V8 heap spaces, MiB reserved / used */
  spaces: Record<string, [number, number]>;
  /** resident MiB by mapping (/proc/self/smaps): anonymous (V8 heap, malloc arenas), [heap] (brk), the node binary, other files */
  resident?: Record<string, number>;
}

/** Resident memory by kind of mapping, from /proc/self/smaps (Linux only; empty elsewhere). */
function resident(): Record<string, number> {
  let text: string;
  try {
    text = readFileSync("/proc/self/smaps", "utf8");
  } catch {
    return {};
  }
  const out: Record<string, number> = {};
  let kind = "";
  for (const line of text.split("\n")) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) {
      const path = head[1]!;
      kind = path === "" ? "anonymous" : path.startsWith("[") ? path : path.endsWith("/node") || path.endsWith("/nodejs") ? "node binary" : path.endsWith(".node") ? "addons" : "other files";
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) out[kind] = Math.round(((out[kind] ?? 0) + Number(rss[1]) / 1024) * 10) / 10;
  }
  return out;
}

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
let server: RunningServer | undefined;
let profiler: Session | undefined;

async function prefill(environment: Environment, perNode: number, intervalMs: number): Promise<{ samples: number; seconds: number }> {
  const started = performance.now();
  const s = server!;
  const nodeIds = (await s.deps.readStore.collection("fleet_nodes").find({ environment }, { projection: { _id: 1 } })).map((d) => d._id);
  // a build with the ring buffers takes the samples synchronously (an hour arrives in seconds, and
  // a promise per sample would leave V8's heap grown by the burst, which an hour of real
  // heartbeats never does); an older build stores them as it always did
  const ring = "telemetryOf" in telemetry ? (telemetry.telemetryOf(s.deps.readStore) as Partial<{ recordNow(h: telemetry.Heartbeat): void }>) : null;
  const record = (h: telemetry.Heartbeat): Promise<void> | undefined => (ring?.recordNow ? (ring.recordNow(h), undefined) : telemetry.recordHeartbeat(s.deps.readStore, h));
  const now = Date.now();
  let samples = 0;
  for (let k = perNode; k >= 1; k--) {
    for (let i = 0; i < nodeIds.length; i++) {
      // each node on its own phase within the interval, as real agents would be
      const at = now - k * intervalMs + Math.floor((i * intervalMs) / nodeIds.length);
      const metrics = { cpu: 20 + ((i + k) % 60), memory: 30 + (k % 50), latencyP95Ms: 40 + ((i * 7 + k) % 90), errorRate: ((i + k) % 10) / 1000, requestRate: 100 + (k % 20) };
      const done = record({ nodeId: nodeIds[i]!, environment, at, metrics, modules: { "net-filter": "1.0.0" } });
      if (done) await done;
      samples++;
    }
    // let the server breathe between rounds
    await new Promise((r) => setImmediate(r));
  }
  return { samples, seconds: (performance.now() - started) / 1000 };
}

function memory(): Memory {
  const m = process.memoryUsage();
  const mib = (n: number) => Math.round((n / 2 ** 20) * 10) / 10;
  return { rssMiB: mib(m.rss), heapUsedMiB: mib(m.heapUsed), heapTotalMiB: mib(m.heapTotal), externalMiB: mib(m.external), arrayBuffersMiB: mib(m.arrayBuffers), mallocedMiB: mib(getHeapStatistics().malloced_memory),
    spaces: Object.fromEntries(getHeapSpaceStatistics().map((sp) => [sp.space_name, [mib(sp.space_size), mib(sp.space_used_size)]])),
    resident: resident(),
  };
}

async function handle(m: ServerCommand): Promise<unknown> {
  switch (m.cmd) {
    case "start": {
      server = await startServer(loadConfig(m.env));
      const heartbeatIntervalMs = Math.max(250, Math.floor(server.deps.config.heartbeat.unhealthyAfterMs / 3));
      return { url: server.url, joinToken: server.deps.config.agentJoinToken, heartbeatIntervalMs } satisfies Started;
    }
    case "prefill":
      return prefill(m.environment, m.perNode, m.intervalMs);
    case "settle":
      await server!.deps.projections.waitFor(await server!.deps.log.headPosition(), 120_000);
      return {};
    case "head":
      return { position: await server!.deps.log.headPosition() };
    case "memory":
      if (m.gc) gc();
      return memory();
    case "allocations": {
      if (m.action === "start") {
        profiler = new Session();
        profiler.connect();
        await profiler.post("HeapProfiler.enable");
        await profiler.post("HeapProfiler.startSampling", { samplingInterval: 16384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: false } as object);
        return {};
      }
      const { profile } = (await profiler!.post("HeapProfiler.stopSampling")) as { profile: unknown };
      profiler!.disconnect();
      profiler = undefined;
      writeFileSync(m.path, JSON.stringify(profile));
      return { path: m.path };
    }
    case "heapSnapshot":
      gc();
      return { path: writeHeapSnapshot(m.path) };
    case "close":
      await server?.close();
      server = undefined;
      return {};
  }
}

process.on("message", (m: ServerCommand) => {
  handle(m).then(
    (answer) => {
      process.send!(answer);
      if (m.cmd === "close") process.disconnect();
    },
    (err: unknown) => process.send!({ error: String((err as Error)?.stack ?? err) }),
  );
});
