import { z } from "zod";
import { CPU, ERROR_RATE, LATENCY_P95_MS, MEMORY, SAMPLE_FIELDS, SampleRunsWriter, type RowRange } from "./sample-runs.js";

/** One metrics reading of one node, as agents report it. */
export const MetricSampleSchema = z.object({
  nodeId: z.string().min(1),
  /** epoch ms */
  at: z.number(),
  cpu: z.number().min(0).max(100),
  memory: z.number().min(0).max(100),
  latencyP95Ms: z.number().min(0),
  errorRate: z.number().min(0).max(1),
  requestRate: z.number().min(0),
});
export type MetricSample = z.infer<typeof MetricSampleSchema>;

export const ThresholdsSchema = z.object({
  maxCpu: z.number().min(0).max(100),
  maxMemory: z.number().min(0).max(100),
  maxLatencyP95Ms: z.number().positive(),
  maxErrorRate: z.number().min(0).max(1),
  /** absolute increase of the error rate over the baseline's, e.g. 0.02 = two points */
  maxErrorRateIncrease: z.number().min(0).max(1),
  /** canary latency divided by baseline latency, e.g. 1.5 */
  maxLatencyIncreaseRatio: z.number().min(1),
  minSamplesPerNode: z.number().int().min(1),
});
export type Thresholds = z.infer<typeof ThresholdsSchema>;

export const MetricNameSchema = z.enum(["cpu", "memory", "latencyP95Ms", "errorRate", "errorRateIncrease", "latencyIncreaseRatio"]);
export type MetricName = z.infer<typeof MetricNameSchema>;

export const VerdictSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("stable"), reason: z.string() }),
  z.object({
    kind: z.literal("degraded"),
    nodeId: z.string(),
    metric: MetricNameSchema,
    value: z.number(),
    threshold: z.number(),
    reason: z.string(),
  }),
  z.object({ kind: z.literal("insufficient_data"), reason: z.string() }),
]);
export type Verdict = z.infer<typeof VerdictSchema>;

interface Means {
  cpu: number;
  memory: number;
  latencyP95Ms: number;
  errorRate: number;
}

function means(samples: readonly MetricSample[]): Means {
  // a running mean: samples that all sit exactly at a threshold average to exactly that value (a
  // plain sum / n can land a hair above it, 0.05 * 3 / 3 = 0.05000000000000001, and fail the wave)
  // One walk for the four (each mean's steps exactly as a walk of its own would take them): this
  // runs for every node of a wave at each check, and a helper closure per call costs a
  // defineProperty of its name under tsx, how the server runs.
  let cpu = 0;
  let memory = 0;
  let latencyP95Ms = 0;
  let errorRate = 0;
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i]!;
    cpu += (s.cpu - cpu) / (i + 1);
    memory += (s.memory - memory) / (i + 1);
    latencyP95Ms += (s.latencyP95Ms - latencyP95Ms) / (i + 1);
    errorRate += (s.errorRate - errorRate) / (i + 1);
  }
  return { cpu, memory, latencyP95Ms, errorRate };
}

/** means() of the rows of `ranges`, taken in order as one list: the same steps, the same result bit for bit. */
function meansOfRows(rows: Float64Array, ranges: readonly RowRange[]): Means {
  let cpu = 0;
  let memory = 0;
  let latencyP95Ms = 0;
  let errorRate = 0;
  let n = 0;
  for (const { from, to } of ranges) {
    for (let i = from; i < to; i++) {
      const o = i * SAMPLE_FIELDS;
      n++;
      cpu += (rows[o + CPU]! - cpu) / n;
      memory += (rows[o + MEMORY]! - memory) / n;
      latencyP95Ms += (rows[o + LATENCY_P95_MS]! - latencyP95Ms) / n;
      errorRate += (rows[o + ERROR_RATE]! - errorRate) / n;
    }
  }
  return { cpu, memory, latencyP95Ms, errorRate };
}

const round = (x: number) => Math.round(x * 10_000) / 10_000;

function degraded(nodeId: string, metric: MetricName, value: number, threshold: number, what: string): Verdict {
  return {
    kind: "degraded",
    nodeId,
    metric,
    value,
    threshold,
    reason: `node ${nodeId}: ${what} ${round(value)} exceeds the threshold ${threshold}`,
  };
}

/**
 * Judges one node from its recent samples. Absolute limits always apply; the comparisons with the
 * baseline (nodes still on the old version) only when there is a baseline. Means rather than single
 * readings, so one noisy sample neither fails nor passes a wave on its own.
 */
export function analyzeNode(samples: readonly MetricSample[], baseline: readonly MetricSample[], thresholds: Thresholds): Verdict {
  return judge(samples, baseline.length > 0 ? means(baseline) : null, thresholds);
}

/** analyzeNode with the baseline's means worked out once (a set of nodes shares one baseline). */
function judge(samples: readonly MetricSample[], b: Means | null, thresholds: Thresholds): Verdict {
  const nodeId = samples[0]?.nodeId ?? "unknown";
  return judgeMeans(nodeId, samples.length, samples.length < thresholds.minSamplesPerNode ? null : means(samples), b, thresholds);
}

