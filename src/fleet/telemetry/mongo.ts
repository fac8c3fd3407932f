import { MongoClient, MongoServerError, type AnyBulkWriteOperation, type Collection, type Db } from "mongodb";
import type { Environment } from "../../strategies/settings.js";
import { SampleRunsWriter, type SampleRuns } from "../../strategies/sample-runs.js";
import type { Heartbeat, HeartbeatMetrics, NodeLiveness, TelemetryOptions, TelemetryStore } from "../telemetry.js";
import { BucketSums, bucketCount, pointOf, type MetricPoint } from "./aggregate.js";

/**
 * Telemetry on MongoDB: samples in a time-series collection, which MongoDB stores in compressed
 * buckets per node (metaField) and expires by itself (expireAfterSeconds); liveness, one small
 * document per node, in a plain collection with a TTL index. Both are shared by every instance on
 * the database, so a heartbeat another instance shares over the channel is already here.
 *
 * Writes are batched: heartbeats arriving in the same turn of the event loop go out as one
 * insertMany and one bulkWrite, and each caller learns the batch's outcome.
 */
export const SAMPLES_TS = "fleet_samples_ts";
export const LIVENESS = "fleet_liveness";

interface SampleDoc extends HeartbeatMetrics {
  at: Date;
  meta: { nodeId: string; environment: Environment };
}

interface LivenessDoc extends Omit<NodeLiveness, "nodeId"> {
  _id: string;
  /** the instant of lastSeenAt as a Date, for the TTL index */
  recordedAt: Date;
}

const NAMESPACE_EXISTS = 48;
const DUPLICATE_KEY = 11000;

interface Pending {
  h: Heartbeat;
  done: (err?: unknown) => void;
}

export class MongoTelemetry implements TelemetryStore {
  readonly kind = "mongodb";
  private readonly samples: Collection<SampleDoc>;
  private readonly live: Collection<LivenessDoc>;
  private pending: Pending[] = [];
  /** the next batch, while it gathers (one turn of the event loop) */
  private scheduled: Promise<void> | null = null;
  /** the batch being written (never rejects: each caller gets its batch's outcome) */
  private inFlight: Promise<void> = Promise.resolve();

  private constructor(
    private readonly client: MongoClient | null,
    private readonly db: Db,
  ) {
    this.samples = db.collection<SampleDoc>(SAMPLES_TS);
    this.live = db.collection<LivenessDoc>(LIVENESS);
  }

  static async connect(url: string, dbName: string, options: TelemetryOptions): Promise<MongoTelemetry> {
    const client = new MongoClient(url);
    await client.connect();
    const t = new MongoTelemetry(client, client.db(dbName));
    await t.ensure(options.retentionMs);
    return t;
  }

  /** Over a database someone else owns (tests): close() leaves the client open. */
  static async on(db: Db, options: TelemetryOptions): Promise<MongoTelemetry> {
    const t = new MongoTelemetry(null, db);
    await t.ensure(options.retentionMs);
    return t;
  }

  private async ensure(retentionMs: number): Promise<void> {
    const expireAfterSeconds = Math.max(1, Math.round(retentionMs / 1000));
    try {
      await this.db.createCollection(SAMPLES_TS, { timeseries: { timeField: "at", metaField: "meta", granularity: "seconds" }, expireAfterSeconds });
    } catch (err) {
      if (!(err instanceof MongoServerError && err.code === NAMESPACE_EXISTS)) throw err;
      // made by an earlier start, maybe with another retention
      await this.db.command({ collMod: SAMPLES_TS, expireAfterSeconds });
    }
    await this.samples.createIndex({ "meta.environment": 1, "meta.nodeId": 1, at: 1 }, { name: "environment_node_at" });
    await this.live.createIndex({ recordedAt: 1 }, { name: "ttl", expireAfterSeconds });
    await this.live.createIndex({ lastSeenAt: 1 }, { name: "last_seen" });
  }

