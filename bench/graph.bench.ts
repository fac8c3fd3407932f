// Knowledge graph figures (issue 14), on the in-memory read store:
// - queries over a fleet of 10,000 nodes x 200 modules x 5 versions (each node runs 20 of the
//   modules, so each module runs on ~1,000 nodes; every version is registered with 0-2
//   dependencies on other modules; 500 deployments with their node updates and installs on top):
//   impact of a module (all versions, and a range), the matrix now and at a past position, the
//   reference system's first Cypher example as a JSON pattern; p50/p99 over repeated queries;
// - the rate at which the graph projection rebuilds from a large synthetic log (1,000,000 events;
//   BENCH_GRAPH_EVENTS sets another size), events generated on the fly into replayInto.
// BENCH_GRAPH_NODES shrinks the fleet (default 10,000). BENCH_QUICK=1: 2,000 nodes, 60,000 events and
// fewer repetitions (the whole file in well under 40 s); every figure says its sizes in `conditions`.
// BENCH_GRAPH_PART=queries|rebuild runs one half (to profile it alone).
import { loadavg } from "node:os";
import type { RecordedEvent } from "../src/events/envelope.js";
import { Budget } from "../src/graph/budget.js";
import { impact } from "../src/graph/impact.js";
import { matrix } from "../src/graph/matrix.js";
import { runPattern, PatternSchema } from "../src/graph/pattern.js";
import { GraphReader, NOW } from "../src/graph/reader.js";
import { graphProjection } from "../src/projections/graph.js";
import type { Projection } from "../src/projections/projection.js";
import { replayInto } from "../src/projections/runner.js";
import { MemoryReadStore } from "../src/projections/store/memory.js";
import { emit } from "./emit.js";

const QUICK = process.env.BENCH_QUICK === "1";
const PART = process.env.BENCH_GRAPH_PART ?? "all";
const NODES = Number(process.env.BENCH_GRAPH_NODES ?? (QUICK ? 2_000 : 10_000));
/** repetitions of each timed query (a fifth when quick) */
const reps = (n: number) => (QUICK ? Math.max(5, Math.round(n / 5)) : n);
const MODULES = 200;
const VERSIONS = 5;
const PER_NODE = 20;
const DEPLOYMENTS = 500;
const REBUILD_EVENTS = Number(process.env.BENCH_GRAPH_EVENTS ?? (QUICK ? 60_000 : 1_000_000));
const ENVS = ["Development", "QA", "Staging", "Production"];
const T0 = Date.parse("2026-01-01T00:00:00.000Z");

const mod = (m: number) => `mod-${String(m).padStart(3, "0")}`;
const ver = (v: number) => `${1 + Math.floor(v / 2)}.${v % 2}.0`;
const node = (n: number) => `node-${String(n).padStart(5, "0")}`;
/** a small deterministic generator, so every run builds the same graph */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32);
}

