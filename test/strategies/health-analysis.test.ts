import fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { analyzeNode, analyzeNodeSet, analyzeRunSet, type MetricSample, type Thresholds } from "../../src/strategies/health-analysis.js";
import { sampleRunsOf, type RowRange } from "../../src/strategies/sample-runs.js";
import { defaultSettings } from "../../src/strategies/settings.js";

// production defaults: maxErrorRate 0.05, maxLatencyP95Ms 500, minSamplesPerNode 3, ...
const thresholds: Thresholds = defaultSettings.Production.thresholds;

/** Samples whose every value stays inside the absolute limits and close to a baseline level. */
const calm = (nodeId: string, base: { latency: number; errorRate: number }) =>
  fc.record({
    at: fc.integer({ min: 0, max: 1_000_000 }),
    cpu: fc.double({ min: 0, max: thresholds.maxCpu, noNaN: true }),
    memory: fc.double({ min: 0, max: thresholds.maxMemory, noNaN: true }),
    // within +/-20% of the baseline latency and within the error-rate allowance
    latencyP95Ms: fc.double({ min: base.latency * 0.8, max: Math.min(base.latency * 1.2, thresholds.maxLatencyP95Ms), noNaN: true }),
    errorRate: fc.double({ min: base.errorRate, max: Math.min(base.errorRate + 0.019, thresholds.maxErrorRate), noNaN: true }),
    requestRate: fc.double({ min: 0, max: 1000, noNaN: true }),
  }).map((s): MetricSample => ({ nodeId, ...s }));

const level = fc.record({ latency: fc.double({ min: 20, max: 400, noNaN: true }), errorRate: fc.double({ min: 0, max: 0.03, noNaN: true }) });
const baselineAt = (b: { latency: number; errorRate: number }, n: number): MetricSample[] =>
  Array.from({ length: n }, (_, i) => ({ nodeId: `base-${i}`, at: i, cpu: 30, memory: 40, latencyP95Ms: b.latency, errorRate: b.errorRate, requestRate: 10 }));

test("property: noise within thresholds never flips a stable verdict", () => {
  fc.assert(
    fc.property(level, fc.integer({ min: 3, max: 30 }), fc.boolean(), (b, count, withBaseline) =>
      fc.assert(
        fc.property(fc.array(calm("n1", b), { minLength: count, maxLength: count }), (samples) => {
          const verdict = analyzeNode(samples, withBaseline ? baselineAt(b, 5) : [], thresholds);
          assert.is(verdict.kind, "stable", verdict.reason);
          assert.ok(verdict.reason.length > 0);
        }),
        { numRuns: 5 },
      ),
    ),
    { numRuns: 60 },
  );
});

test("property: an error-rate jump over the threshold always yields degraded", () => {
  fc.assert(
    fc.property(
      level,
      fc.integer({ min: 3, max: 20 }),
      fc.double({ min: 0.0201, max: 0.9, noNaN: true }),
      fc.boolean(),
      (b, count, jump, withBaseline) => {
        const errorRate = withBaseline ? Math.min(1, b.errorRate + jump) : Math.min(1, thresholds.maxErrorRate + jump);
        const samples = Array.from({ length: count }, (_, i): MetricSample => ({
          nodeId: "n7",
          at: i,
          cpu: 20,
          memory: 20,
          latencyP95Ms: b.latency,
          errorRate,
          requestRate: 5,
        }));
        const verdict = analyzeNode(samples, withBaseline ? baselineAt(b, 4) : [], thresholds);
        assert.is(verdict.kind, "degraded");
        if (verdict.kind === "degraded") {
          assert.is(verdict.nodeId, "n7");
          assert.ok(verdict.metric === "errorRate" || verdict.metric === "errorRateIncrease", verdict.metric);
          assert.ok(verdict.value > verdict.threshold);
        }
      },
    ),
    { numRuns: 200 },
  );
});

test("property: fewer samples than minSamplesPerNode yields insufficient_data", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 20 }), level, (min, b) => {
      const t = { ...thresholds, minSamplesPerNode: min };
      return fc.assert(
        fc.property(fc.array(calm("n2", b), { maxLength: min - 1 }), (samples) => {
          const v = analyzeNode(samples, [], t);
          assert.is(v.kind, "insufficient_data");
          assert.ok(v.reason.length > 0);
        }),
        { numRuns: 3 },
      );
    }),
    { numRuns: 60 },
  );
});

