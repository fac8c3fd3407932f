// The ring-buffer telemetry store against the plain definition of its answers, over random sample
// streams: several nodes in two environments, gaps the fleet's pacing allows (or not), arrivals
// out of order (another instance's heartbeats come late), the same instant recorded twice.
//   - metrics series: every step the store says is exact (after the newest sample a ring let go
//     of) equals aggregateSamples over everything recorded, bit for bit
//   - with the pacing kept and in-order arrival, nothing inside the raw window is ever let go of:
//     samplesSince there equals the plain filter, and the health analysis gives the same verdict
//   - older steps come from the minute tier: counts, node counts and maxima exact, averages to the
//     rounding, p95 latency within the histogram's 2 %
import fc from "fast-check";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Heartbeat } from "../../src/fleet/telemetry.js";
import { aggregateSamples, bySampleOrder } from "../../src/fleet/telemetry/aggregate.js";
import { RingTelemetry } from "../../src/fleet/telemetry/ring.js";
import { analyzeNodeSet, type MetricSample } from "../../src/strategies/health-analysis.js";
import type { Environment } from "../../src/strategies/settings.js";
import { defaultSettings } from "../../src/strategies/settings.js";
import { samplesOf } from "../../src/strategies/sample-runs.js";

const test = suite("ring-buffer telemetry = the plain definition");
const T0 = Date.parse("2026-06-01T12:00:00.000Z");
const RETENTION = 3_600_000;

interface Stream {
  intervalMs: number;
  arrivals: Heartbeat[];
}

const value = (max: number) => fc.oneof(fc.integer({ min: 0, max: Math.floor(max) }), fc.double({ min: 0, max, noNaN: true, noDefaultInfinity: true }), fc.constantFrom(0, max, 0.1, 0.0005));
const metricsArb = fc.record({ cpu: value(100), memory: value(100), latencyP95Ms: value(5000), errorRate: value(1), requestRate: value(1e6) });

/**
 * `paced`: gaps of at least half the interval (what the fleet accepts) and arrivals in time order;
 * else any gap and some arrivals swapped with the one before. `duplicates`: some instants recorded twice.
 */
function streamArb(opts: { paced: boolean; duplicates: boolean; minSamples: number; maxSamples: number; gapMax: number }): fc.Arbitrary<Stream> {
  return fc
    .record({
      intervalMs: fc.constantFrom(2000, 5000, 10_000),
      nodes: fc.array(fc.record({ id: fc.constantFrom("a", "B", "aa", "node-1", "node-10", "node-2", "z"), env: fc.constantFrom<Environment>("QA", "Production"), start: fc.integer({ min: 0, max: 120_000 }) }), { minLength: 1, maxLength: 5 }),
      seed: fc.integer(),
      counts: fc.array(fc.integer({ min: opts.minSamples, max: opts.maxSamples }), { minLength: 5, maxLength: 5 }),
      gaps: fc.array(fc.double({ min: 0, max: opts.gapMax, noNaN: true }), { minLength: 64, maxLength: 64 }),
      values: fc.array(metricsArb, { minLength: 32, maxLength: 32 }),
      swaps: fc.array(fc.nat(), { maxLength: opts.paced ? 0 : 20 }),
      dups: fc.array(fc.nat(), { maxLength: opts.duplicates ? 6 : 0 }),
    })
    .map(({ intervalMs, nodes, counts, gaps, values, swaps, dups }) => {
      const seen = new Set<string>();
      const all: Heartbeat[] = [];
      nodes.forEach((n, k) => {
        if (seen.has(n.id)) return; // one environment per node id
        seen.add(n.id);
        let at = T0 + n.start;
        for (let i = 0; i < counts[k]!; i++) {
          const g = gaps[(i * 7 + k) % gaps.length]!;
          // paced: at least half the interval apart; else anything from 1 ms
          at += opts.paced ? Math.ceil(intervalMs / 2 + g * intervalMs) : 1 + Math.floor(g * intervalMs);
          all.push({ nodeId: n.id, environment: n.env, at, metrics: values[(i * 3 + k) % values.length]!, modules: null });
        }
      });
      all.sort((x, y) => x.at - y.at);
      for (const s of swaps) {
        const i = 1 + (s % Math.max(1, all.length - 1));
        if (i < all.length) [all[i - 1], all[i]] = [all[i]!, all[i - 1]!];
      }
      for (const d of dups) {
        const h = all[d % all.length]!;
        all.splice(Math.min(all.length, (d % all.length) + 1 + (d % 3)), 0, { ...h, metrics: values[d % values.length]! });
      }
      return { intervalMs, arrivals: all };
    });
}

