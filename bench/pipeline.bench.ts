// Orchestration overhead of one canary (10/30/50/100 %) with zero waits over N nodes, for each N in
// BENCH_PIPELINE_SIZES (default 1,000 and 10,000; the 10,000 run takes ~40 s to register the nodes
// and ~50 s for the canary). Nodes register through the agent protocol; a light in-bench agent
// answers instantly: it hears NodeUpdateRequested on the server's live feed, fetches the node's
// desired state, reports success, and once a wave is installed sends one heartbeat per node of it
// (the one sample the analysis needs): bench/canary-agent.ts. At each size the canary runs twice
// (BENCH_PIPELINE_AGENTS): with the agent's requests going to the app in process (no sockets), so
// the time is the server's work: commands, projections, the runner and its folds; and with the agent
// in a process of its own over sockets (`pipeline.canary.remote_agent.*`), as agents on other
// machines are. One watcher follows the deployment's SSE feed over a real socket throughout, as a
// user running `korch watch` would. In the remote run a user pauses the rollout as its third wave
// starts and resumes it at once (`pipeline.running.pause`/`.resume`, one request each).
// A size whose predecessor projects past BENCH_PIPELINE_BUDGET_S (default 300) is skipped.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Session } from "node:inspector/promises";
import { createParser } from "eventsource-parser";
import { buildApp } from "../src/http/routes/index.js";
import { benchConfig } from "./config.js";
import { startServer } from "../src/server.js";
import { emit } from "./emit.js";
import { CanaryAgent, DeploymentFollower } from "./canary-agent.js";
import type { RemoteAgentJob, RemoteAgentMessage } from "./canary-agent-process.js";

/** BENCH_QUICK=1 (`npm run bench -- --quick`): one canary over 2,000 nodes (~40 s), the sizes said in each figure's conditions */
const QUICK = process.env.BENCH_QUICK === "1";
const SIZES = (process.env.BENCH_PIPELINE_SIZES ?? (QUICK ? "2000" : "1000,10000")).split(",").map(Number);
const BUDGET_S = Number(process.env.BENCH_PIPELINE_BUDGET_S ?? 300);
/** a canary still running after this long has failed (the bench reports it and goes on) */
const TIMEOUT_S = Number(process.env.BENCH_PIPELINE_TIMEOUT_S ?? 600);
const CONCURRENCY = 32;
/**
 * Besides the sizes' runs (one watcher each), one more at the first size with this many users
 * watching the deployment's feed (BENCH_PIPELINE_WATCHERS; 0 skips it, as --quick does): what
 * fifty people following one rollout cost, against one.
 */
const WATCHERS = Number(process.env.BENCH_PIPELINE_WATCHERS ?? (QUICK ? 0 : 50));
const MODULE = "netfilter-ext";
const VERSION = "2.0.0";

// The analysis polls every checkIntervalMs; 200 ms (BENCH_PIPELINE_CHECK_MS overrides it) leaves the
// in-bench agent room to send the samples between checks, and costs the four waves ~1 s in all.
const ZERO_WAITS = {
  "*": {
    checkIntervalMs: Number(process.env.BENCH_PIPELINE_CHECK_MS ?? 200),
    requiredStableChecks: 1,
    minWaitMs: 0,
    maxWaitMs: 3_600_000,
    analysisWindowMs: 3_600_000,
    installTimeoutMs: 3_600_000,
    progressDeadlineMs: 3_600_000,
    thresholds: { minSamplesPerNode: 1 },
    // BENCH_PIPELINE_MAX_IN_FLIGHT bounds node updates outstanding at once; the default is the setting's (100)
    ...(process.env.BENCH_PIPELINE_MAX_IN_FLIGHT && { maxInFlight: Number(process.env.BENCH_PIPELINE_MAX_IN_FLIGHT) }),
  },
};
const metrics = { cpu: 30, memory: 40, latencyP95Ms: 60, errorRate: 0.001, requestRate: 100 };

