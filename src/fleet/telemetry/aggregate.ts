import type { MetricSample } from "../../strategies/health-analysis.js";

/** One step of GET /api/v1/clusters/{env}/metrics. */
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

const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** Nearest-rank percentile of values sorted ascending. */
export function nearestRank(sorted: ArrayLike<number>, p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/**
 * The canonical order of samples: by node id, then time. Sums of floating-point numbers depend on
 * their order, so every way of answering (the plain definition below, the ring buffers, a store
 * that returns samples in its own order) adds them in this one, and gets the same bits.
 */
export function bySampleOrder(a: Pick<MetricSample, "nodeId" | "at">, b: Pick<MetricSample, "nodeId" | "at">): number {
  return a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : a.at - b.at;
}

/** What one bucket adds up, filled by whoever walks the samples; `finish` makes the point. */
export class BucketSums {
  count = 0;
  cpu = 0;
  memory = 0;
  latency = 0;
  errorRate = 0;
  requestRate = 0;
  cpuMax = -Infinity;
  memoryMax = -Infinity;
  errorRateMax = -Infinity;
  nodes = 0;
  private lastNode: string | undefined;

  /** samples must come in the canonical order (node, then time) */
  add(s: MetricSample): void {
    this.addValues(s.nodeId, s.cpu, s.memory, s.latencyP95Ms, s.errorRate, s.requestRate);
  }

  /** add() without a sample object, for stores that keep the numbers apart */
  addValues(nodeId: string, cpu: number, memory: number, latency: number, errorRate: number, requestRate: number): void {
    this.count++;
    this.cpu += cpu;
    this.memory += memory;
    this.latency += latency;
    this.errorRate += errorRate;
    this.requestRate += requestRate;
    if (cpu > this.cpuMax) this.cpuMax = cpu;
    if (memory > this.memoryMax) this.memoryMax = memory;
    if (errorRate > this.errorRateMax) this.errorRateMax = errorRate;
    if (nodeId !== this.lastNode) {
      this.nodes++;
      this.lastNode = nodeId;
    }
  }
}

/** The point for [start, end) from a bucket's sums and its latencies' p95. */
export function pointOf(start: number, end: number, b: BucketSums, latencyP95: number): MetricPoint {
  const point = { from: new Date(start).toISOString(), to: new Date(end).toISOString(), nodeCount: b.nodes, sampleCount: b.count };
  if (b.count === 0) return { ...point, cpu: null, memory: null, latencyP95Ms: null, errorRate: null, requestRate: null };
  const avg = (sum: number) => round3(sum / b.count);
  return {
    ...point,
    cpu: { avg: avg(b.cpu), max: round3(b.cpuMax) },
    memory: { avg: avg(b.memory), max: round3(b.memoryMax) },
    latencyP95Ms: { p95: round3(latencyP95), avg: avg(b.latency) },
    errorRate: { avg: avg(b.errorRate), max: round3(b.errorRateMax) },
    requestRate: { avg: avg(b.requestRate) },
  };
}

/** How many buckets of stepMs cover [from, to). */
export const bucketCount = (from: number, to: number, stepMs: number) => Math.ceil((to - from) / stepMs);

/**
 * The plain definition of the metrics series: samples in [from, to) into buckets of stepMs (the
 * last one cut at `to`), each with sample and node counts, avg/max CPU, memory and error rate,
 * nearest-rank p95 and avg latency, avg request rate; empty buckets are kept with null figures.
 * Sums are taken in the canonical sample order. Every adapter's series must equal this.
 */
export function aggregateSamples(samples: readonly MetricSample[], from: number, to: number, stepMs: number): MetricPoint[] {
  const n = bucketCount(from, to, stepMs);
  const sums = Array.from({ length: n }, () => new BucketSums());
  const latencies: number[][] = Array.from({ length: n }, () => []);
  for (const s of [...samples].sort(bySampleOrder)) {
    if (s.at < from || s.at >= to) continue;
    const i = Math.floor((s.at - from) / stepMs);
    sums[i]!.add(s);
    latencies[i]!.push(s.latencyP95Ms);
  }
  return sums.map((b, i) => {
    const start = from + i * stepMs;
    const sorted = latencies[i]!.sort((x, y) => x - y);
    return pointOf(start, Math.min(to, start + stepMs), b, sorted.length ? nearestRank(sorted, 95) : NaN);
  });
}
