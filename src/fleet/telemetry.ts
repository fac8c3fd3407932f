import { z } from "zod";
import type { Environment } from "../strategies/settings.js";
import type { MetricSample } from "../strategies/health-analysis.js";
import type { Doc, ReadStore } from "../projections/store/port.js";

/**
 * Heartbeats and metric samples are telemetry, not events: they live only in the read store, as a
 * time series that expires after the retention period (TTL index on MongoDB, periodic prune in memory).
 */
export const SAMPLES = "fleet_samples";
/** latest heartbeat per node, what the heartbeat monitor watches */
export const LIVENESS = "fleet_liveness";

/** The metrics an agent reports; out-of-range, negative, NaN or infinite values are refused. */
export const HeartbeatMetricsSchema = z.strictObject({
  cpu: z.number().min(0).max(100),
  memory: z.number().min(0).max(100),
  latencyP95Ms: z.number().min(0).max(3_600_000),
  errorRate: z.number().min(0).max(1),
  requestRate: z.number().min(0).max(1e9),
});
export type HeartbeatMetrics = z.infer<typeof HeartbeatMetricsSchema>;

export interface SampleDoc extends Doc, HeartbeatMetrics {
  nodeId: string;
  environment: Environment;
  /** epoch ms, server time of receipt */
  at: number;
  /** the same instant as a Date, for the TTL index */
  recordedAt: Date;
}

export interface LivenessDoc extends Doc {
  nodeId: string;
  environment: Environment;
  /** epoch ms of the last heartbeat or registration */
  lastSeenAt: number;
  lastHeartbeatAt: number | null;
  metrics: HeartbeatMetrics | null;
  /** what the node said it runs in its last heartbeat */
  reportedModules: Record<string, string> | null;
  recordedAt: Date;
}

export async function ensureTelemetryIndexes(store: ReadStore, retentionMs: number): Promise<void> {
  const ttl = Math.max(1, Math.round(retentionMs / 1000));
  const samples = store.collection(SAMPLES);
  await samples.ensureIndex({ name: "ttl", keys: { recordedAt: 1 }, expireAfterSeconds: ttl });
  await samples.ensureIndex({ name: "environment_at", keys: { environment: 1, at: 1 } });
  await samples.ensureIndex({ name: "node_at", keys: { nodeId: 1, at: 1 } });
  // a node silent for the whole retention period is forgotten here too (it is Offline by then)
  await store.collection(LIVENESS).ensureIndex({ name: "ttl", keys: { recordedAt: 1 }, expireAfterSeconds: ttl });
}

export interface Heartbeat {
  nodeId: string;
  environment: Environment;
  at: number;
  metrics: HeartbeatMetrics;
  modules: Record<string, string> | null;
}

/**
 * Heartbeats reach one instance, but every instance's analysis and heartbeat monitor need them:
 * each instance publishes what it receives and records what the others publish.
 */
export const TELEMETRY_CHANNEL = "fleet:telemetry";

export async function recordHeartbeat(store: ReadStore, h: Heartbeat): Promise<void> {
  const recordedAt = new Date(h.at);
  await store.collection<SampleDoc>(SAMPLES).put({ _id: `${h.nodeId}:${h.at}`, nodeId: h.nodeId, environment: h.environment, at: h.at, recordedAt, ...h.metrics });
  await store.collection<LivenessDoc>(LIVENESS).put({
    _id: h.nodeId,
    nodeId: h.nodeId,
    environment: h.environment,
    lastSeenAt: h.at,
    lastHeartbeatAt: h.at,
    metrics: h.metrics,
    reportedModules: h.modules,
    recordedAt,
  });
}

/** Registration counts as a sign of life; keeps the last heartbeat if there was one. */
export async function recordSignOfLife(store: ReadStore, nodeId: string, environment: Environment, at: number): Promise<void> {
  const liveness = store.collection<LivenessDoc>(LIVENESS);
  const prev = await liveness.get(nodeId);
  await liveness.put({
    _id: nodeId,
    nodeId,
    environment,
    lastSeenAt: at,
    lastHeartbeatAt: prev?.lastHeartbeatAt ?? null,
    metrics: prev?.metrics ?? null,
    reportedModules: prev?.reportedModules ?? null,
    recordedAt: new Date(at),
  });
}

export function toMetricSample(d: SampleDoc): MetricSample {
  return { nodeId: d.nodeId, at: d.at, cpu: d.cpu, memory: d.memory, latencyP95Ms: d.latencyP95Ms, errorRate: d.errorRate, requestRate: d.requestRate };
}
