// A closed-loop HTTP load generator, run as a child process (forked by http.bench.ts) so its CPU is
// not counted against the server. `concurrency` workers each send a request, wait for the whole
// response, and send the next, over keep-alive sockets. Requests in the first `warmupMs` are not
// counted. It receives one LoadJob over IPC and answers with one LoadResult. In fleet mode (a
// FleetJob, for fleet.bench.ts) it plays a fleet of agents instead: see below.
import { Agent, request } from "node:http";

export interface LoadJob {
  url: string;
  method: "GET" | "POST";
  headers: Record<string, string>;
  /** sent as-is with every request */
  body?: string;
  /** the status that counts as success */
  expect: number;
  concurrency: number;
  durationMs: number;
  warmupMs: number;
  /**
   * Open loop: send this many requests per second on a fixed schedule whatever the answers,
   * over up to `concurrency` sockets; latency counts from each request's scheduled time, so a
   * stalled server is not hidden by the client waiting for it (coordinated omission).
   */
  ratePerSecond?: number;
}

export interface LoadResult {
  requests: number;
  errors: number;
  /** status codes other than `expect`, with counts */
  unexpected: Record<string, number>;
  seconds: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

function once(job: LoadJob, agent: Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(job.url, { method: job.method, headers: job.headers, agent }, (res) => {
      res.on("data", () => {});
      res.on("end", () => resolve(res.statusCode ?? 0));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(job.body);
  });
}

async function run(job: LoadJob): Promise<LoadResult> {
  if (job.ratePerSecond) return runOpen(job, job.ratePerSecond);
  const agent = new Agent({ keepAlive: true, maxSockets: job.concurrency });
  const latencies: number[] = [];
  const unexpected: Record<string, number> = {};
  let errors = 0;
  const started = performance.now();
  const countFrom = started + job.warmupMs;
  const end = countFrom + job.durationMs;
  await Promise.all(
    Array.from({ length: job.concurrency }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        try {
          const status = await once(job, agent);
          if (t0 < countFrom) continue;
          latencies.push(performance.now() - t0);
          if (status !== job.expect) unexpected[status] = (unexpected[status] ?? 0) + 1;
        } catch {
          if (t0 >= countFrom) errors++;
        }
      }
    }),
  );
  const seconds = (performance.now() - countFrom) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.max(0, Math.ceil((p / 100) * latencies.length) - 1))] ?? NaN;
  return {
    requests: latencies.length,
    errors,
    unexpected,
    seconds,
    requestsPerSecond: latencies.length / seconds,
    p50Ms: pct(50),
    p99Ms: pct(99),
    maxMs: latencies.at(-1) ?? NaN,
  };
}

// ---- fleet mode (bench/fleet.bench.ts): agents registering, then heartbeating on a schedule ----

/** Registers `nodes` agents, each of which then heartbeats every `intervalMs` (open loop). */
export interface FleetJob {
  kind: "fleet";
  url: string;
  joinToken: string;
  environment: string;
  nodes: number;
  hostnamePrefix: string;
  /** registrations in flight at once */
  registerConcurrency: number;
  /** keep-alive sockets the heartbeats share */
  sockets: number;
  /** false: register only (send "beat" later) */
  heartbeat: boolean;
}

/**
 * Commands after the job: `beat` starts (or restarts, against `url`) the heartbeats; `window`
 * counts every answer for `ms` and replies with a FleetWindow; `pause` stops sending; `stop` ends.
 */
export type FleetCommand = { cmd: "beat"; url: string; intervalMs: number } | { cmd: "window"; ms: number } | { cmd: "pause" } | { cmd: "stop" };

export interface FleetRegistered {
  registered: number;
  seconds: number;
  heartbeatIntervalMs: number;
}