function* fleetHistory(): Generator<RecordedEvent> {
  let position = 0;
  const revisions = new Map<string, number>();
  const ev = (streamId: string, type: string, data: Record<string, unknown>): RecordedEvent => {
    const revision = (revisions.get(streamId) ?? -1) + 1;
    revisions.set(streamId, revision);
    position++;
    const at = new Date(T0 + position * 100).toISOString();
    return {
      type,
      streamId,
      revision,
      position,
      data: { ...data, at },
      metadata: { eventId: "00000000-0000-4000-8000-000000000000", occurredAt: at, actor: { kind: "system", id: "bench" }, correlationId: "b", causationId: "b", schemaVersion: 1, tenantId: "default" },
    };
  };
  const random = rng(14);
  for (let m = 0; m < MODULES; m++) {
    for (let v = 0; v < VERSIONS; v++) {
      const deps = Array.from({ length: m === 0 ? 0 : Math.floor(random() * 3) }, () => ({ name: mod(Math.floor(random() * m)), range: `>=1.0.0` }));
      yield ev(`module-${mod(m)}`, "ModuleVersionRegistered", {
        name: mod(m), version: ver(v), digest: `sha256:${m}-${v}`, size: 1000, description: null, dependencies: deps,
        signature: { source: "none", der: null }, certificates: null, registeredBy: "deployer",
      });
    }
  }
  const runs: Map<string, number>[] = [];
  for (let n = 0; n < NODES; n++) {
    const modules: Record<string, string> = {};
    const mine = new Map<string, number>();
    for (let k = 0; k < PER_NODE; k++) {
      const m = (n * 7 + k * 10) % MODULES;
      const v = Math.floor(random() * VERSIONS);
      modules[mod(m)] = ver(v);
      mine.set(mod(m), v);
    }
    runs.push(mine);
    yield ev(`node-${node(n)}`, "NodeRegistered", { nodeId: node(n), environment: ENVS[n % ENVS.length], hostname: node(n), capacity: { cpuCores: 4, memoryMb: 8192 }, labels: {}, modules });
  }
  for (let d = 0; d < DEPLOYMENTS; d++) {
    const executionId = `dep-${d}`;
    const env = d % ENVS.length;
    const n0 = Math.floor(random() * (NODES / ENVS.length)) * ENVS.length + env;
    const m = [...runs[n0]!.keys()][Math.floor(random() * PER_NODE)]!;
    const v = Math.floor(random() * VERSIONS);
    const stream = `deployment-${executionId}`;
    yield ev(stream, "DeploymentRequested", {
      executionId, moduleName: m, version: ver(v), targetEnvironment: ENVS[env], strategy: "Rolling", requesterEmail: "a@b.c", requestedBy: "deployer",
      description: null, requiresApproval: false, approvalExpiresAt: null,
    });
    yield ev(stream, "DeploymentPlanned", {});
    for (let k = 0; k < 20; k++) {
      const n = (n0 + k * ENVS.length) % NODES;
      if (!runs[n]!.has(m)) continue;
      yield ev(stream, "NodeUpdated", { nodeId: node(n), assignmentId: `${executionId}:${node(n)}:1`, version: ver(v) });
      yield ev(`node-${node(n)}`, "ModuleInstalled", { nodeId: node(n), moduleName: m, version: ver(v), assignmentId: `${executionId}:${node(n)}:1`, durationMs: 5 });
      runs[n]!.set(m, v);
    }
    // the last fifth stay in flight
    if (d < DEPLOYMENTS * 0.8) yield ev(stream, "DeploymentSucceeded", { message: "ok" });
  }
}

/** A long log for the rebuild rate: node installs and deployment updates dominate, as in production. */
function* longLog(total: number): Generator<RecordedEvent> {
  const random = rng(7);
  let position = 0;
  const ev = (streamId: string, type: string, data: Record<string, unknown>): RecordedEvent => {
    position++;
    const at = new Date(T0 + position * 10).toISOString();
    return { type, streamId, revision: 0, position, data: { ...data, at }, metadata: { eventId: "00000000-0000-4000-8000-000000000000", occurredAt: at, actor: { kind: "system", id: "bench" }, correlationId: "b", causationId: "b", schemaVersion: 1, tenantId: "default" } };
  };
  const nodes = Math.min(NODES, 10_000);
  for (let n = 0; n < nodes && position < total; n++) {
    const modules: Record<string, string> = {};
    for (let k = 0; k < 5; k++) modules[mod((n + k * 40) % MODULES)] = ver(0);
    yield ev(`node-${node(n)}`, "NodeRegistered", { nodeId: node(n), environment: ENVS[n % 4], hostname: node(n), capacity: { cpuCores: 4, memoryMb: 8192 }, labels: {}, modules });
  }
  let d = 0;
  while (position < total) {
    const executionId = `long-${d++}`;
    const m = mod(Math.floor(random() * MODULES));
    const v = ver(Math.floor(random() * VERSIONS));
    const stream = `deployment-${executionId}`;
    yield ev(stream, "DeploymentRequested", { executionId, moduleName: m, version: v, targetEnvironment: "QA", strategy: "Rolling", requesterEmail: "a@b.c", requestedBy: "deployer", description: null, requiresApproval: false, approvalExpiresAt: null });
    yield ev(stream, "DeploymentPlanned", {});
    for (let k = 0; k < 50 && position < total; k++) {
      const n = node(Math.floor(random() * nodes));
      yield ev(stream, "NodeUpdated", { nodeId: n, assignmentId: `${executionId}:${n}:1`, version: v });
      yield ev(`node-${n}`, "ModuleInstalled", { nodeId: n, moduleName: m, version: v, assignmentId: `${executionId}:${n}:1`, durationMs: 5 });
      if (random() < 0.2) yield ev(`node-${n}`, "NodeBecameUnhealthy", { nodeId: n, lastSeenAt: new Date(T0).toISOString(), reason: "quiet" });
    }
    yield ev(stream, "DeploymentSucceeded", { message: "ok" });
  }
}

