import type { EventLog } from "../events/event-log.js";
import { loadStream, projectionFold } from "../events/snapshots.js";
import { streams } from "../events/streams.js";
import { CLUSTERS, clustersProjection, type ClusterDoc } from "../projections/clusters.js";
import { NODES, nodesProjection, type NodeDoc } from "../projections/nodes.js";
import type { Doc, ReadStore } from "../projections/store/port.js";
import type { Environment } from "../strategies/settings.js";
import { ENVIRONMENTS } from "./environments.js";
import { LIVENESS, SAMPLES, type LivenessDoc, type SampleDoc } from "./telemetry.js";

const ACTIVE_DEPLOYMENT = ["Pending", "PendingApproval", "Running", "Paused", "RollingBack"];

function moduleCounts(nodes: Pick<NodeDoc, "modules">[]) {
  const counts = new Map<string, Map<string, number>>();
  for (const n of nodes) {
    for (const [name, version] of Object.entries(n.modules)) {
      const versions = counts.get(name) ?? new Map<string, number>();
      versions.set(version, (versions.get(version) ?? 0) + 1);
      counts.set(name, versions);
    }
  }
  return [...counts.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([moduleName, versions]) => ({
      moduleName,
      versions: [...versions.entries()].map(([version, nodeCount]) => ({ version, nodeCount })).sort((a, b) => b.nodeCount - a.nodeCount || (a.version < b.version ? -1 : 1)),
    }));
}

async function activeDeployment(readStore: ReadStore, environment: Environment) {
  const [d] = await readStore
    .collection("deployments")
    .find({ targetEnvironment: environment, status: { $in: ACTIVE_DEPLOYMENT } }, { sort: { createdAt: -1 }, limit: 1 });
  if (!d) return null;
  return {
    executionId: String(d.executionId ?? d._id),
    moduleName: String(d.moduleName ?? ""),
    version: String(d.version ?? ""),
    strategy: String(d.strategy ?? ""),
    status: String(d.status),
    progress: typeof d.progress === "number" ? d.progress : null,
  };
}

export type ClusterHealth = "Healthy" | "Degraded" | "Down" | "Empty";

function clusterHealth(total: number, healthy: number): ClusterHealth {
  if (total === 0) return "Empty";
  return healthy === total ? "Healthy" : healthy === 0 ? "Down" : "Degraded";
}

function summary(environment: Environment, cluster: ClusterDoc | null, nodes: Pick<NodeDoc, "status" | "modules">[]) {
  const by = (s: NodeDoc["status"]) => nodes.filter((n) => n.status === s).length;
  return {
    environment,
    strategy: cluster?.strategy ?? null,
    thresholds: cluster?.thresholds ?? null,
    nodeCount: nodes.length,
    healthyCount: by("Healthy"),
    unhealthyCount: by("Unhealthy"),
    offlineCount: by("Offline"),
    health: clusterHealth(nodes.length, by("Healthy")),
    modules: moduleCounts(nodes),
  };
}

/** GET /api/v1/clusters: one entry per environment, in the fixed order. */
export async function listClusters(readStore: ReadStore) {
  const clusters = new Map((await readStore.collection<ClusterDoc>(CLUSTERS).find()).map((c) => [c.environment, c]));
  const nodes = await readStore.collection<NodeDoc>(NODES).find({}, { projection: { environment: 1, status: 1, modules: 1 } });
  return Promise.all(
    ENVIRONMENTS.map(async (env) => ({
      ...summary(env, clusters.get(env) ?? null, nodes.filter((n) => n.environment === env)),
      activeDeployment: await activeDeployment(readStore, env),
    })),
  );
}

/** A node as the log knows it. */
function nodeFromLog(n: NodeDoc) {
  return {
    nodeId: n.nodeId,
    hostname: n.hostname,
    status: n.status,
    statusSince: n.statusSince,
    registeredAt: n.registeredAt,
    modules: n.modules,
    labels: n.labels,
    color: n.color,
    capacity: n.capacity,
  };
}

/** A node now: what the log knows, and the latest telemetry (kept in the read store, not the log). */
function nodeView(n: NodeDoc, live: LivenessDoc | undefined) {
  return {
    ...nodeFromLog(n),
    lastHeartbeatAt: live?.lastHeartbeatAt ? new Date(live.lastHeartbeatAt).toISOString() : null,
    metrics: live?.metrics ?? null,
    reportedModules: live?.reportedModules ?? null,
  };
}

const byHostname = (a: NodeDoc, b: NodeDoc) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0);

/** GET /api/v1/clusters/{environment}: the cluster and every node, by hostname. */
export async function clusterDetail(readStore: ReadStore, environment: Environment) {
  const cluster = await readStore.collection<ClusterDoc>(CLUSTERS).get(environment);
  const nodes = (await readStore.collection<NodeDoc>(NODES).find({ environment })).sort(byHostname);
  const liveness = new Map((await readStore.collection<LivenessDoc>(LIVENESS).find({ environment })).map((l) => [l.nodeId, l]));
  return {
    ...summary(environment, cluster, nodes),
    activeDeployment: await activeDeployment(readStore, environment),
    nodes: nodes.map((n) => nodeView(n, liveness.get(n.nodeId))),
  };
}