  record(h: Heartbeat, shared = false): Promise<void> {
    // another instance on this database stored it already
    if (shared) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.pending.push({ h, done: (err) => (err ? reject(err) : resolve()) });
      this.scheduled ??= new Promise<void>((r) => setImmediate(r)).then(() => {
        this.scheduled = null;
        this.inFlight = this.inFlight.then(() => this.flush());
        return this.inFlight;
      });
    });
  }

  /** resolves once every heartbeat recorded so far is written (reads see their own writes) */
  private async settled(): Promise<void> {
    await this.scheduled;
    await this.inFlight;
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    try {
      await this.samples.insertMany(
        batch.map(({ h }) => ({ at: new Date(h.at), meta: { nodeId: h.nodeId, environment: h.environment }, ...h.metrics })),
        { ordered: false },
      );
      const ops: AnyBulkWriteOperation<LivenessDoc>[] = batch.map(({ h }) => ({
        updateOne: {
          // only a newer heartbeat replaces the liveness; an older one (late from elsewhere) is an
          // upsert that finds the _id taken: E11000, which means "already newer"
          filter: { _id: h.nodeId, $or: [{ lastHeartbeatAt: null }, { lastHeartbeatAt: { $lte: h.at } }] },
          update: {
            $set: { environment: h.environment, lastHeartbeatAt: h.at, metrics: h.metrics, reportedModules: h.modules },
            $max: { lastSeenAt: h.at, recordedAt: new Date(h.at) },
          },
          upsert: true,
        },
      }));
      await this.live.bulkWrite(ops, { ordered: false }).catch((err: unknown) => {
        const errors = (err as { writeErrors?: { code?: number }[] | { code?: number } }).writeErrors;
        const list = Array.isArray(errors) ? errors : errors ? [errors] : [];
        if (list.length === 0 || list.some((e) => e.code !== DUPLICATE_KEY)) throw err;
      });
      for (const p of batch) p.done();
    } catch (err) {
      for (const p of batch) p.done(err);
    }
  }

  async signOfLife(nodeId: string, environment: Environment, at: number): Promise<void> {
    await this.live.updateOne(
      { _id: nodeId },
      { $set: { environment }, $max: { lastSeenAt: at, recordedAt: new Date(at) }, $setOnInsert: { lastHeartbeatAt: null, metrics: null, reportedModules: null } },
      { upsert: true },
    );
  }

  async forget(nodeId: string): Promise<void> {
    await this.live.deleteOne({ _id: nodeId });
  }

  async liveness(nodeIds: readonly string[]): Promise<Map<string, NodeLiveness>> {
    const docs = await this.live.find({ _id: { $in: [...nodeIds] } }).toArray();
    return new Map(
      docs.map((d) => [
        d._id,
        { nodeId: d._id, environment: d.environment, lastSeenAt: d.lastSeenAt, lastHeartbeatAt: d.lastHeartbeatAt, metrics: d.metrics, reportedModules: d.reportedModules },
      ]),
    );
  }

  async silentAmong(nodeIds: readonly string[], cutoff: number): Promise<string[]> {
    // the stale and the never seen are what is asked, but only the seen can be queried for
    const docs = await this.live.find({ lastSeenAt: { $gt: cutoff } }, { projection: { _id: 1 } }).toArray();
    const seen = new Set(docs.map((d) => d._id));
    return nodeIds.filter((id) => !seen.has(id));
  }

  async samplesSince(environment: Environment, since: number): Promise<SampleRuns> {
    await this.settled();
    const docs = await this.samples
      .find({ "meta.environment": environment, at: { $gte: new Date(since) } })
      .sort({ "meta.nodeId": 1, at: 1 })
      .toArray();
    const w = new SampleRunsWriter(docs.length);
    for (const d of docs) w.add(d.meta.nodeId, d.at.getTime(), d.cpu, d.memory, d.latencyP95Ms, d.errorRate, d.requestRate);
    return w.finish();
  }

  /**
   * Grouped on the server, one document per step; the p95 is nearest-rank over the step's sorted
   * latencies ($sortArray), as the plain definition takes it. Sums are MongoDB's ($sum), so
   * averages may differ from the plain definition's in the last bits, not after rounding.
   */
  async series(environment: Environment, from: number, to: number, stepMs: number): Promise<MetricPoint[]> {
    await this.settled();
    interface Group {
      _id: number;
      count: number;
      cpu: number;
      memory: number;
      latency: number;
      errorRate: number;
      requestRate: number;
      cpuMax: number;
      memoryMax: number;
      errorRateMax: number;
      nodes: number;
      p95: number;
    }
    const groups = await this.samples
      .aggregate<Group>([
        { $match: { "meta.environment": environment, at: { $gte: new Date(from), $lt: new Date(to) } } },
        { $group: {
          _id: { $floor: { $divide: [{ $subtract: [{ $toLong: "$at" }, from] }, stepMs] } },
          count: { $sum: 1 },
          cpu: { $sum: "$cpu" },
          memory: { $sum: "$memory" },
          latency: { $sum: "$latencyP95Ms" },
          errorRate: { $sum: "$errorRate" },
          requestRate: { $sum: "$requestRate" },
          cpuMax: { $max: "$cpu" },
          memoryMax: { $max: "$memory" },
          errorRateMax: { $max: "$errorRate" },
          nodeIds: { $addToSet: "$meta.nodeId" },
          latencies: { $push: "$latencyP95Ms" },
        } },
        { $set: { nodes: { $size: "$nodeIds" }, latencies: { $sortArray: { input: "$latencies", sortBy: 1 } } } },
        { $set: { p95: { $arrayElemAt: ["$latencies", { $max: [0, { $subtract: [{ $ceil: { $multiply: [0.95, { $size: "$latencies" }] } }, 1] }] }] } } },
        { $project: { nodeIds: 0, latencies: 0 } },
      ], { allowDiskUse: true })
      .toArray();
    const byStep = new Map(groups.map((g) => [g._id, g]));
    return Array.from({ length: bucketCount(from, to, stepMs) }, (_, i) => {
      const start = from + i * stepMs;
      const g = byStep.get(i);
      const b = new BucketSums();
      if (g) Object.assign(b, { count: g.count, cpu: g.cpu, memory: g.memory, latency: g.latency, errorRate: g.errorRate, requestRate: g.requestRate, cpuMax: g.cpuMax, memoryMax: g.memoryMax, errorRateMax: g.errorRateMax, nodes: g.nodes });
      return pointOf(start, Math.min(to, start + stepMs), b, g ? g.p95 : NaN);
    });
  }

  async count(nodeId?: string): Promise<number> {
    await this.settled();
    return this.samples.countDocuments(nodeId === undefined ? {} : { "meta.nodeId": nodeId });
  }

  async close(): Promise<void> {
    await this.settled();
    await this.client?.close();
  }
}