async function build(events: Iterable<RecordedEvent>) {
  const store = new MemoryReadStore({ ttlIntervalMs: 0 });
  for (const index of graphProjection.indexes) await store.collection(graphProjection.collection).ensureIndex(index);
  await replayInto(store, events, [graphProjection as unknown as Projection], 500);
  return store;
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.max(0, Math.ceil((p / 100) * xs.length) - 1)]!;
async function timeIt(name: string, runs: number, conditions: Record<string, unknown>, fn: (i: number) => Promise<unknown>) {
  await fn(-1); // warm
  const ms: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const c = process.cpuUsage();
    await fn(i);
    const used = process.cpuUsage(c);
    ms.push(performance.now() - t);
    cpu.push((used.user + used.system) / 1000);
  }
  emit(`${name}.p50`, pct(ms, 50), "ms", { ...conditions, runs });
  emit(`${name}.p99`, pct(ms, 99), "ms", { ...conditions, runs });
  // CPU time of the process (GC threads included): what the query costs when the machine is shared
  emit(`${name}.cpu.p50`, pct(cpu, 50), "ms", { ...conditions, runs });
  emit(`${name}.cpu.p99`, pct(cpu, 99), "ms", { ...conditions, runs });
}

async function queries() {
  const started = performance.now();
  // generated as it is applied, like the rebuild below: the events (and what the projection keyed to
  // them) go once applied, so the heap the queries run in holds the read model and little else
  let historyLength = 0;
  const store = await build((function* () {
    for (const e of fleetHistory()) {
      historyLength++;
      yield e;
    }
  })());
  const buildSecs = (performance.now() - started) / 1000;
  const reader = new GraphReader(store);
  const docs = await store.collection("graph").count();
  // the build machine is shared: the load average says how much of a core these figures had
  const fleet = { nodes: NODES, modules: MODULES, versions: VERSIONS, modulesPerNode: PER_NODE, deployments: DEPLOYMENTS, events: historyLength, graphDocuments: docs, store: "memory", quick: QUICK, loadavg: Number(loadavg()[0]!.toFixed(1)) };
  emit("graph.build.fleet", historyLength / buildSecs, "events/s", fleet);

  const random = rng(99);
  const pick = () => mod(Math.floor(random() * MODULES));
  let nodesSeen = 0;
  const impactRuns = reps(200);
  await timeIt("graph.impact", impactRuns, { ...fleet, version: "all" }, async () => {
    const a = await impact(reader, { module: pick(), maxDepth: 6 }, { at: NOW }, new Budget("bench"));
    nodesSeen += a.nodes.length;
  });
  emit("graph.impact.nodes_per_answer", nodesSeen / (impactRuns + 1), "nodes", fleet);
  await timeIt("graph.impact", reps(200), { ...fleet, version: ">=2.0.0" }, () => impact(reader, { module: pick(), version: ">=2.0.0", maxDepth: 6 }, { at: NOW }, new Budget("bench")));
  const middle = Math.floor(historyLength * 0.9);
  await timeIt("graph.impact", reps(50), { ...fleet, version: "all", at: "past position" }, () => impact(reader, { module: pick(), maxDepth: 6 }, { at: middle }, new Budget("bench")));
  await timeIt("graph.matrix", reps(30), { ...fleet, at: "now" }, () => matrix(reader, NOW));
  await timeIt("graph.matrix", reps(30), { ...fleet, at: "past position", position: middle }, () => matrix(reader, middle));
  // the reference system's examples (docs/graph.md), as JSON patterns
  const pattern = (name: string, runs: number, text: string, p: unknown) => {
    const parsed = PatternSchema.parse(p);
    let rows = 0;
    return timeIt(`graph.query.${name}`, runs, { ...fleet, pattern: text }, async () => {
      rows = (await runPattern(reader, parsed, { at: NOW }, new Budget("bench"))).count;
    }).then(() => emit(`graph.query.${name}.rows`, rows, "rows", { ...fleet, pattern: text }));
  };
  // MATCH (n:Node)-[:RUNS]->(m:Module {name: 'payment-processor'}) RETURN n
  await pattern("cypher1", reps(100), "Module:mod-042 -HAS_VERSION-> -RUN_BY-> n", { start: { type: "Module", id: mod(42) }, steps: [{ edge: "HAS_VERSION" }, { edge: "RUN_BY", as: "n" }], return: ["n"], limit: 10_000 });
  // MATCH (d:Deployment)-[:TARGETS*]->(n:Node {environment: 'Production'}) RETURN d, n: every
  // Production deployment x every Production node is 125 x 2,500 pairs here, past the 10,000
  // partial results a pattern may hold (400 by design), so one deployment's, and the form that
  // asks which nodes the deployments actually reached
  await pattern("cypher2", reps(100), "Deployment:dep-3 -TARGETS-> -HAS_MEMBER-> n {environment: Production}", {
    start: { type: "Deployment", id: "dep-3", as: "d" },
    steps: [{ edge: "TARGETS" }, { edge: "HAS_MEMBER", as: "n", where: { type: "Node", where: { environment: "Production" } } }],
    return: ["d", "n"],
    limit: 10_000,
  });
  await pattern("cypher2_reached", reps(30), "Deployment d -UPDATED-> n {environment: Production}", {
    start: { type: "Deployment", as: "d" },
    steps: [{ edge: "UPDATED", as: "n", where: { type: "Node", where: { environment: "Production" } } }],
    return: ["d", "n"],
    limit: 10_000,
  });
}

