import type { Environment } from "../../strategies/settings.js";
import { SAMPLE_FIELDS, SampleRunsWriter, type SampleRuns } from "../../strategies/sample-runs.js";
import type { Heartbeat, HeartbeatMetrics, NodeLiveness, TelemetryOptions, TelemetryStore } from "../telemetry.js";
import { BucketSums, bucketCount, nearestRank, pointOf, type MetricPoint } from "./aggregate.js";

/**
 * The embedded telemetry store: fixed memory per node instead of a document per sample.
 *
 * Raw tier: each node's recent samples in one Float64Array ring (time + five metrics, 48 bytes a
 * sample), sized to hold the raw window (at least twice the longest health-analysis window, and
 * five minutes) at the agents' heartbeat interval. A node that heartbeats faster (the fleet's
 * pacing allows twice the interval) grows its ring, up to what the raw window needs at that pace,
 * so every sample inside the window is kept whatever the node does. Answers over the raw window
 * are exactly the plain definition (aggregate.ts), bit for bit.
 *
 * Minute tier: every sample is also added, as it arrives, into its environment's one-minute bucket
 * (count, sums, maxima, a node bitmap and a log-scale latency histogram), kept for the retention
 * period in a ring of buckets. Metrics steps older than what every node's ring still holds are
 * answered from it: counts, node counts, maxima exact, averages up to the order of the additions,
 * both exact when the step is whole minutes on minute boundaries (else attributed by the bucket's
 * start); the p95 latency within 2 % (the histogram's bin width).
 *
 * Retention: a timer (once a minute, like MongoDB's TTL monitor) drops samples older than the
 * retention period, minute buckets past it, and nodes silent for that long.
 */

/** at + cpu, memory, latencyP95Ms, errorRate, requestRate: a slot is a SampleRuns row */
const FIELDS = SAMPLE_FIELDS;
const MIN_RAW_WINDOW_MS = 5 * 60_000;
const DEFAULT_RETENTION_MS = 3_600_000;
const DEFAULT_INTERVAL_MS = 10_000;
const DEFAULT_ANALYSIS_WINDOW_MS = 2 * 60_000;
const PRUNE_EVERY_MS = 60_000;
const MINUTE = 60_000;
/** the most minute buckets a tier holds; longer retention gets coarser buckets */
const MAX_TIER_SLOTS = 1440;
// latency histogram: bin 0 below 0.01 ms, then bins 2 % wide up to the schema's maximum (3,600,000 ms)
const HIST_BASE = 0.01;
const HIST_RATIO = 1.02;
const HIST_LOG = Math.log(HIST_RATIO);
const HIST_BINS = 2 + Math.ceil(Math.log(3_600_000 / HIST_BASE) / HIST_LOG);

const histBin = (v: number) => (v < HIST_BASE ? 0 : Math.min(HIST_BINS - 1, 1 + Math.floor(Math.log(v / HIST_BASE) / HIST_LOG)));
const histUpper = (bin: number) => HIST_BASE * HIST_RATIO ** bin;

/** the same keys with the same values, in the same order (a heartbeat's modules, as its JSON would say) */
function sameRecord(a: Record<string, string> | null, b: Record<string, string> | null): boolean {
  if (a === b) return true;
  if (a === null || b === null) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i] || a[ka[i]!] !== b[kb[i]!]) return false;
  return true;
}

/** One node: its ring of recent samples and its liveness. */
class Series {
  /** [at, cpu, memory, latencyP95Ms, errorRate, requestRate] per slot; allocated at the first sample */
  data: Float64Array | null = null;
  head = 0;
  size = 0;
  /** false once deregistered (or silent past the retention): no liveness, samples until they expire */
  live = true;
  lastSeenAt = -Infinity;
  lastHeartbeatAt: number | null = null;
  /**
   * The last heartbeat's metrics as numbers, read while lastHeartbeatAt is set; liveness() builds
   * the object. Keeping each heartbeat's own object (and a new modules record) for the ten seconds
   * until the next one outlived the young generation: ~0.3 KiB of old-generation garbage per
   * heartbeat, which grew the heap between full collections under heartbeat load.
   */
  cpu = 0;
  memory = 0;
  latencyP95Ms = 0;
  errorRate = 0;
  requestRate = 0;
  /** what the node said it runs: the previous record while a heartbeat repeats it */
  modules: Record<string, string> | null = null;