test("a node set: degraded beats missing data, missing data beats stable, empty is inconclusive", () => {
  const ok = (nodeId: string): MetricSample[] => [0, 1, 2].map((at) => ({ nodeId, at, cpu: 10, memory: 10, latencyP95Ms: 100, errorRate: 0, requestRate: 1 }));
  const hot = (nodeId: string): MetricSample[] => ok(nodeId).map((s) => ({ ...s, cpu: 99 }));
  assert.is(analyzeNodeSet({ a: ok("a"), b: ok("b") }, [], thresholds).kind, "stable");
  assert.is(analyzeNodeSet({ a: ok("a"), b: [] }, [], thresholds).kind, "insufficient_data");
  const v = analyzeNodeSet({ a: [], b: hot("b") }, [], thresholds);
  assert.equal(v.kind === "degraded" && [v.nodeId, v.metric, v.value, v.threshold], ["b", "cpu", 99, 85]);
  assert.is(analyzeNodeSet({}, [], thresholds).kind, "insufficient_data");
});

test("latency compared with the baseline", () => {
  const samples = [0, 1, 2].map((at): MetricSample => ({ nodeId: "c", at, cpu: 10, memory: 10, latencyP95Ms: 300, errorRate: 0, requestRate: 1 }));
  const baseline = baselineAt({ latency: 100, errorRate: 0 }, 3);
  const v = analyzeNode(samples, baseline, thresholds);
  assert.equal(v.kind === "degraded" && [v.metric, v.value, v.threshold], ["latencyIncreaseRatio", 3, 1.5]);
  assert.match(v.reason, /p95 latency ratio/);
  assert.is(analyzeNode(samples, [], thresholds).kind, "stable");
});

test("samples exactly at a threshold are within it (the mean is not nudged over by rounding)", () => {
  const at = (errorRate: number): MetricSample[] =>
    Array.from({ length: 3 }, (_, i) => ({ nodeId: "n1", at: i, cpu: 20, memory: 20, latencyP95Ms: 50, errorRate, requestRate: 5 }));
  assert.is(analyzeNode(at(thresholds.maxErrorRate), [], thresholds).kind, "stable");
  const over = analyzeNode(at(thresholds.maxErrorRate + 0.001), [], thresholds);
  assert.is(over.kind, "degraded");
});

