import { z } from "zod";
import type { Clock } from "../platform/clock.js";
import type { ReadStore } from "../projections/store/port.js";
import type { Environment } from "../strategies/settings.js";
import type { MetricSample } from "../strategies/health-analysis.js";
import type { SampleRuns } from "../strategies/sample-runs.js";
import type { MetricPoint } from "./telemetry/aggregate.js";
import { RingTelemetry } from "./telemetry/ring.js";

export type { MetricPoint, MetricSample };

/** The metrics an agent reports; out-of-range, negative, NaN or infinite values are refused. */
export const HeartbeatMetricsSchema = z.strictObject({
  cpu: z.number().min(0).max(100),
  memory: z.number().min(0).max(100),
  latencyP95Ms: z.number().min(0).max(3_600_000),
  errorRate: z.number().min(0).max(1),
  requestRate: z.number().min(0).max(1e9),
});
export type HeartbeatMetrics = z.infer<typeof HeartbeatMetricsSchema>;

export interface Heartbeat {
  nodeId: string;
  environment: Environment;
  /** epoch ms, server time of receipt */
  at: number;
  metrics: HeartbeatMetrics;
  modules: Record<string, string> | null;
}

/** What is known of a node's life from telemetry: the heartbeat monitor and the node views read it. */
export interface NodeLiveness {
  nodeId: string;
  environment: Environment;
  /** epoch ms of the last heartbeat or registration */
  lastSeenAt: number;
  lastHeartbeatAt: number | null;
  metrics: HeartbeatMetrics | null;
  /** what the node said it runs in its last heartbeat */
  reportedModules: Record<string, string> | null;
}

/**
 * The telemetry port. Heartbeats and metric samples are telemetry, not events: kept for the
 * retention period and then forgotten, never in the log. The embedded default keeps them in
 * compact per-node ring buffers (src/fleet/telemetry/ring.ts); in production a MongoDB time-series
 * collection (src/fleet/telemetry/mongo.ts). test/contracts/telemetry.ts holds both to the same
 * answers.
 */
export interface TelemetryStore {
  readonly kind: string;
  /**
   * Keeps a heartbeat: one sample, and the node's liveness. `shared`: received from another
   * instance over TELEMETRY_CHANNEL, which already stored it wherever stores are shared.
   */
  record(h: Heartbeat, shared?: boolean): Promise<void>;
  /** A registration counts as a sign of life; the last heartbeat, if any, stays. */
  signOfLife(nodeId: string, environment: Environment, at: number): Promise<void>;
  /** A deregistered node: no liveness any more (its samples stay until they expire). */
  forget(nodeId: string): Promise<void>;
  /** the liveness of those of `nodeIds` that have any */
  liveness(nodeIds: readonly string[]): Promise<Map<string, NodeLiveness>>;
  /** those of `nodeIds` not seen (heartbeat or registration) after `cutoff`, in their order */
  silentAmong(nodeIds: readonly string[], cutoff: number): Promise<string[]>;
  /** samples of the environment's nodes taken at or after `since`: a run of rows per node, in time order within it */
  samplesSince(environment: Environment, since: number): Promise<SampleRuns>;
  /** the metrics series over [from, to) in steps of stepMs (the plain definition: aggregateSamples) */
  series(environment: Environment, from: number, to: number, stepMs: number): Promise<MetricPoint[]>;
  /** samples held, of one node or of all */
  count(nodeId?: string): Promise<number>;
  close(): Promise<void>;
}

export interface TelemetryOptions {
  /** how long samples and liveness are kept (TELEMETRY_RETENTION_SECONDS) */
  retentionMs: number;
  /** what agents are told to keep to; the fleet's pacing refuses heartbeats sooner than half of it */
  heartbeatIntervalMs?: number;
  /** the longest health-analysis window of any environment: the runner reads that far back, the rings keep twice that raw */
  analysisWindowMs?: number;
  /** MONGODB_URL: samples in a time-series collection there; unset, the ring buffers in memory */
  mongodbUrl?: string;
  mongodbDb?: string;
  /** the retention timer's clock (the embedded store prunes once a minute, like MongoDB's TTL monitor) */
  clock?: Clock;
}

/**
 * Heartbeats reach one instance, but every instance's analysis and heartbeat monitor need them:
 * each instance publishes what it receives and records what the others publish.
 */
export const TELEMETRY_CHANNEL = "fleet:telemetry";

/**
 * Telemetry lives beside the read store it belongs to: the code that holds a ReadStore (the
 * deployment runner, the heartbeat monitor, the agent routes, the queries) reaches it through
 * that store, and openTelemetry (at fleet start) chooses its adapter. A store nobody opened
 * telemetry for gets ring buffers with the defaults and no retention timer.
 */
const attached = new WeakMap<ReadStore, TelemetryStore>();

export function telemetryOf(readStore: ReadStore): TelemetryStore {
  let t = attached.get(readStore);
  if (!t) attached.set(readStore, (t = new RingTelemetry()));
  return t;
}

/** Opens (or reconfigures) the telemetry kept beside `readStore`; close it when the fleet stops. */
export async function openTelemetry(readStore: ReadStore, options: TelemetryOptions): Promise<TelemetryStore> {
  const current = attached.get(readStore);
  if (options.mongodbUrl) {
    // loaded only when configured: the embedded default never pays for the driver
    const { MongoTelemetry } = await import("./telemetry/mongo.js");
    const t = await MongoTelemetry.connect(options.mongodbUrl, options.mongodbDb ?? "korch", options);
    await current?.close();
    attached.set(readStore, t);
    return t;
  }
  if (current instanceof RingTelemetry) {
    current.configure(options);
    return current;
  }
  await current?.close();
  const t = new RingTelemetry(options);
  attached.set(readStore, t);
  return t;
}

export function recordHeartbeat(readStore: ReadStore, h: Heartbeat, shared = false): Promise<void> {
  return telemetryOf(readStore).record(h, shared);
}

/** Registration counts as a sign of life; keeps the last heartbeat if there was one. */
export function recordSignOfLife(readStore: ReadStore, nodeId: string, environment: Environment, at: number): Promise<void> {
  return telemetryOf(readStore).signOfLife(nodeId, environment, at);
}