if (PART !== "rebuild") await queries();

// rebuild rate from a long log
if (REBUILD_EVENTS <= 0 || PART === "queries") process.exit(0);
const t = performance.now();
const cpu0 = process.cpuUsage();
let n = 0;
const counted = (function* () {
  for (const e of longLog(REBUILD_EVENTS)) {
    n++;
    yield e;
  }
})();
const big = await build(counted);
if (process.env.BENCH_GRAPH_DEBUG) {
  const sized = (await big.collection("graph").find({})).map((d) => [JSON.stringify(d).length, d._id] as const).sort((a, b) => b[0] - a[0]);
  console.error(sized.slice(0, 8), sized.length, sized.reduce((n, [l]) => n + l, 0));
}
const secs = (performance.now() - t) / 1000;
const cpuUsed = process.cpuUsage(cpu0);
const cpuSecs = (cpuUsed.user + cpuUsed.system) / 1e6;
const rebuilt = { events: n, nodes: Math.min(NODES, 10_000), quick: QUICK, graphDocuments: await big.collection("graph").count(), batchSize: 500, source: "generator", store: "memory", loadavg: Number(loadavg()[0]!.toFixed(1)), heapMiB: Math.round(process.memoryUsage().heapUsed / 2 ** 20) };
emit("graph.rebuild", n / secs, "events/s", rebuilt);
// per second of the process's CPU (GC threads included): what a shared machine does not distort
emit("graph.rebuild.cpu", n / cpuSecs, "events/cpu-s", rebuilt);