/** A node's verdict from its sample count and means (null: too few samples to take them). */
function judgeMeans(nodeId: string, count: number, m: Means | null, b: Means | null, thresholds: Thresholds): Verdict {
  if (m === null) {
    return {
      kind: "insufficient_data",
      reason: `node ${nodeId}: ${count} sample(s), need at least ${thresholds.minSamplesPerNode}`,
    };
  }
  // Most telling first: errors hurt users, then latency, then resource pressure.
  if (m.errorRate > thresholds.maxErrorRate) return degraded(nodeId, "errorRate", m.errorRate, thresholds.maxErrorRate, "error rate");
  if (m.latencyP95Ms > thresholds.maxLatencyP95Ms) return degraded(nodeId, "latencyP95Ms", m.latencyP95Ms, thresholds.maxLatencyP95Ms, "p95 latency (ms)");
  if (b) {
    const increase = m.errorRate - b.errorRate;
    if (increase > thresholds.maxErrorRateIncrease) {
      return degraded(nodeId, "errorRateIncrease", increase, thresholds.maxErrorRateIncrease, `error rate increase over the baseline (${round(b.errorRate)})`);
    }
    if (b.latencyP95Ms > 0) {
      const ratio = m.latencyP95Ms / b.latencyP95Ms;
      if (ratio > thresholds.maxLatencyIncreaseRatio) {
        return degraded(nodeId, "latencyIncreaseRatio", ratio, thresholds.maxLatencyIncreaseRatio, `p95 latency ratio to the baseline (${round(b.latencyP95Ms)} ms)`);
      }
    }
  }
  if (m.cpu > thresholds.maxCpu) return degraded(nodeId, "cpu", m.cpu, thresholds.maxCpu, "CPU %");
  if (m.memory > thresholds.maxMemory) return degraded(nodeId, "memory", m.memory, thresholds.maxMemory, "memory %");
  return { kind: "stable", reason: `node ${nodeId}: ${count} samples within thresholds` };
}

/**
 * Judges a set of nodes: the first degraded node (by id) decides; otherwise any node without
 * enough data makes the whole set inconclusive; otherwise stable. The plain form of analyzeRunSet.
 */
export function analyzeNodeSet(
  samplesByNode: ReadonlyMap<string, readonly MetricSample[]> | Readonly<Record<string, readonly MetricSample[]>>,
  baselineSamples: readonly MetricSample[],
  thresholds: Thresholds,
): Verdict {
  // node ids are names from the fleet: walked as entries, never looked up on a plain object
  const entries = samplesByNode instanceof Map ? [...samplesByNode.entries()] : Object.entries(samplesByNode);
  const w = new SampleRunsWriter(entries.reduce((n, [, samples]) => n + samples.length, baselineSamples.length));
  const add = (nodeId: string, samples: readonly MetricSample[]): RowRange => {
    const from = w.rowCount;
    for (const s of samples) w.add(nodeId, s.at, s.cpu, s.memory, s.latencyP95Ms, s.errorRate, s.requestRate);
    return { from, to: w.rowCount };
  };
  const subject = new Map(entries.map(([nodeId, samples]) => [nodeId, add(nodeId, samples)]));
  const baseline = add("baseline", baselineSamples);
  return analyzeRunSet(w.finish().rows, subject, [baseline], thresholds);
}

/**
 * analyzeNodeSet over rows of samples (sample-runs.ts): each subject node's rows, and the baseline's
 * rows as ranges taken in order (their means as of one list of them all). What a wave's health check
 * runs on the fleet's samples, with no object per sample.
 */
export function analyzeRunSet(rows: Float64Array, subject: ReadonlyMap<string, RowRange>, baseline: readonly RowRange[], thresholds: Thresholds): Verdict {
  const byNode = [...subject.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (byNode.length === 0) return { kind: "insufficient_data", reason: "no nodes to analyze" };
  const missing: string[] = [];
  const baselineCount = baseline.reduce((n, r) => n + r.to - r.from, 0);
  // the baseline is the same for every node: its means once, not once per node (thousands of each)
  const b = baselineCount > 0 ? meansOfRows(rows, baseline) : null;
  for (const [nodeId, range] of byNode) {
    const count = range.to - range.from;
    const verdict = judgeMeans(nodeId, count, count < thresholds.minSamplesPerNode ? null : meansOfRows(rows, [range]), b, thresholds);
    if (verdict.kind === "degraded") return verdict;
    if (verdict.kind === "insufficient_data") missing.push(nodeId);
  }
  if (missing.length) {
    const shown = missing.slice(0, 5).join(", ") + (missing.length > 5 ? ` and ${missing.length - 5} more` : "");
    return { kind: "insufficient_data", reason: `not enough samples (need ${thresholds.minSamplesPerNode} per node) from ${shown}` };
  }
  const baselineNote = baselineCount ? ` compared with ${baselineCount} baseline samples` : " (no baseline: absolute limits only)";
  return { kind: "stable", reason: `${byNode.length} node(s) within thresholds${baselineNote}` };
}