  constructor(
    readonly nodeId: string,
    readonly environment: Environment,
    /** dense, never reused: a bit in the minute tier's node bitmaps */
    readonly index: number,
  ) {}

  get capacity(): number {
    return this.data ? this.data.length / FIELDS : 0;
  }

  /** the slot of the i-th oldest sample */
  slot(i: number): number {
    return (this.head + i) % this.capacity;
  }

  at(i: number): number {
    return this.data![this.slot(i) * FIELDS]!;
  }
}

/** One environment's one-minute (or coarser) buckets, a ring of them covering the retention. */
class Tier {
  readonly start: Float64Array;
  readonly count: Uint32Array;
  /** cpu, memory, latency, errorRate, requestRate */
  readonly sums: Float64Array;
  /** cpu, memory, errorRate, latency */
  readonly max: Float64Array;
  readonly hist: Uint32Array;
  words = 8;
  bits: Uint32Array;

  constructor(
    readonly bucketMs: number,
    readonly slots: number,
  ) {
    this.start = new Float64Array(slots).fill(NaN);
    this.count = new Uint32Array(slots);
    this.sums = new Float64Array(slots * 5);
    this.max = new Float64Array(slots * 4).fill(-Infinity);
    this.hist = new Uint32Array(slots * HIST_BINS);
    this.bits = new Uint32Array(slots * this.words);
  }

  /** the slot for `at`, cleared if it held an older bucket; -1 if it holds a newer one (`at` is past the retention) */
  private slotFor(at: number): number {
    const bucket = Math.floor(at / this.bucketMs);
    const slot = bucket % this.slots;
    const start = bucket * this.bucketMs;
    const held = this.start[slot]!;
    if (held === start) return slot;
    if (held > start) return -1;
    this.clear(slot);
    this.start[slot] = start;
    return slot;
  }

  clear(slot: number): void {
    this.start[slot] = NaN;
    this.count[slot] = 0;
    this.sums.fill(0, slot * 5, slot * 5 + 5);
    this.max.fill(-Infinity, slot * 4, slot * 4 + 4);
    this.hist.fill(0, slot * HIST_BINS, (slot + 1) * HIST_BINS);
    this.bits.fill(0, slot * this.words, (slot + 1) * this.words);
  }

  private ensureBits(index: number): void {
    if (index < this.words * 32) return;
    let words = this.words;
    while (index >= words * 32) words *= 2;
    const bits = new Uint32Array(this.slots * words);
    for (let s = 0; s < this.slots; s++) bits.set(this.bits.subarray(s * this.words, (s + 1) * this.words), s * words);
    this.bits = bits;
    this.words = words;
  }

  add(index: number, at: number, v: Float64Array, o: number): void {
    const slot = this.slotFor(at);
    if (slot < 0) return;
    this.count[slot]!++;
    const s = slot * 5;
    for (let k = 0; k < 5; k++) this.sums[s + k] = this.sums[s + k]! + v[o + k]!;
    const m = slot * 4;
    this.max[m] = Math.max(this.max[m]!, v[o]!);
    this.max[m + 1] = Math.max(this.max[m + 1]!, v[o + 1]!);
    this.max[m + 2] = Math.max(this.max[m + 2]!, v[o + 3]!);
    this.max[m + 3] = Math.max(this.max[m + 3]!, v[o + 2]!);
    this.hist[slot * HIST_BINS + histBin(v[o + 2]!)]!++;
    this.ensureBits(index);
    this.bits[slot * this.words + (index >>> 5)]! |= 1 << (index & 31);
  }

