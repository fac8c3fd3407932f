// One health check of a canary wave, as the deployment runner makes it every checkIntervalMs while
// a wave is under analysis: the fleet view it reads (every node of the cluster and every sample of
// the analysis window, src/fleet/fleet-view.ts) and the process step that judges it
// (src/processes/deployment-process.ts). With the defaults (agents heartbeating every 10 s, a 120 s
// window), a 10,000-node cluster holds 12 samples a node in what the check reads, and the telemetry
// twice that (BENCH_ANALYSIS_READ_BACK=2 reads two windows back, as the runner did before stop 15).
// Both run on the event loop: nothing else is served while they do.
import { foldDeployment, initialDeploymentState } from "../src/commands/deployment.js";
import { openTelemetry, recordHeartbeat } from "../src/fleet/telemetry.js";
import { fleetView } from "../src/fleet/fleet-view.js";
import { advance, samplesWantedSince } from "../src/processes/deployment-process.js";
import { NODES } from "../src/projections/nodes.js";
import { MemoryReadStore } from "../src/projections/store/memory.js";
import { resolveSettings } from "../src/strategies/settings.js";
import { bigDeployment, T0, type Outcome } from "../test/helpers/deployment-nodes.js";
import { emit } from "./emit.js";
import { QUICK, sized } from "./quick.js";
import { SAMPLE_FIELDS } from "../src/strategies/sample-runs.js";

const NODE_COUNT = sized("BENCH_ANALYSIS_NODES", 10_000, 2_000);
const HEARTBEAT_MS = 10_000;
const ROUNDS = sized("BENCH_ANALYSIS_ROUNDS", 7, 3);
// a runner checks every checkIntervalMs for as long as a wave is analysed: the figure is the checks
// after the first few, which the compiler has not optimized yet (they take 2-4x as long)
const WARMUP_ROUNDS = sized("BENCH_ANALYSIS_WARMUP", 5, 3);
const settings = resolveSettings("Production", {});
const WINDOW_MS = settings.analysisWindowMs;
const READ_BACK_WINDOWS = Number(process.env.BENCH_ANALYSIS_READ_BACK ?? 1);
// the telemetry holds two windows of samples, as the rings keep them raw
const PER_NODE = (2 * WINDOW_MS) / HEARTBEAT_MS;
const MODULE = "netfilter-ext";

// the first of four waves installed and under analysis; the rest still on the old version (the baseline)
const outcomes: Outcome[] = Array.from({ length: NODE_COUNT }, (_, i) => (i < NODE_COUNT / 4 ? "updated" : "pending"));
const big = bigDeployment("6f1c1d7e-0000-4000-8000-0000000a1a15", outcomes, { deployStage: true });
const state = foldDeployment(initialDeploymentState, big.events);
if (state.waves[0]?.status !== "analyzing") throw new Error(`analysis bench: the first wave is ${state.waves[0]?.status}, not analyzing`);
// a minute after the wave was installed: its first check is due, well before any deadline
const now = T0 + 60_000;
// what the runner asks for (src/processes/deployment-runner.ts, observe), or further back
const since = READ_BACK_WINDOWS === 1 ? samplesWantedSince(state, now) : now - READ_BACK_WINDOWS * WINDOW_MS;

const readStore = new MemoryReadStore();
await openTelemetry(readStore, { retentionMs: 3_600_000, heartbeatIntervalMs: HEARTBEAT_MS, analysisWindowMs: WINDOW_MS });
const nodes = readStore.collection(NODES);
for (let i = 0; i < NODE_COUNT; i++) {
  const nodeId = big.nodeIds[i]!;
  await nodes.put({ _id: nodeId, nodeId, environment: "Production", status: "Healthy", modules: { [MODULE]: i < NODE_COUNT / 4 ? "2.0.0" : "1.0.0" }, lastPosition: 1 });
}
const metrics = { cpu: 30, memory: 40, latencyP95Ms: 60, errorRate: 0.001, requestRate: 100 };
for (let k = PER_NODE - 1; k >= 0; k--) {
  for (const nodeId of big.nodeIds) await recordHeartbeat(readStore, { nodeId, environment: "Production", at: now - k * HEARTBEAT_MS, metrics, modules: null });
}

const read: number[] = [];
const judged: number[] = [];
let samples = 0;
for (let r = 0; r < WARMUP_ROUNDS + ROUNDS; r++) {
  const t0 = performance.now();
  const view = await fleetView(readStore, "Production", MODULE, since);
  const t1 = performance.now();
  const step = advance(state, { ...view, mayStart: true }, now);
  const t2 = performance.now();
  if (step.events[0]?.type !== "HealthCheckRecorded") throw new Error(`analysis bench: the step decided ${step.events.map((e) => e.type).join(", ") || "nothing"}`);
  if (r < WARMUP_ROUNDS) continue;
  read.push(t1 - t0);
  judged.push(t2 - t1);
  samples = view.samples.rows.length / SAMPLE_FIELDS;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const conditions = {
  ...(QUICK && { quick: true }),
  nodes: NODE_COUNT,
  samplesRead: samples,
  samplesHeldPerNode: PER_NODE,
  readBackWindows: READ_BACK_WINDOWS,
  heartbeatIntervalMs: HEARTBEAT_MS,
  analysisWindowMs: WINDOW_MS,
  wave: "first of four under analysis, the rest the baseline",
  telemetry: "ring buffers (embedded)",
  rounds: ROUNDS,
  warmupRounds: WARMUP_ROUNDS,
  figure: "median of rounds (after the warm-up rounds)",
};
emit("analysis.check.fleet_view", median(read), "ms", { ...conditions, note: "fleetView: every node and every sample read back" });
emit("analysis.check.judge", median(judged), "ms", { ...conditions, note: "the process step that records the check (advance)" });
emit("analysis.check.total", median(read.map((x, i) => x + judged[i]!)), "ms", { ...conditions, note: "one check of a wave on the event loop, read and judged" });