/**
 * The cluster as it was at `at`, read from its own streams only: the cluster stream, and the
 * streams of every node that registered into this environment by then (found through the
 * NodeRegistered events, so nodes deregistered since are included). Each node's document is
 * the nodes projection folded over its stream (from a snapshot on long histories), which is
 * what replaying the whole log into a scratch store gives.
 *
 * Heartbeats, metrics and reported modules are telemetry kept in the read store for a while,
 * not events: they are left out rather than passed off as the past (the metrics route serves
 * what is retained). `position` is the newest event the answer folded, null when none.
 */
export async function clusterDetailAt(log: EventLog, readStore: ReadStore, environment: Environment, at: number) {
  const asOf = new Date(at).toISOString();
  const registered = await log.readAll({ filter: { eventTypes: ["NodeRegistered"] } });
  const nodeIds = new Set(
    registered
      .filter((e) => (e.data as { environment: string }).environment === environment && Date.parse(e.metadata.occurredAt) <= at)
      .map((e) => (e.data as { nodeId: string }).nodeId),
  );
  const [cluster, ...folded] = await Promise.all([
    loadStream(log, streams.cluster(environment), projectionFold(clustersProjection, environment), { untilTime: asOf, readStore }),
    ...[...nodeIds].map((id) => loadStream(log, streams.node(id), projectionFold(nodesProjection, id), { untilTime: asOf, readStore })),
  ]);
  const nodes = folded
    .map((f) => f.state)
    .filter((n): n is NodeDoc => n !== null && n.environment === environment)
    .sort(byHostname);
  const positions = [cluster!, ...folded].map((f) => f.position).filter((p): p is number => p !== null);
  return {
    ...summary(environment, cluster!.state as ClusterDoc | null, nodes),
    at: asOf,
    asOf,
    position: positions.length ? Math.max(...positions) : null,
    nodes: nodes.map(nodeFromLog),
  };
}

const round = (x: number) => Math.round(x * 1000) / 1000;

/** Nearest-rank percentile of unsorted values. */
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export interface MetricPoint {
  from: string;
  to: string;
  nodeCount: number;
  sampleCount: number;
  cpu: { avg: number; max: number } | null;
  memory: { avg: number; max: number } | null;
  latencyP95Ms: { p95: number; avg: number } | null;
  errorRate: { avg: number; max: number } | null;
  requestRate: { avg: number } | null;
}

/** Aggregates samples into [from, to) buckets of stepMs; empty buckets are kept (nodeCount 0, null figures). */
export function aggregateSamples(samples: Pick<SampleDoc, "nodeId" | "at" | "cpu" | "memory" | "latencyP95Ms" | "errorRate" | "requestRate">[], from: number, to: number, stepMs: number): MetricPoint[] {
  const buckets: (typeof samples)[] = Array.from({ length: Math.ceil((to - from) / stepMs) }, () => []);
  for (const s of samples) {
    if (s.at < from || s.at >= to) continue;
    buckets[Math.floor((s.at - from) / stepMs)]!.push(s);
  }
  return buckets.map((b, i) => {
    const start = from + i * stepMs;
    const point = { from: new Date(start).toISOString(), to: new Date(Math.min(to, start + stepMs)).toISOString(), nodeCount: new Set(b.map((s) => s.nodeId)).size, sampleCount: b.length };
    if (b.length === 0) return { ...point, cpu: null, memory: null, latencyP95Ms: null, errorRate: null, requestRate: null };
    const avg = (pick: (s: (typeof b)[number]) => number) => round(b.reduce((a, s) => a + pick(s), 0) / b.length);
    const max = (pick: (s: (typeof b)[number]) => number) => round(Math.max(...b.map(pick)));
    return {
      ...point,
      cpu: { avg: avg((s) => s.cpu), max: max((s) => s.cpu) },
      memory: { avg: avg((s) => s.memory), max: max((s) => s.memory) },
      latencyP95Ms: { p95: round(percentile(b.map((s) => s.latencyP95Ms), 95)), avg: avg((s) => s.latencyP95Ms) },
      errorRate: { avg: avg((s) => s.errorRate), max: max((s) => s.errorRate) },
      requestRate: { avg: avg((s) => s.requestRate) },
    };
  });
}

export async function clusterMetrics(readStore: ReadStore, environment: Environment, from: number, to: number, stepMs: number) {
  const samples = await readStore
    .collection<SampleDoc & Doc>(SAMPLES)
    .find({ environment, at: { $gte: from, $lt: to } }, { projection: { nodeId: 1, at: 1, cpu: 1, memory: 1, latencyP95Ms: 1, errorRate: 1, requestRate: 1 } });
  return { environment, from: new Date(from).toISOString(), to: new Date(to).toISOString(), stepMs, points: aggregateSamples(samples, from, to, stepMs) };
}