export interface FleetWindow {
  seconds: number;
  /** heartbeats whose slot came in the window */
  offered: number;
  /** slots skipped because the node's previous heartbeat was still unanswered */
  skipped: number;
  accepted: number;
  rateLimited: number;
  otherStatuses: Record<string, number>;
  errors: number;
  acceptedPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

interface FleetAgent {
  nodeId: string;
  token: string;
  body: string;
  /** epoch of the next slot (performance.now() ms) */
  nextAt: number;
  busy: boolean;
}

function post(agent: Agent, url: string, body: string, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) };
    if (token) headers.authorization = `Bearer ${token}`;
    const req = request(url, { method: "POST", headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

async function fleet(job: FleetJob): Promise<void> {
  let agent = new Agent({ keepAlive: true, maxSockets: job.sockets });
  let base = job.url;
  const nodes: FleetAgent[] = [];
  let intervalMs = 0;
  let timer: NodeJS.Timeout | undefined;
  // the current window: counts and latencies of answers to heartbeats sent inside it
  let win: { from: number; until: number; latencies: number[]; offered: number; skipped: number; accepted: number; rateLimited: number; other: Record<string, number>; errors: number } | null = null;

  const metricsBody = (i: number) =>
    JSON.stringify({ metrics: { cpu: 20 + (i % 50), memory: 40, latencyP95Ms: 50 + (i % 30), errorRate: 0.001, requestRate: 100 }, modules: { "net-filter": "1.0.0" } });

  const send = (n: FleetAgent) => {
    const t0 = performance.now();
    const w = win && t0 >= win.from && t0 < win.until ? win : null;
    if (w) w.offered++;
    if (n.busy) {
      if (w) w.skipped++;
      return;
    }
    n.busy = true;
    post(agent, `${base}/api/v1/agents/${n.nodeId}/heartbeat`, n.body, n.token).then(
      (r) => {
        n.busy = false;
        if (!w) return;
        w.latencies.push(performance.now() - t0);
        if (r.status === 202) w.accepted++;
        else if (r.status === 429) w.rateLimited++;
        else w.other[r.status] = (w.other[r.status] ?? 0) + 1;
      },
      () => {
        n.busy = false;
        if (w) w.errors++;
      },
    );
  };
  // one 5 ms tick walks the nodes in slot order instead of 10,000 timers
  let cursor = 0;
  const tick = () => {
    const now = performance.now();
    for (let guard = 0; guard < nodes.length; guard++) {
      const n = nodes[cursor]!;
      if (n.nextAt > now) break;
      n.nextAt += intervalMs;
      send(n);
      cursor = (cursor + 1) % nodes.length;
    }
  };
  const beat = (url: string, everyMs: number) => {
    base = url;
    intervalMs = everyMs;
    agent.destroy();
    agent = new Agent({ keepAlive: true, maxSockets: job.sockets });
    // evenly spread phases, in node order, so the tick's cursor meets them in order
    const start = performance.now();
    nodes.forEach((n, i) => (n.nextAt = start + (i * everyMs) / nodes.length));
    cursor = 0;
    clearInterval(timer);
    timer = setInterval(tick, 5);
  };

  const started = performance.now();
  let next = 0;
  let heartbeatIntervalMs = 0;
  await Promise.all(
    Array.from({ length: job.registerConcurrency }, async () => {
      while (next < job.nodes) {
        const i = next++;
        const r = await post(
          agent,
          `${base}/api/v1/agents/register`,
          JSON.stringify({ joinToken: job.joinToken, environment: job.environment, hostname: `${job.hostnamePrefix}${String(i).padStart(5, "0")}`, capacity: { cpuCores: 4, memoryMb: 8192 }, labels: { color: i % 2 ? "green" : "blue" } }),
        );
        if (r.status !== 201 && r.status !== 200) throw new Error(`register ${i}: ${r.status} ${r.body}`);
        const b = JSON.parse(r.body) as { nodeId: string; token: string; heartbeatIntervalMs: number };
        heartbeatIntervalMs = b.heartbeatIntervalMs;
        nodes[i] = { nodeId: b.nodeId, token: b.token, body: metricsBody(i), nextAt: Infinity, busy: false };
      }
    }),
  );
  process.send!({ registered: nodes.length, seconds: (performance.now() - started) / 1000, heartbeatIntervalMs } satisfies FleetRegistered);
  if (job.heartbeat) beat(base, heartbeatIntervalMs);

  process.on("message", (m: FleetCommand) => {
    if (m.cmd === "beat") {
      beat(m.url, m.intervalMs);
      process.send!({});
    } else if (m.cmd === "pause") {
      clearInterval(timer);
      process.send!({});
    } else if (m.cmd === "window") {
      const from = performance.now();
      const w = (win = { from, until: from + m.ms, latencies: [], offered: 0, skipped: 0, accepted: 0, rateLimited: 0, other: {}, errors: 0 });
      // answers to the window's last heartbeats may come after it: wait a little for them
      setTimeout(() => {
        const seconds = m.ms / 1000;
        w.latencies.sort((a, b) => a - b);
        const pct = (p: number) => w.latencies[Math.min(w.latencies.length - 1, Math.max(0, Math.ceil((p / 100) * w.latencies.length) - 1))] ?? NaN;
        process.send!({
          seconds,
          offered: w.offered,
          skipped: w.skipped,
          accepted: w.accepted,
          rateLimited: w.rateLimited,
          otherStatuses: w.other,
          errors: w.errors,
          acceptedPerSecond: w.accepted / seconds,
          p50Ms: pct(50),
          p99Ms: pct(99),
          maxMs: w.latencies.at(-1) ?? NaN,
        } satisfies FleetWindow);
      }, m.ms + 2000);
    } else {
      clearInterval(timer);
      agent.destroy();
      process.send!({}, () => process.exit(0));
    }
  });
}

async function runOpen(job: LoadJob, perSecond: number): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: job.concurrency });
  const latencies: number[] = [];
  const unexpected: Record<string, number> = {};
  let errors = 0;
  const started = performance.now();
  const countFrom = started + job.warmupMs;
  const end = countFrom + job.durationMs;
  const inFlight = new Set<Promise<void>>();
  let lastDone = countFrom;
  for (let sent = 0; ; ) {
    const now = performance.now();
    if (now >= end) break;
    for (const due = Math.floor(((now - started) * perSecond) / 1000) + 1; sent < due; sent++) {
      const scheduled = started + (sent * 1000) / perSecond;
      const counted = scheduled >= countFrom;
      const p = once(job, agent).then(
        (status) => {
          if (!counted) return;
          lastDone = performance.now();
          latencies.push(lastDone - scheduled);
          if (status !== job.expect) unexpected[status] = (unexpected[status] ?? 0) + 1;
        },
        () => {
          if (counted) errors++;
        },
      );
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(inFlight);
  // until the last answer: a server that falls behind shows as served below the offered rate
  const seconds = (Math.max(end, lastDone) - countFrom) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.max(0, Math.ceil((p / 100) * latencies.length) - 1))] ?? NaN;
  return { requests: latencies.length, errors, unexpected, seconds, requestsPerSecond: latencies.length / seconds, p50Ms: pct(50), p99Ms: pct(99), maxMs: latencies.at(-1) ?? NaN };
}

process.once("message", (job: LoadJob | FleetJob) => {
  if ("kind" in job && job.kind === "fleet") {
    fleet(job).catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
    return;
  }
  void run(job as LoadJob).then((result) => {
    process.send!(result, () => process.exit(0));
  });
});