  /** a sample recorded again with other values (the same node and instant): the sums follow it */
  replace(at: number, old: Float64Array, o: number, v: Float64Array, vo: number): void {
    const bucket = Math.floor(at / this.bucketMs);
    const slot = bucket % this.slots;
    if (this.start[slot] !== bucket * this.bucketMs) return;
    const s = slot * 5;
    for (let k = 0; k < 5; k++) this.sums[s + k] = this.sums[s + k]! + (v[vo + k]! - old[o + k]!);
    const m = slot * 4;
    // a maximum cannot be taken back: it stays an upper bound
    this.max[m] = Math.max(this.max[m]!, v[vo]!);
    this.max[m + 1] = Math.max(this.max[m + 1]!, v[vo + 1]!);
    this.max[m + 2] = Math.max(this.max[m + 2]!, v[vo + 3]!);
    this.max[m + 3] = Math.max(this.max[m + 3]!, v[vo + 2]!);
    this.hist[slot * HIST_BINS + histBin(old[o + 2]!)]!--;
    this.hist[slot * HIST_BINS + histBin(v[vo + 2]!)]!++;
  }

  /** clears buckets that ended at or before `cutoff` */
  prune(cutoff: number): void {
    for (let slot = 0; slot < this.slots; slot++) {
      const start = this.start[slot]!;
      if (!Number.isNaN(start) && start + this.bucketMs <= cutoff) this.clear(slot);
    }
  }

  /** The point for [from, to) from the buckets starting in it (attributed by their start). */
  point(from: number, to: number, pointEnd: number): MetricPoint {
    const b = new BucketSums();
    const hist = new Uint32Array(HIST_BINS);
    const nodes = new Uint32Array(this.words);
    let latencyMax = -Infinity;
    for (let slot = 0; slot < this.slots; slot++) {
      const start = this.start[slot]!;
      if (!(start >= from && start < to) || this.count[slot] === 0) continue;
      const s = slot * 5;
      const m = slot * 4;
      b.count += this.count[slot]!;
      b.cpu += this.sums[s]!;
      b.memory += this.sums[s + 1]!;
      b.latency += this.sums[s + 2]!;
      b.errorRate += this.sums[s + 3]!;
      b.requestRate += this.sums[s + 4]!;
      b.cpuMax = Math.max(b.cpuMax, this.max[m]!);
      b.memoryMax = Math.max(b.memoryMax, this.max[m + 1]!);
      b.errorRateMax = Math.max(b.errorRateMax, this.max[m + 2]!);
      latencyMax = Math.max(latencyMax, this.max[m + 3]!);
      for (let h = 0; h < HIST_BINS; h++) hist[h]! += this.hist[slot * HIST_BINS + h]!;
      for (let w = 0; w < this.words; w++) nodes[w]! |= this.bits[slot * this.words + w]!;
    }
    for (let w = 0; w < this.words; w++) b.nodes += popcount(nodes[w]!);
    let p95 = NaN;
    if (b.count > 0) {
      const rank = Math.max(1, Math.ceil(0.95 * b.count));
      let seen = 0;
      for (let h = 0; h < HIST_BINS; h++) {
        seen += hist[h]!;
        if (seen >= rank) {
          p95 = Math.min(histUpper(h), latencyMax);
          break;
        }
      }
    }
    return pointOf(from, pointEnd, b, p95);
  }
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** One environment: its nodes in id order (the canonical order of sums), its minute tier. */
class EnvSeries {
  readonly nodes: Series[] = [];
  /**
   * The newest instant of any sample a ring of this environment let go of (to make room, or one
   * that arrived older than a full ring's oldest): steps after it are answered exactly from the rings.
   */
  evictedUpTo = -Infinity;
  tier: Tier | null = null;

  insert(s: Series): void {
    let lo = 0;
    let hi = this.nodes.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.nodes[mid]!.nodeId < s.nodeId) lo = mid + 1;
      else hi = mid;
    }
    this.nodes.splice(lo, 0, s);
  }

  remove(s: Series): void {
    const i = this.nodes.indexOf(s);
    if (i >= 0) this.nodes.splice(i, 1);
  }
}

export interface RingSizes {
  retentionMs: number;
  rawWindowMs: number;
  /** slots a node's ring starts with: the raw window at the heartbeat interval */
  initialCapacity: number;
  /** slots it may grow to: the raw window at the fastest pace the fleet accepts (half the interval) */
  maxCapacity: number;
  tierBucketMs: number;
  tierSlots: number;
}

