// A closed-loop HTTP load generator, run as a child process (forked by http.bench.ts) so its CPU is
// not counted against the server. `concurrency` workers each send a request, wait for the whole
// response, and send the next, over keep-alive sockets. Requests in the first `warmupMs` are not
// counted. It receives one LoadJob over IPC and answers with one LoadResult.
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

process.once("message", (job: LoadJob) => {
  void run(job).then((result) => {
    process.send!(result, () => process.exit(0));
  });
});