/** What a store keyed by node and instant holds after these arrivals: the last values of each. */
function plain(arrivals: Heartbeat[]): Map<Environment, MetricSample[]> {
  const byKey = new Map<string, Heartbeat>();
  for (const h of arrivals) byKey.set(`${h.nodeId}\n${h.at}`, h);
  const out = new Map<Environment, MetricSample[]>();
  for (const h of byKey.values()) out.set(h.environment, [...(out.get(h.environment) ?? []), { nodeId: h.nodeId, at: h.at, ...h.metrics }]);
  return out;
}

function fill(stream: Stream, analysisWindowMs = 60_000): RingTelemetry {
  const store = new RingTelemetry({ retentionMs: RETENTION, heartbeatIntervalMs: stream.intervalMs, analysisWindowMs });
  for (const h of stream.arrivals) store.recordNow(h);
  return store;
}

const queryArb = fc.record({ from: fc.integer({ min: -120_000, max: 600_000 }), span: fc.integer({ min: 1000, max: 1_800_000 }), steps: fc.integer({ min: 1, max: 120 }) });

test("every step the store calls exact equals aggregateSamples over what was recorded", async () => {
  await fc.assert(
    fc.asyncProperty(fc.oneof({ arbitrary: streamArb({ paced: false, duplicates: true, minSamples: 1, maxSamples: 100, gapMax: 1.2 }), weight: 1 }, { arbitrary: streamArb({ paced: false, duplicates: true, minSamples: 150, maxSamples: 500, gapMax: 1.2 }), weight: 3 }), queryArb, async (stream, q) => {
      const store = fill(stream);
      const expected = plain(stream.arrivals);
      const from = T0 + q.from;
      const step = Math.max(1, Math.ceil(q.span / q.steps));
      const to = from + q.span;
      for (const env of ["QA", "Production"] as const) {
        const got = await store.series(env, from, to, step);
        const want = aggregateSamples(expected.get(env) ?? [], from, to, step);
        const evicted = store.evictedUpTo(env);
        const first = want.findIndex((_, i) => from + i * step > evicted);
        assert.equal(got.slice(first < 0 ? got.length : first), want.slice(first < 0 ? want.length : first));
      }
    }),
    { numRuns: 200 },
  );
});

test("paced, in order: nothing inside the raw window is let go of; samplesSince and the health verdict there are the plain ones", async () => {
  const thresholds = defaultSettings.Production.thresholds;
  await fc.assert(
    fc.asyncProperty(streamArb({ paced: true, duplicates: true, minSamples: 1, maxSamples: 400, gapMax: 3 }), fc.integer({ min: 10_000, max: 150_000 }), async (stream, windowMs) => {
      const store = fill(stream, windowMs);
      const expected = plain(stream.arrivals);
      for (const env of ["QA", "Production"] as const) {
        const samples = expected.get(env) ?? [];
        if (!samples.length) continue;
        const newest = Math.max(...samples.map((s) => s.at));
        assert.ok(store.evictedUpTo(env) < newest - store.settings.rawWindowMs, "a sample inside the raw window was let go of");
        // what the deployment runner reads: twice the analysis window back
        const since = newest - 2 * windowMs;
        const got = samplesOf(await store.samplesSince(env, since));
        const want = samples.filter((s) => s.at >= since);
        assert.equal([...got].sort(bySampleOrder), want.sort(bySampleOrder));
        const perNode = (list: MetricSample[]) => {
          const m = new Map<string, MetricSample[]>();
          for (const s of list) m.set(s.nodeId, [...(m.get(s.nodeId) ?? []), s]);
          return m;
        };
        // each node's samples in time order, as the analysis reads them
        for (const list of perNode(got).values()) assert.equal(list, [...list].sort((a, b) => a.at - b.at));
        const [subject, baseline] = [perNode(got.filter((s) => s.nodeId < "n")), got.filter((s) => s.nodeId >= "n")];
        const [wantSubject, wantBaseline] = [perNode(want.filter((s) => s.nodeId < "n")), want.filter((s) => s.nodeId >= "n")];
        if (subject.size) assert.equal(analyzeNodeSet(subject, baseline, thresholds), analyzeNodeSet(wantSubject, wantBaseline.sort((a, b) => a.at - b.at), thresholds));
      }
    }),
    { numRuns: 150 },
  );
});