export function ringSizes(options: Partial<TelemetryOptions> = {}): RingSizes {
  const retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
  const intervalMs = Math.max(1, options.heartbeatIntervalMs ?? DEFAULT_INTERVAL_MS);
  const analysisWindowMs = options.analysisWindowMs ?? DEFAULT_ANALYSIS_WINDOW_MS;
  const rawWindowMs = Math.min(retentionMs, Math.max(MIN_RAW_WINDOW_MS, 2 * analysisWindowMs, 4 * intervalMs));
  // +2: a window holds one sample more than it has intervals, and one arrives while the oldest leaves
  const initialCapacity = Math.ceil(rawWindowMs / intervalMs) + 2;
  const maxCapacity = Math.max(initialCapacity, Math.ceil(rawWindowMs / Math.max(1, Math.floor(intervalMs / 2))) + 2);
  const tierBucketMs = Math.max(MINUTE, Math.ceil(retentionMs / MAX_TIER_SLOTS / MINUTE) * MINUTE);
  const tierSlots = Math.ceil(retentionMs / tierBucketMs) + 2;
  return { retentionMs, rawWindowMs, initialCapacity, maxCapacity, tierBucketMs, tierSlots };
}

export class RingTelemetry implements TelemetryStore {
  readonly kind = "memory";
  private sizes: RingSizes;
  private readonly nodes = new Map<string, Series>();
  private readonly envs = new Map<Environment, EnvSeries>();
  private nextIndex = 0;
  private timer: NodeJS.Timeout | undefined;
  /** one sample's values, reused: no allocation per heartbeat */
  private readonly scratch = new Float64Array(5);

  constructor(options: Partial<TelemetryOptions> = {}) {
    this.sizes = ringSizes(options);
    this.configure(options);
  }

  /** New sizes apply to rings from now on; the minute tiers start over if their shape changed. */
  configure(options: Partial<TelemetryOptions>): void {
    const sizes = ringSizes(options);
    if (sizes.tierBucketMs !== this.sizes.tierBucketMs || sizes.tierSlots !== this.sizes.tierSlots) {
      for (const env of this.envs.values()) env.tier = null;
    }
    this.sizes = sizes;
    clearInterval(this.timer);
    this.timer = undefined;
    const clock = options.clock;
    if (clock) {
      this.timer = setInterval(() => this.prune(clock.now()), PRUNE_EVERY_MS);
      this.timer.unref();
    }
  }

  get settings(): Readonly<RingSizes> {
    return this.sizes;
  }

  private env(environment: Environment): EnvSeries {
    let e = this.envs.get(environment);
    if (!e) this.envs.set(environment, (e = new EnvSeries()));
    return e;
  }

  private seriesOf(nodeId: string, environment: Environment): Series {
    let s = this.nodes.get(nodeId);
    if (!s) {
      s = new Series(nodeId, environment, this.nextIndex++);
      this.nodes.set(nodeId, s);
      this.env(environment).insert(s);
    }
    return s;
  }

  async record(h: Heartbeat, _shared = false): Promise<void> {
    this.recordNow(h);
  }

  /** record() without the promise, for callers in a loop (and the bench's prefill) */
  recordNow(h: Heartbeat): void {
    const s = this.seriesOf(h.nodeId, h.environment);
    s.live = true;
    if (h.at > s.lastSeenAt) s.lastSeenAt = h.at;
    if (s.lastHeartbeatAt === null || h.at >= s.lastHeartbeatAt) {
      s.lastHeartbeatAt = h.at;
      s.cpu = h.metrics.cpu;
      s.memory = h.metrics.memory;
      s.latencyP95Ms = h.metrics.latencyP95Ms;
      s.errorRate = h.metrics.errorRate;
      s.requestRate = h.metrics.requestRate;
      if (!sameRecord(s.modules, h.modules)) s.modules = h.modules;
    }
    const v = this.scratch;
    v[0] = h.metrics.cpu;
    v[1] = h.metrics.memory;
    v[2] = h.metrics.latencyP95Ms;
    v[3] = h.metrics.errorRate;
    v[4] = h.metrics.requestRate;
    this.insert(s, h.at, v);
  }

