import type { MetricSample } from "./health-analysis.js";

/**
 * Metric samples as rows of numbers, one run of rows per node: what the telemetry answers a health
 * check with. A check reads a whole cluster's analysis window (130,000 samples at 10,000 nodes with
 * the defaults); as objects that was ~650 ns and one young-generation object a sample, most of the
 * check. Rows are one Float64Array for all of them and a run object per node.
 *
 * A row is SAMPLE_FIELDS numbers: at (epoch ms), cpu, memory, latencyP95Ms, errorRate, requestRate.
 * Each node has at most one run, its rows in time order.
 */
export interface SampleRuns {
  readonly rows: Float64Array;
  readonly runs: readonly SampleRun[];
}

/** One node's samples: rows [from, to) of SampleRuns.rows. */
export interface SampleRun {
  readonly nodeId: string;
  readonly from: number;
  readonly to: number;
}

/** Rows [from, to), of one node or several runs' (a baseline). */
export interface RowRange {
  readonly from: number;
  readonly to: number;
}

export const SAMPLE_FIELDS = 6;
export const AT = 0;
export const CPU = 1;
export const MEMORY = 2;
export const LATENCY_P95_MS = 3;
export const ERROR_RATE = 4;
export const REQUEST_RATE = 5;

export const NO_SAMPLES: SampleRuns = Object.freeze({ rows: new Float64Array(0), runs: Object.freeze([]) });

/**
 * Fills SampleRuns of a known number of rows, a node's samples after one another, in time order
 * (the stores' own order: the ring keeps each node's in time order, MongoDB sorts them so).
 */
export class SampleRunsWriter {
  private readonly rows: Float64Array;
  private readonly runs: SampleRun[] = [];
  private row = 0;
  private runNode: string | undefined;
  private runFrom = 0;

  constructor(capacity: number) {
    this.rows = new Float64Array(capacity * SAMPLE_FIELDS);
  }

  /** rows written so far */
  get rowCount(): number {
    return this.row;
  }

  add(nodeId: string, at: number, cpu: number, memory: number, latencyP95Ms: number, errorRate: number, requestRate: number): void {
    if (nodeId !== this.runNode) this.startRun(nodeId);
    const o = this.row * SAMPLE_FIELDS;
    const r = this.rows;
    r[o + AT] = at;
    r[o + CPU] = cpu;
    r[o + MEMORY] = memory;
    r[o + LATENCY_P95_MS] = latencyP95Ms;
    r[o + ERROR_RATE] = errorRate;
    r[o + REQUEST_RATE] = requestRate;
    this.row++;
  }

  /** `count` rows already laid out as SampleRuns rows (a ring's stretch), copied at once. */
  addRows(nodeId: string, source: Float64Array, sourceRow: number, count: number): void {
    if (count === 0) return;
    if (nodeId !== this.runNode) this.startRun(nodeId);
    this.rows.set(source.subarray(sourceRow * SAMPLE_FIELDS, (sourceRow + count) * SAMPLE_FIELDS), this.row * SAMPLE_FIELDS);
    this.row += count;
  }

  private startRun(nodeId: string): void {
    this.endRun();
    this.runNode = nodeId;
    this.runFrom = this.row;
  }

  private endRun(): void {
    if (this.runNode !== undefined && this.row > this.runFrom) this.runs.push({ nodeId: this.runNode, from: this.runFrom, to: this.row });
  }

  finish(): SampleRuns {
    this.endRun();
    this.runNode = undefined;
    // rows past the last written (a capacity not filled) belong to no run: nothing reads them
    return { rows: this.rows, runs: this.runs };
  }
}

/** The plain form's samples as runs: grouped by node (in order of each node's first sample), in time order within a node. */
export function sampleRunsOf(samples: readonly MetricSample[]): SampleRuns {
  const byNode = new Map<string, MetricSample[]>();
  for (const s of samples) {
    const mine = byNode.get(s.nodeId);
    if (mine) mine.push(s);
    else byNode.set(s.nodeId, [s]);
  }
  const w = new SampleRunsWriter(samples.length);
  for (const mine of byNode.values()) {
    // stable: samples of one instant keep their order
    for (const s of mine.sort((a, b) => a.at - b.at)) w.add(s.nodeId, s.at, s.cpu, s.memory, s.latencyP95Ms, s.errorRate, s.requestRate);
  }
  return w.finish();
}

/** Every sample as an object, run after run: the plain form, for tests and tools. */
export function samplesOf(samples: SampleRuns): MetricSample[] {
  const out: MetricSample[] = [];
  const r = samples.rows;
  for (const run of samples.runs) {
    for (let i = run.from; i < run.to; i++) {
      const o = i * SAMPLE_FIELDS;
      out.push({ nodeId: run.nodeId, at: r[o + AT]!, cpu: r[o + CPU]!, memory: r[o + MEMORY]!, latencyP95Ms: r[o + LATENCY_P95_MS]!, errorRate: r[o + ERROR_RATE]!, requestRate: r[o + REQUEST_RATE]! });
    }
  }
  return out;
}

/** The rows of `run` taken after `after` and at or before `upTo` (a run is in time order: one stretch of it). */
export function rowsBetween(rows: Float64Array, run: RowRange, after: number, upTo: number): RowRange {
  return { from: firstRowAfter(rows, run, after), to: firstRowAfter(rows, run, upTo) };
}

function firstRowAfter(rows: Float64Array, run: RowRange, at: number): number {
  let lo = run.from;
  let hi = run.to;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (rows[mid * SAMPLE_FIELDS + AT]! <= at) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