test("older steps, from the minute tier: counts, node counts and maxima exact, averages to the rounding, p95 within 2 %", async () => {
  await fc.assert(
    fc.asyncProperty(streamArb({ paced: false, duplicates: false, minSamples: 150, maxSamples: 500, gapMax: 1.2 }), fc.integer({ min: 0, max: 15 }), fc.integer({ min: 1, max: 5 }), async (stream, fromMinute, stepMinutes) => {
      const store = fill(stream);
      const expected = plain(stream.arrivals);
      const from = Math.floor(T0 / 60_000) * 60_000 + fromMinute * 60_000;
      const step = stepMinutes * 60_000;
      const to = from + 12 * step;
      for (const env of ["QA", "Production"] as const) {
        const got = await store.series(env, from, to, step);
        const want = aggregateSamples(expected.get(env) ?? [], from, to, step);
        got.forEach((g, i) => {
          const w = want[i]!;
          assert.equal([g.from, g.to, g.sampleCount, g.nodeCount, g.cpu?.max, g.memory?.max, g.errorRate?.max], [w.from, w.to, w.sampleCount, w.nodeCount, w.cpu?.max, w.memory?.max, w.errorRate?.max]);
          for (const k of ["cpu", "memory", "latencyP95Ms", "errorRate", "requestRate"] as const) {
            const [a, e] = [g[k]?.avg, w[k]?.avg];
            assert.ok(a === e || Math.abs(a! - e!) <= 0.001 + 1e-9 * Math.abs(e!), `${k} avg ${a} vs ${e}`);
          }
          if (w.latencyP95Ms) {
            const [a, e] = [g.latencyP95Ms!.p95, w.latencyP95Ms.p95];
            assert.ok(a >= e - 0.001 && a <= Math.max(e * 1.02, 0.01) + 0.001, `p95 ${a} vs ${e}`);
          }
        });
      }
    }),
    { numRuns: 150 },
  );
});

test("a node faster than its interval grows its ring, up to what the raw window needs at the fleet's fastest pace", () => {
  const store = new RingTelemetry({ retentionMs: RETENTION, heartbeatIntervalMs: 10_000, analysisWindowMs: 60_000 });
  const { initialCapacity, maxCapacity, rawWindowMs } = store.settings;
  assert.ok(maxCapacity > initialCapacity);
  const metrics = { cpu: 1, memory: 1, latencyP95Ms: 1, errorRate: 0, requestRate: 0 };
  // every 5 s (the pacing's limit) for three raw windows
  for (let at = T0; at < T0 + 3 * rawWindowMs; at += 5000) store.recordNow({ nodeId: "fast", environment: "QA", at, metrics, modules: null });
  assert.ok(store.evictedUpTo("QA") < T0 + 2 * rawWindowMs, "the last raw window is whole");
});

// Liveness keeps the last heartbeat's metrics as numbers and a repeated modules record as the one
// it had: what it answers must be what the newest heartbeat (by time) said, whatever arrived since.
test("liveness: the newest heartbeat's metrics and modules, over repeats, changes and late arrivals", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.record({ dt: fc.integer({ min: -20_000, max: 20_000 }), metrics: metricsArb, modules: fc.option(fc.constantFrom<Record<string, string>>({ "net-filter": "1.0.0" }, { "net-filter": "1.1.0" }, { "net-filter": "1.0.0", dns: "2" }, { dns: "2", "net-filter": "1.0.0" }), { nil: null }) }), { minLength: 1, maxLength: 12 }),
      async (beats) => {
        const store = new RingTelemetry({ retentionMs: RETENTION });
        let newest: { at: number; metrics: unknown; modules: unknown } | undefined;
        let at = T0 + 100_000;
        for (const b of beats) {
          at += b.dt;
          // fresh objects each time, as each request parses its own
          await store.record({ nodeId: "n", environment: "QA", at, metrics: { ...b.metrics }, modules: b.modules && { ...b.modules } });
          if (!newest || at >= newest.at) newest = { at, metrics: b.metrics, modules: b.modules };
          const live = (await store.liveness(["n"])).get("n")!;
          assert.is(live.lastHeartbeatAt, newest.at);
          assert.equal(live.metrics, { ...(newest.metrics as object) });
          assert.is(JSON.stringify(live.metrics), JSON.stringify(newest.metrics));
          assert.is(JSON.stringify(live.reportedModules), JSON.stringify(newest.modules));
        }
        await store.close();
      },
    ),
    { numRuns: 200 },
  );
});

test.run();