/** The plain definition of a set's verdict: each node judged on its own, as analyzeNode does. */
function plainSet(byNode: Map<string, MetricSample[]>, baseline: MetricSample[], t: Thresholds) {
  const entries = [...byNode.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (entries.length === 0) return { kind: "insufficient_data", reason: "no nodes to analyze" };
  let missing: string[] = [];
  for (const [nodeId, samples] of entries) {
    const verdict = analyzeNode(samples, baseline, t);
    if (verdict.kind === "degraded") return verdict;
    if (verdict.kind === "insufficient_data") missing = [...missing, nodeId];
  }
  if (missing.length) {
    const shown = missing.slice(0, 5).join(", ") + (missing.length > 5 ? ` and ${missing.length - 5} more` : "");
    return { kind: "insufficient_data", reason: `not enough samples (need ${t.minSamplesPerNode} per node) from ${shown}` };
  }
  const note = baseline.length ? ` compared with ${baseline.length} baseline samples` : " (no baseline: absolute limits only)";
  return { kind: "stable", reason: `${entries.length} node(s) within thresholds${note}` };
}

/** one node's sample at a time from `at` */
const sampleArb = (nodeId: string, at: fc.Arbitrary<number>) =>
  fc
    .record({
      at,
      cpu: fc.double({ min: 0, max: 100, noNaN: true }),
      memory: fc.double({ min: 0, max: 100, noNaN: true }),
      latencyP95Ms: fc.double({ min: 0, max: 800, noNaN: true }),
      errorRate: fc.double({ min: 0, max: 0.1, noNaN: true }),
      requestRate: fc.double({ min: 0, max: 1000, noNaN: true }),
    })
    .map((x): MetricSample => ({ nodeId, ...x }));

test("property: a set's verdict (the baseline's means worked out once) equals judging every node on its own", () => {
  const sample = (nodeId: string) => sampleArb(nodeId, fc.nat());
  const nodeSamples = fc.integer({ min: 0, max: 9 }).chain((i) => fc.tuple(fc.constant(`n${i}`), fc.array(sample(`n${i}`), { maxLength: 4 })));
  fc.assert(
    fc.property(fc.array(nodeSamples, { maxLength: 12 }), fc.array(sample("base"), { maxLength: 6 }), fc.integer({ min: 1, max: 3 }), (nodes, baseline, minSamples) => {
      const t = { ...thresholds, minSamplesPerNode: minSamples };
      const byNode = new Map(nodes);
      assert.equal(analyzeNodeSet(byNode, baseline, t), plainSet(byNode, baseline, t));
    }),
    { numRuns: 500 },
  );
});

test("property: over rows (a run per node, the baseline as several nodes' ranges) the verdict is the plain one of the same samples as objects", () => {
  // few instants: samples of one node often share one
  const sample = (nodeId: string) => sampleArb(nodeId, fc.integer({ min: 0, max: 50 }));
  const node = (prefix: string) => fc.integer({ min: 0, max: 6 }).chain((i) => fc.tuple(fc.constant(`${prefix}${i}`), fc.array(sample(`${prefix}${i}`), { maxLength: 4 })));
  fc.assert(
    fc.property(fc.uniqueArray(node("n"), { selector: ([id]) => id, maxLength: 6 }), fc.uniqueArray(node("b"), { selector: ([id]) => id, maxLength: 5 }), fc.integer({ min: 1, max: 3 }), (subjects, bases, minSamples) => {
      const t = { ...thresholds, minSamplesPerNode: minSamples };
      // the stores' order: the nodes interleaved, each node's samples in time order
      const input = [...subjects, ...bases].flatMap(([, samples]) => samples).reverse();
      const runs = sampleRunsOf(input);
      const rangeOf = (nodeId: string): RowRange => runs.runs.find((r) => r.nodeId === nodeId) ?? { from: 0, to: 0 };
      const got = analyzeRunSet(runs.rows, new Map(subjects.map(([id]) => [id, rangeOf(id)])), bases.map(([id]) => rangeOf(id)), t);
      const ofNode = (id: string) => input.filter((x) => x.nodeId === id).sort((a, b) => a.at - b.at);
      assert.equal(got, plainSet(new Map(subjects.map(([id]) => [id, ofNode(id)])), bases.flatMap(([id]) => ofNode(id)), t));
    }),
    { numRuns: 500 },
  );
});

test("property: the means judged are the running means of each metric, exactly (one walk for all four)", () => {
  const sample = fc.record({
    at: fc.integer({ min: 0, max: 1000 }),
    cpu: fc.double({ min: 0, max: 100, noNaN: true }),
    memory: fc.double({ min: 0, max: 100, noNaN: true }),
    latencyP95Ms: fc.double({ min: 0, max: 5000, noNaN: true }),
    errorRate: fc.double({ min: 0, max: 1, noNaN: true }),
    requestRate: fc.constant(1),
  }).map((s): MetricSample => ({ nodeId: "n1", ...s }));
  const running = (xs: MetricSample[], pick: (s: MetricSample) => number) => xs.reduce((m, s, i) => m + (pick(s) - m) / (i + 1), 0);
  // each limit below every value in turn, the others out of reach: the verdict names that mean
  const never = { ...thresholds, maxCpu: 1e9, maxMemory: 1e9, maxLatencyP95Ms: 1e9, maxErrorRate: 2, minSamplesPerNode: 1 };
  fc.assert(
    fc.property(fc.array(sample, { minLength: 1, maxLength: 40 }), (samples) => {
      const value = (t: Thresholds) => {
        const v = analyzeNode(samples, [], t);
        return v.kind === "degraded" ? v.value : NaN;
      };
      assert.is(value({ ...never, maxErrorRate: -1 }), running(samples, (s) => s.errorRate));
      assert.is(value({ ...never, maxLatencyP95Ms: -1 }), running(samples, (s) => s.latencyP95Ms));
      assert.is(value({ ...never, maxCpu: -1 }), running(samples, (s) => s.cpu));
      assert.is(value({ ...never, maxMemory: -1 }), running(samples, (s) => s.memory));
    }),
  );
});
test.run();