/**
 * BENCH_CPU_PROF=<dir>: a CPU profile of the canary alone (approve to DeploymentSucceeded), registration left out,
 * and one of the requests on the finished deployment (afterwards()).
 * BENCH_HEAP_PROF=<dir>: a sampling heap profile of the same span (what allocates, by call stack; GC is ~1/5 of the canary).
 */
const PROFILE_DIR = process.env.BENCH_CPU_PROF;
const HEAP_PROFILE_DIR = process.env.BENCH_HEAP_PROF;
async function startProfile(): Promise<{ stop(name: string): Promise<void> } | undefined> {
  if (!PROFILE_DIR && !HEAP_PROFILE_DIR) return undefined;
  const session = new Session();
  session.connect();
  if (PROFILE_DIR) {
    await session.post("Profiler.enable");
    await session.post("Profiler.start");
  }
  if (HEAP_PROFILE_DIR) {
    await session.post("HeapProfiler.enable");
    // every object counts, kept or not: the samples are of allocation, which is what GC costs follow
    await session.post("HeapProfiler.startSampling", { samplingInterval: 16_384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  }
  const write = (file: string, data: unknown) => {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(data));
  };
  return {
    async stop(name) {
      if (PROFILE_DIR) write(`${PROFILE_DIR}/pipeline-${name}.cpuprofile`, (await session.post("Profiler.stop")).profile);
      if (HEAP_PROFILE_DIR) write(`${HEAP_PROFILE_DIR}/pipeline-${name}.heapprofile`, (await session.post("HeapProfiler.stopSampling")).profile);
      session.disconnect();
    },
  };
}

/** Runs `worker` over `items` with CONCURRENCY in flight. */
async function pool<T>(items: T[], worker: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < items.length) await worker(items[next++]!);
    }),
  );
}

/**
 * The agent in a process of its own (canary-agent-process.ts), its deployment feed open once this
 * resolves. `done` is its figures at the terminal event; `failed` rejects if it fails first.
 */