  private insert(s: Series, at: number, v: Float64Array): void {
    const env = this.env(s.environment);
    const tier = (env.tier ??= new Tier(this.sizes.tierBucketMs, this.sizes.tierSlots));
    if (!s.data) s.data = new Float64Array(this.sizes.initialCapacity * FIELDS);
    // where it goes: after every sample older than it (out of order only when another instance's arrives late)
    let pos = s.size;
    while (pos > 0 && s.at(pos - 1) > at) pos--;
    if (pos > 0 && s.at(pos - 1) === at) {
      // the same node and instant again: replaces the sample, as a store keyed by both would
      const o = s.slot(pos - 1) * FIELDS + 1;
      tier.replace(at, s.data, o, v, 0);
      s.data.set(v, o);
      return;
    }
    tier.add(s.index, at, v, 0);
    if (s.size === s.capacity) {
      const newest = Math.max(at, s.at(s.size - 1));
      if (s.at(0) >= newest - this.sizes.rawWindowMs && s.capacity < this.sizes.maxCapacity) {
        this.grow(s);
      } else if (pos === 0) {
        // older than everything a full ring holds: the minute tier has it, the ring cannot
        env.evictedUpTo = Math.max(env.evictedUpTo, at);
        return;
      } else {
        env.evictedUpTo = Math.max(env.evictedUpTo, s.at(0));
        s.head = (s.head + 1) % s.capacity;
        s.size--;
        pos--;
      }
    }
    // shift the samples after pos one slot on (none in the usual, in-order case)
    const d = s.data;
    for (let i = s.size; i > pos; i--) d.copyWithin(s.slot(i) * FIELDS, s.slot(i - 1) * FIELDS, s.slot(i - 1) * FIELDS + FIELDS);
    const o = s.slot(pos) * FIELDS;
    d[o] = at;
    d.set(v, o + 1);
    s.size++;
  }

  private grow(s: Series): void {
    const cap = Math.min(this.sizes.maxCapacity, s.capacity * 2);
    const data = new Float64Array(cap * FIELDS);
    for (let i = 0; i < s.size; i++) data.set(s.data!.subarray(s.slot(i) * FIELDS, s.slot(i) * FIELDS + FIELDS), i * FIELDS);
    s.data = data;
    s.head = 0;
  }

  async signOfLife(nodeId: string, environment: Environment, at: number): Promise<void> {
    const s = this.seriesOf(nodeId, environment);
    s.live = true;
    if (at > s.lastSeenAt) s.lastSeenAt = at;
  }

  async forget(nodeId: string): Promise<void> {
    const s = this.nodes.get(nodeId);
    if (!s) return;
    s.live = false;
    s.lastSeenAt = -Infinity;
    s.lastHeartbeatAt = null;
    s.modules = null;
    if (s.size === 0) this.drop(s);
  }

  private drop(s: Series): void {
    this.nodes.delete(s.nodeId);
    this.envs.get(s.environment)?.remove(s);
  }

  async liveness(nodeIds: readonly string[]): Promise<Map<string, NodeLiveness>> {
    const out = new Map<string, NodeLiveness>();
    for (const id of nodeIds) {
      const s = this.nodes.get(id);
      if (!s?.live) continue;
      const metrics: HeartbeatMetrics | null =
        s.lastHeartbeatAt === null ? null : { cpu: s.cpu, memory: s.memory, latencyP95Ms: s.latencyP95Ms, errorRate: s.errorRate, requestRate: s.requestRate };
      out.set(id, { nodeId: id, environment: s.environment, lastSeenAt: s.lastSeenAt, lastHeartbeatAt: s.lastHeartbeatAt, metrics, reportedModules: s.modules });
    }
    return out;
  }

  async silentAmong(nodeIds: readonly string[], cutoff: number): Promise<string[]> {
    const out: string[] = [];
    for (const id of nodeIds) {
      const s = this.nodes.get(id);
      if (!s?.live || !(s.lastSeenAt > cutoff)) out.push(id);
    }
    return out;
  }