async function remoteAgent(job: RemoteAgentJob): Promise<{ done: Promise<{ cpuS: number }>; failed: Promise<never> }> {
  const child = fork(fileURLToPath(new URL("./canary-agent-process.ts", import.meta.url)), [], { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const messages: RemoteAgentMessage[] = [];
  const waiting: ((m: RemoteAgentMessage) => void)[] = [];
  child.on("message", (m: RemoteAgentMessage) => (waiting.length ? waiting.shift()!(m) : messages.push(m)));
  child.on("exit", (code) => {
    for (const w of waiting.splice(0)) w({ error: `the agent process exited with ${code}` });
  });
  const next = () => new Promise<RemoteAgentMessage>((resolve) => (messages.length ? resolve(messages.shift()!) : waiting.push(resolve)));
  child.send(job);
  const ready = await next();
  if (!("ready" in ready)) throw new Error(`the agent process: ${"error" in ready ? ready.error : "no ready"}`);
  const done = next().then((m) => {
    if ("error" in m) throw new Error(`the agent process: ${m.error}`);
    if (!("cpuS" in m)) throw new Error("the agent process answered out of turn");
    return m;
  });
  return { done, failed: done.then(() => new Promise<never>(() => {})) };
}

/** Reads a deployment's SSE feed to its final `end` message; counts event messages. */
async function watch(url: string, token: string): Promise<{ messages: number; endedAt: number }> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  if (res.status !== 200) throw new Error(`watch: ${res.status}`);
  let messages = 0;
  let ended = false;
  const parser = createParser({ onEvent: (m) => (m.event === "end" ? (ended = true) : messages++) });
  for await (const chunk of res.body!.pipeThrough(new TextDecoderStream())) {
    parser.feed(chunk);
    if (ended) break;
  }
  return { messages, endedAt: performance.now() };
}

interface Result {
  /** null when the watcher failed */
  watchedS: number | null;
  watcherError?: string;
  registerS: number;
  approveToSucceededS: number;
  /** CPU time of this process (server, in-bench agent and watcher) over the same span: steadier than wall time on a shared machine */
  cpuS: number;
  /** remote: the agent process's CPU time over the same span */
  agentCpuS?: number;
  requestToSucceededS: number;
  events: number;
  status: string;
  /** ms of one request each on the finished deployment, in this order (see `afterwards`) */
  afterwards: Record<string, number>;
  /** remote: ms of a pause and a resume as the third wave starts, or why they failed */
  during: Midway | Record<string, never>;
}

type Midway = { pause: number; resume: number } | { error: string };

/** A pause, then a resume, one request each, timed (the deployment is in flight: 202 both). */
async function pauseAndResume(call: (method: string, path: string, body: unknown, token: string, want: number) => Promise<unknown>, token: string, id: string): Promise<Midway> {
  const timed = async (action: string) => {
    const started = performance.now();
    await call("POST", `/api/v1/deployments/${id}/${action}`, {}, token, 202);
    return performance.now() - started;
  };
  return { pause: await timed("pause"), resume: await timed("resume") };
}

/**
 * What a user does with a big deployment once it ran, timed one request each, in this order: look
 * at it as it was halfway through (the first such look folds the stream and stores snapshots; the
 * second starts from one), read a page of its history, and a command that loads it to be refused
 * (pause on a finished deployment: 409).
 */
async function afterwards(call: (method: string, path: string, body: unknown, token: string, want: number) => Promise<unknown>, token: string, id: string, halfwayAt: string): Promise<Record<string, number>> {
  const timed = async (method: string, path: string, body: unknown, want: number) => {
    const started = performance.now();
    await call(method, path, body, token, want);
    return performance.now() - started;
  };
  const at = `/api/v1/deployments/${id}?at=${encodeURIComponent(halfwayAt)}`;
  return {
    time_travel_first: await timed("GET", at, undefined, 200),
    time_travel_again: await timed("GET", at, undefined, 200),
    history_page: await timed("GET", `/api/v1/deployments/${id}/history`, undefined, 200),
    command_refused: await timed("POST", `/api/v1/deployments/${id}/pause`, {}, 409),
  };
}

async function run(nodes: number, watchers = 1, remote = false): Promise<Result> {
  const { config, dataDir } = benchConfig("pipeline", {
    ALLOW_SELF_APPROVAL: "true",
    STRATEGY_SETTINGS: JSON.stringify(ZERO_WAITS),
    HEARTBEAT_UNHEALTHY_SECONDS: "3600",
    HEARTBEAT_OFFLINE_SECONDS: "7200",
    // The in-bench agent sends every updated node's sample after each wave, seconds apart: far
    // sooner than pacing allows (one per half interval, minutes here). Pacing is a rate limit, off
    // in benches like the others (RATE_LIMIT_ENABLED=false).
    HEARTBEAT_PACING: "0",
  });
  const server = await startServer(config);
  // a second app over the same deps: requests to it skip the socket, not the middleware
  const app = buildApp(server.deps);
  const call = async (method: string, path: string, body: unknown, token: string | undefined, want: number) => {
    const res = await app.fetch(
      new Request(`http://bench${path}`, {
        method,
        headers: { "content-type": "application/json", ...(token && { authorization: `Bearer ${token}` }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
    );
    const text = await res.text();
    if (res.status !== want) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
    return JSON.parse(text) as Record<string, unknown>;
  };

  try {
    const tokens = new Map<string, string>();
    const registerStarted = performance.now();
    await pool(
      Array.from({ length: nodes }, (_, i) => i),
      async (i) => {
        const r = await call("POST", "/api/v1/agents/register", { joinToken: config.agentJoinToken, environment: "Production", hostname: `bench-${i}`, capacity: { cpuCores: 4, memoryMb: 8192 }, labels: {}, modules: { [MODULE]: "1.0.0" } }, undefined, 201);
        tokens.set(r.nodeId as string, r.token as string);
        await call("POST", `/api/v1/agents/${r.nodeId}/heartbeat`, { metrics, modules: { [MODULE]: "1.0.0" } }, r.token as string, 202);
      },
    );
    const registerS = (performance.now() - registerStarted) / 1000;
    await server.deps.projections.waitFor(await server.deps.log.headPosition(), 120_000);

    const admin = (await call("POST", "/api/v1/authentication/login", { username: "admin", password: "Admin123!" }, undefined, 200)).token as string;

    const requestStarted = performance.now();
    const requested = await call("POST", "/api/v1/deployments", { moduleName: MODULE, version: VERSION, targetEnvironment: "Production", requesterEmail: "bench@example.com" }, admin, 202);
    const executionId = requested.executionId as string;
    const streamId = `deployment-${executionId}`;
    // in process the agent hears the live feed and waits on the projections as a long poll would;
    // remote, it follows the deployment's SSE feed in a process of its own, and here the feed is only followed
    const agent = remote
      ? new DeploymentFollower(`deployment-${executionId}`)
      : new CanaryAgent({ streamId: `deployment-${executionId}`, tokens, call, waitFor: (position) => server.deps.projections.waitFor(position, 60_000), concurrency: CONCURRENCY, moduleName: MODULE, version: VERSION, metrics });
    // remote: a user pauses the rollout as its third wave starts, and resumes it at once (timed in
    // process, one request each): a command on a deployment of this size in flight
    let midway: Promise<Midway> | undefined;
    const attachment = server.deps.feed.attach((e) => {
      agent.onEvent(e);
      if (remote && !midway && e.streamId === streamId && e.type === "WaveStarted" && (e.data as { wave: number }).wave === 2) midway = pauseAndResume(call, admin, executionId).catch((err: unknown) => ({ error: String(err) }));
    });
    const child = remote ? await remoteAgent({ url: server.url, executionId, watchToken: admin, tokens: [...tokens], concurrency: CONCURRENCY, moduleName: MODULE, version: VERSION, metrics }) : undefined;
    // a user watching over a real socket, as `korch watch` does: its messages carry status and progress.
    // Its failure (the server closing the connection) is reported with the figures, not left unheard.
    const watchingAll = Array.from({ length: watchers }, () => watch(`${server.url}/api/v1/deployments/${executionId}/events`, admin).catch((err: unknown) => ({ error: String(err) })));
    const watching = watchingAll[0]!;
    await server.deps.projections.waitFor(requested.position as number, 60_000);
    const profiler = await startProfile();
    const cpuStarted = process.cpuUsage();
    const approveStarted = performance.now();
    await call("POST", `/api/v1/approvals/deployments/${executionId}/approve`, { reason: "bench" }, admin, 200);
    // a canary that never ends is a failure to report, not a bench that hangs
    let deadline: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      deadline = setTimeout(() => reject(new Error(`no terminal event within ${TIMEOUT_S} s (last of ${agent.events} events: ${agent.lastType})`)), TIMEOUT_S * 1000);
    });
    let agentCpuS: number | undefined;
    try {
      await Promise.race([agent.finished, timedOut, ...(child ? [child.failed] : [])]);
    } finally {
      clearTimeout(deadline);
    }
    const end = performance.now();
    const cpu = process.cpuUsage(cpuStarted);
    await profiler?.stop(String(nodes));
    const { events, status } = agent;
    // profiled on their own too: pipeline-<nodes>-afterwards
    const afterProfiler = await startProfile();
    const after = status === "DeploymentSucceeded" ? await afterwards(call, admin, executionId, new Date(Date.now() - ((end - approveStarted) / 2)).toISOString()) : {};
    await afterProfiler?.stop(`${nodes}-afterwards`);
    const during = (await midway) ?? {};
    if (agent instanceof CanaryAgent) await agent.stop();
    if (child) agentCpuS = (await child.done).cpuS;
    attachment.detach();
    // the first watcher's figures, or the first failure among them all
    const all = await Promise.all(watchingAll);
    const watched = all.find((w) => "error" in w || w.messages < events) ?? (await watching);
    const watcherError =
      "error" in watched ? `the watcher failed: ${watched.error}` : watched.messages < events ? `the watcher got ${watched.messages} of ${events} events` : undefined;
    const watchedS = "error" in watched ? null : (watched.endedAt - approveStarted) / 1000;
    return { registerS, approveToSucceededS: (end - approveStarted) / 1000, requestToSucceededS: (end - requestStarted) / 1000, cpuS: (cpu.user + cpu.system) / 1e6, agentCpuS, events, status, watchedS, watcherError, afterwards: after, during };
  } finally {
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** A figure that could not be measured: a JSON line with value null and the reason, and a failing exit. */
function failed(name: string, unit: string, conditions: Record<string, unknown>, error: string): void {
  process.stdout.write(JSON.stringify({ name, value: null, unit, conditions: { node: process.version, ...conditions, error } }) + "\n");
  console.error(`pipeline bench: ${name}: ${error}`);
  process.exitCode = 1;
}

/** BENCH_PIPELINE_AGENTS: which runs at each size, "in-process,remote" by default */
const AGENTS = (process.env.BENCH_PIPELINE_AGENTS ?? "in-process,remote").split(",");
/** the slowest run's wall time per node at the last size, for the budget */
let lastPerNodeS = 0;

/** The canary with the agent in process (calls without sockets): the figures compared across stops since the issue was filed. */
async function inProcess(nodes: number): Promise<void> {
  let r: Result;
  try {
    r = await run(nodes);
  } catch (err) {
    failed(`pipeline.canary.per_node`, "ms/node", { nodes }, `the run failed: ${String(err)}`);
    return;
  }
  const conditions = { nodes, ...(QUICK && { quick: true }), checkIntervalMs: ZERO_WAITS["*"].checkIntervalMs, maxInFlight: ZERO_WAITS["*"].maxInFlight ?? 100, strategy: "Canary 10/30/50/100", waits: "zero", agent: "in-bench, in-process fetch, instant", eventStore: "sqlite NORMAL", readStore: "memory", deploymentEvents: r.events };
  if (r.status !== "DeploymentSucceeded") {
    failed("pipeline.canary.per_node", "ms/node", conditions, `the canary ended with ${r.status}`);
    return;
  }
  emit("pipeline.canary.total", r.approveToSucceededS, "s", { ...conditions, from: "approve", to: "DeploymentSucceeded" });
  emit("pipeline.canary.per_node", (r.approveToSucceededS * 1000) / nodes, "ms/node", conditions);
  emit("pipeline.canary.cpu_per_node", (r.cpuS * 1000) / nodes, "ms/node", { ...conditions, note: "CPU time (user + system) of the bench process, approve to DeploymentSucceeded" });
  if (r.watchedS === null || r.watcherError) failed("pipeline.canary.watcher_end", "s", conditions, r.watcherError ?? "the watcher failed");
  else emit("pipeline.canary.watcher_end", r.watchedS, "s", { ...conditions, from: "approve", to: "the watcher's final SSE message" });
  emit("pipeline.register", nodes / r.registerS, "nodes/s", { nodes, ...(QUICK && { quick: true }), note: "register + first heartbeat, in process" });
  for (const [what, ms] of Object.entries(r.afterwards)) emit(`pipeline.finished.${what}`, ms, "ms", { nodes, ...(QUICK && { quick: true }), deploymentEvents: r.events, note: "one request on the finished deployment, in process (see afterwards())" });
  lastPerNodeS = Math.max(lastPerNodeS, r.approveToSucceededS / nodes);
  if (nodes === SIZES[0] && WATCHERS > 1) {
    try {
      const w = await run(nodes, WATCHERS);
      const wc = { ...conditions, watchers: WATCHERS, deploymentEvents: w.events, note: "CPU time of the bench process (server and its watchers' clients), approve to DeploymentSucceeded" };
      if (w.status !== "DeploymentSucceeded" || w.watcherError) failed("pipeline.canary.watchers.cpu_per_node", "ms/node", wc, w.watcherError ?? `the canary ended with ${w.status}`);
      else {
        emit("pipeline.canary.watchers.cpu_per_node", (w.cpuS * 1000) / nodes, "ms/node", wc);
        emit("pipeline.canary.watchers.cpu_ratio", w.cpuS / r.cpuS, "x", { ...wc, note: `CPU with ${WATCHERS} watchers over CPU with one, same size, same run` });
      }
    } catch (err) {
      failed("pipeline.canary.watchers.cpu_per_node", "ms/node", { nodes, watchers: WATCHERS }, `the run failed: ${String(err)}`);
    }
  }
}

/**
 * The canary with the agent in a process of its own over keep-alive sockets, as agents on other
 * machines are: the bench process's CPU is then the server's (and the one watcher's client), with
 * HTTP parsing and socket writes that the in-process calls skip, and without the agent's work
 * (undici Request and Response objects, about 15 % of the in-process profile).
 */
async function remoteAgents(nodes: number): Promise<void> {
  let r: Result;
  try {
    r = await run(nodes, 1, true);
  } catch (err) {
    failed("pipeline.canary.remote_agent.per_node", "ms/node", { nodes }, `the run failed: ${String(err)}`);
    return;
  }
  const conditions = { nodes, ...(QUICK && { quick: true }), checkIntervalMs: ZERO_WAITS["*"].checkIntervalMs, maxInFlight: ZERO_WAITS["*"].maxInFlight ?? 100, strategy: "Canary 10/30/50/100", waits: "zero", agent: `separate process, ${CONCURRENCY} keep-alive sockets, following the deployment's SSE feed, instant`, eventStore: "sqlite NORMAL", readStore: "memory", deploymentEvents: r.events };
  if (r.status !== "DeploymentSucceeded") return failed("pipeline.canary.remote_agent.per_node", "ms/node", conditions, `the canary ended with ${r.status}`);
  emit("pipeline.canary.remote_agent.per_node", (r.approveToSucceededS * 1000) / nodes, "ms/node", conditions);
  emit("pipeline.canary.remote_agent.cpu_per_node", (r.cpuS * 1000) / nodes, "ms/node", { ...conditions, note: "CPU time of the server's process (server and one watcher's client), approve to DeploymentSucceeded" });
  const during = r.during;
  if ("error" in during) failed("pipeline.running.pause", "ms", conditions, during.error);
  else if ("pause" in during) {
    const note = "one request in process, as the third wave starts (a pause, then a resume at once)";
    emit("pipeline.running.pause", during.pause, "ms", { ...conditions, note });
    emit("pipeline.running.resume", during.resume, "ms", { ...conditions, note });
  }
  if (r.agentCpuS !== undefined) emit("pipeline.canary.remote_agent.agent_cpu_per_node", (r.agentCpuS * 1000) / nodes, "ms/node", { ...conditions, note: "CPU time of the agent's process over the same span" });
  if (r.watchedS === null || r.watcherError) failed("pipeline.canary.remote_agent.watcher_end", "s", conditions, r.watcherError ?? "the watcher failed");
  lastPerNodeS = Math.max(lastPerNodeS, r.approveToSucceededS / nodes);
}

for (const nodes of SIZES) {
  // a canary costs at least linearly: skip a size that the last one says cannot fit the budget
  if (lastPerNodeS && lastPerNodeS * nodes > BUDGET_S) {
    console.error(`pipeline bench: ${nodes} nodes skipped, projected over ${BUDGET_S} s at ${(lastPerNodeS * 1000).toFixed(1)} ms/node`);
    continue;
  }
  lastPerNodeS = 0;
  if (AGENTS.includes("in-process")) await inProcess(nodes);
  if (AGENTS.includes("remote")) await remoteAgents(nodes);
}