  async samplesSince(environment: Environment, since: number): Promise<SampleRuns> {
    const nodes = this.envs.get(environment)?.nodes ?? [];
    const firsts = new Uint32Array(nodes.length);
    let count = 0;
    for (let n = 0; n < nodes.length; n++) {
      const s = nodes[n]!;
      firsts[n] = firstAtOrAfter(s, since);
      count += s.size - firsts[n]!;
    }
    // a ring's slots are SampleRuns rows (at and the five metrics): a node's samples are at most two stretches of it
    const w = new SampleRunsWriter(count);
    for (let n = 0; n < nodes.length; n++) {
      const s = nodes[n]!;
      const first = firsts[n]!;
      if (first === s.size) continue;
      const start = s.slot(first);
      const straight = Math.min(s.size - first, s.capacity - start);
      w.addRows(s.nodeId, s.data!, start, straight);
      w.addRows(s.nodeId, s.data!, 0, s.size - first - straight);
    }
    return w.finish();
  }

  async series(environment: Environment, from: number, to: number, stepMs: number): Promise<MetricPoint[]> {
    const n = bucketCount(from, to, stepMs);
    const env = this.envs.get(environment);
    const end = (i: number) => Math.min(to, from + (i + 1) * stepMs);
    // steps starting after every sample any ring let go of are exact from the rings; earlier ones from the tier
    const firstExact = env && env.evictedUpTo >= from ? Math.min(n, Math.floor((env.evictedUpTo - from) / stepMs) + 1) : 0;
    const points: MetricPoint[] = new Array(n);
    for (let i = 0; i < firstExact; i++) {
      const start = from + i * stepMs;
      points[i] = env?.tier ? env.tier.point(start, end(i), end(i)) : pointOf(start, end(i), new BucketSums(), NaN);
    }
    const exactFrom = from + firstExact * stepMs;
    const sums = Array.from({ length: n - firstExact }, () => new BucketSums());
    const latencies: number[][] = Array.from({ length: n - firstExact }, () => []);
    for (const s of env?.nodes ?? []) {
      const d = s.data;
      if (!d) continue;
      for (let i = firstAtOrAfter(s, exactFrom); i < s.size; i++) {
        const o = s.slot(i) * FIELDS;
        const at = d[o]!;
        if (at >= to) break;
        const b = Math.floor((at - from) / stepMs) - firstExact;
        sums[b]!.addValues(s.nodeId, d[o + 1]!, d[o + 2]!, d[o + 3]!, d[o + 4]!, d[o + 5]!);
        latencies[b]!.push(d[o + 3]!);
      }
    }
    for (let b = 0; b < sums.length; b++) {
      const i = b + firstExact;
      const sorted = latencies[b]!.sort((x, y) => x - y);
      points[i] = pointOf(from + i * stepMs, end(i), sums[b]!, sorted.length ? nearestRank(sorted, 95) : NaN);
    }
    return points;
  }

  /**
   * The newest instant of a sample any ring of the environment let go of: steps starting after it
   * (and samplesSince after it) are answered from the rings, exactly; -Infinity while none was.
   */
  evictedUpTo(environment: Environment): number {
    return this.envs.get(environment)?.evictedUpTo ?? -Infinity;
  }

  async count(nodeId?: string): Promise<number> {
    if (nodeId !== undefined) return this.nodes.get(nodeId)?.size ?? 0;
    let n = 0;
    for (const s of this.nodes.values()) n += s.size;
    return n;
  }

  /** Drops what the retention period has passed: samples, minute buckets, silent nodes. */
  prune(now: number): void {
    const cutoff = now - this.sizes.retentionMs;
    for (const s of [...this.nodes.values()]) {
      // expired samples leave the tier at the same time: no step loses exactness for them
      while (s.size > 0 && s.at(0) <= cutoff) {
        s.head = (s.head + 1) % s.capacity;
        s.size--;
      }
      if (s.live && s.lastSeenAt <= cutoff) {
        s.live = false;
        s.lastHeartbeatAt = null;
        s.modules = null;
      }
      if (!s.live && s.size === 0) this.drop(s);
    }
    for (const env of this.envs.values()) env.tier?.prune(cutoff);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** index of the first sample at or after `at` (binary search: the ring is in time order) */
function firstAtOrAfter(s: Series, at: number): number {
  let lo = 0;
  let hi = s.size;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (s.at(mid) < at) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
