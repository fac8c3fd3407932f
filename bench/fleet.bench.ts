// Fleet figures with FLEET_BENCH_NODES (default 10,000) nodes in one cluster. The server runs in its
// own process, compiled to plain JavaScript with esbuild as production runs it (bench/fleet-server.ts;
// its RSS is that process's); the agents are another child (bench/load-client.ts, fleet mode), over
// real sockets, so neither's CPU or memory is counted against the other:
//   0. registration; GET one page of 100 nodes with no load (p50/p99)
//   1. heartbeats at a 2 s interval (HEARTBEAT_UNHEALTHY_SECONDS=6, the server's own pacing allows
//      one per 1 s per node): accepted/s, 429s, p50/p99, server RSS; the node page under that load
//   2. RSS with every node heartbeating every 10 s, one hour of telemetry retained (prefilled
//      synthetically, 360 samples per node dated over the past hour, into the server's own
//      telemetry store) and 2,000 idle SSE clients (bench/sse-client.ts)
// FLEET_BENCH_PROFILE=<dir> writes a CPU profile of each phase's server there (node --cpu-prof).
// Each phase is a fresh server on the same data directory: the nodes registered in phase 0 stay,
// and their tokens stay valid, so the child keeps its fleet across the restarts.
import { fork, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { benchConfig, benchEnv } from "./config.js";
import { emit } from "./emit.js";
import type { Memory, ServerCommand, Started } from "./fleet-server.js";
import type { FleetCommand, FleetJob, FleetRegistered, FleetWindow, LoadJob, LoadResult } from "./load-client.js";
import type { Opened, SseCommand } from "./sse-client.js";

/** BENCH_QUICK=1: 2,000 nodes, 500 SSE clients and shorter windows, so the bench fits in ~60 s (said in each figure's conditions) */
const QUICK = process.env.BENCH_QUICK === "1";
const NODES = Number(process.env.FLEET_BENCH_NODES ?? (QUICK ? 2000 : 10_000));
const WINDOW_MS = Number(process.env.FLEET_BENCH_WINDOW_MS ?? (QUICK ? 8000 : 20_000));
const RSS_MS = Number(process.env.FLEET_BENCH_RSS_MS ?? (QUICK ? 8000 : 30_000));
const SSE_CLIENTS = Number(process.env.FLEET_BENCH_SSE ?? (QUICK ? 500 : 2000));
const IDLE_PAGES_MS = QUICK ? 3000 : 8000;
const RETENTION_S = 3600;
/** a commit to measure beside the working tree, in the same run (e.g. FLEET_BENCH_BASELINE=HEAD) */
const BASELINE = process.env.FLEET_BENCH_BASELINE;
/** FLEET_BENCH_PAGES=0: no node-page reader during the heartbeat window (to profile heartbeats alone) */
const PAGES_UNDER_LOAD = process.env.FLEET_BENCH_PAGES !== "0";
/** which phases run: idle, heartbeat, rss */
const PHASES = (process.env.FLEET_BENCH_PHASES ?? "idle,heartbeat,rss").split(",");
const ENVIRONMENT = "Production";
const PAGE = 100;
const loadClient = fileURLToPath(new URL("./load-client.ts", import.meta.url));
const sseClient = fileURLToPath(new URL("./sse-client.ts", import.meta.url));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** a phase or build label as part of a file name */
const fileSafe = (label: string) => label.replace(/[^\w-]/g, "-");
const { dataDir } = benchConfig("fleet");
const serverEnv = (heartbeatUnhealthySeconds: number): Record<string, string> => ({
  ...benchEnv(dataDir),
  // the agents' heartbeat interval is a third of this (registration answers it); pacing half that
  HEARTBEAT_UNHEALTHY_SECONDS: String(heartbeatUnhealthySeconds),
  HEARTBEAT_OFFLINE_SECONDS: String(Math.max(3600, heartbeatUnhealthySeconds * 2)),
  TELEMETRY_RETENTION_SECONDS: String(RETENTION_S),
  SSE_MAX_CONNECTIONS: "30000",
  SSE_MAX_CONNECTIONS_PER_USER: "30000",
});

/**
 * src/ and bench/fleet-server.ts of `root` compiled to JavaScript in a temp dir (esbuild, as tsx
 * would, but ahead of time). `root` is the working tree, or an export of an earlier commit.
 */
function compileServer(root: string): { entry: string; dir: string } {
  const repo = fileURLToPath(new URL("..", import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), "korch-fleet-build-"));
  // assets the server reads beside its modules (the dashboard's static files)
  cpSync(join(root, "src"), join(dir, "src"), { recursive: true, filter: (p) => !p.endsWith(".ts") });
  const sources = (readdirSync(join(root, "src"), { recursive: true }) as string[]).filter((f) => f.endsWith(".ts")).map((f) => join(root, "src", f));
  const entry = join(root, "bench", "fleet-server.ts");
  if (root !== repo) {
    mkdirSync(join(root, "bench"), { recursive: true });
    cpSync(join(repo, "bench", "fleet-server.ts"), entry);
  }
  const r = spawnSync(join(repo, "node_modules", ".bin", "esbuild"), [...sources, entry, `--outdir=${dir}`, `--outbase=${root}`, "--format=esm", "--platform=node", "--log-level=error"], {
    stdio: "inherit",
  });
  if (r.status !== 0) throw new Error(`esbuild exited with ${r.status}`);
  symlinkSync(join(repo, "node_modules"), join(dir, "node_modules"));
  writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
  return { entry: join(dir, "bench", "fleet-server.js"), dir };
}

/** src/ as it was at `rev`, exported (git archive: the working tree is not touched). */
function exportRevision(rev: string): string {
  const repo = fileURLToPath(new URL("..", import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), "korch-fleet-baseline-"));
  const r = spawnSync("sh", ["-c", `git -C "${repo}" archive "${rev}" src | tar -x -C "${dir}"`], { stdio: "inherit" });
  if (r.status !== 0) throw new Error(`git archive ${rev} failed`);
  return dir;
}

/** A child that answers each command with one message, in order. */
class Child {
  readonly process: ChildProcess;
  private readonly answers: ((v: unknown) => void)[] = [];
  private failure: Error | null = null;
  constructor(path: string, execArgv: string[] = ["--import", "tsx"]) {
    this.process = fork(path, [], { execArgv, stdio: ["ignore", "inherit", "inherit", "ipc"] });
    this.process.on("message", (m) => this.answers.shift()?.(m));
    this.process.on("exit", (code) => {
      this.failure = new Error(`${path} exited with ${code}`);
      for (const a of this.answers.splice(0)) a(this.failure);
    });
  }
  async ask<T>(message: unknown, timeoutMs: number): Promise<T> {
    if (this.failure) throw this.failure;
    const answer = new Promise<unknown>((resolve) => this.answers.push(resolve));
    this.process.send(message as object);
    let timer: NodeJS.Timeout | undefined;
    const v = await Promise.race([answer, new Promise((resolve) => (timer = setTimeout(() => resolve(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs)))]);
    clearTimeout(timer);
    if (v instanceof Error) throw v;
    return v as T;
  }
  async end(message: unknown): Promise<void> {
    if (this.process.exitCode !== null || this.failure) return;
    const exited = once(this.process, "exit");
    await this.ask(message, 10_000).catch(() => this.process.kill("SIGKILL"));
    const timer = setTimeout(() => this.process.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  }
}

/** One phase's server: a compiled child process. */
class Server {
  private constructor(
    private readonly child: Child,
    readonly started: Started,
  ) {}
  static async start(entry: string, env: Record<string, string>, phase: string, flags: string[] = []): Promise<Server> {
    const profile = process.env.FLEET_BENCH_PROFILE;
    const child = new Child(entry, [...flags, ...(profile ? ["--cpu-prof", `--cpu-prof-dir=${profile}`, `--cpu-prof-name=fleet-${fileSafe(phase)}.cpuprofile`] : [])]);
    const started = await child.ask<Started | { error: string }>({ cmd: "start", env } satisfies ServerCommand, 180_000);
    if ("error" in started) throw new Error(started.error);
    return new Server(child, started);
  }
  get url() {
    return this.started.url;
  }
  get pid() {
    return this.child.process.pid!;
  }
  async ask<T>(command: ServerCommand, timeoutMs = 600_000): Promise<T> {
    const r = await this.child.ask<T | { error: string }>(command, timeoutMs);
    if (r && typeof r === "object" && "error" in r) throw new Error(r.error);
    return r as T;
  }
  /** the server's CPU time so far (user + system), ms, from /proc */
  cpuMs(): number {
    const stat = readFileSync(`/proc/${this.pid}/stat`, "utf8");
    // the fields after the command's closing parenthesis; utime and stime are the 12th and 13th of those
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // USER_HZ is 100 on Linux
  }
  /** the server's resident set now, from /proc (no cooperation needed) */
  rssMiB(): number {
    const status = readFileSync(`/proc/${this.pid}/status`, "utf8");
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
  }
  async close(): Promise<void> {
    if (this.child.process.exitCode !== null) return;
    const exited = once(this.child.process, "exit");
    await this.ask({ cmd: "close" }, 60_000).catch(() => this.child.process.kill("SIGKILL"));
    const timer = setTimeout(() => this.child.process.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

async function login(server: Server): Promise<string> {
  const res = await fetch(`${server.url}/api/v1/authentication/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: "viewer", password: "Viewer123!" }),
  });
  if (res.status !== 200) throw new Error(`login: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}

/** The first page's URL and the one four nextCursors on names (the first again where there is none). */
async function pageUrls(server: Server, token: string): Promise<{ first: string; next: string; bytes: number; nodes: number }> {
  const first = `${server.url}/api/v1/clusters/${ENVIRONMENT}?limit=${PAGE}`;
  const res = await fetch(first, { headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET cluster: ${res.status} ${text.slice(0, 200)}`);
  const body = JSON.parse(text) as { nodes: unknown[]; nextCursor?: string | null };
  // the fifth page: past the first, where a cursor must seek
  let next = first;
  let cursor = body.nextCursor;
  for (let i = 0; i < 4 && cursor; i++) {
    next = `${first}&cursor=${encodeURIComponent(cursor)}`;
    const r = (await (await fetch(next, { headers: { authorization: `Bearer ${token}` } })).json()) as { nextCursor?: string | null };
    cursor = r.nextCursor;
  }
  return { first, next, bytes: Buffer.byteLength(text), nodes: body.nodes.length };
}

/** GETs of the first page, then of the fifth, closed loop with one worker each, from child processes. */
async function pageLatency(urls: { first: string; next: string }, token: string, durationMs: number): Promise<LoadResult[]> {
  const job = (url: string): LoadJob => ({ url, method: "GET", headers: { authorization: `Bearer ${token}` }, expect: 200, concurrency: 1, durationMs: durationMs / 2, warmupMs: 500 });
  const out: LoadResult[] = [];
  for (const url of [urls.first, urls.next]) {
    const c = new Child(loadClient);
    try {
      out.push(await c.ask<LoadResult>(job(url), durationMs + 30_000));
    } finally {
      if (c.process.exitCode === null) c.process.kill();
    }
  }
  return out;
}

/** Both pages' figures: each child reports its own percentiles; the larger of each is the conservative figure. */
function merged(rs: LoadResult[]) {
  const bad = rs.reduce((a, r) => a + r.errors + Object.values(r.unexpected).reduce((x, y) => x + y, 0), 0);
  if (bad) throw new Error(`node page: ${bad} failed requests: ${JSON.stringify(rs.map((r) => r.unexpected))}`);
  return { requests: rs.reduce((a, r) => a + r.requests, 0), p50: Math.max(...rs.map((r) => r.p50Ms)), p99: Math.max(...rs.map((r) => r.p99Ms)), max: Math.max(...rs.map((r) => r.maxMs)) };
}

function rssSampler(server: Server) {
  let max = 0;
  const sample = () => (max = Math.max(max, server.rssMiB()));
  const timer = setInterval(sample, 250);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return max;
    },
  };
}

const base = {
  quick: QUICK,
  nodes: NODES,
  environment: ENVIRONMENT,
  eventStore: "sqlite NORMAL",
  readStore: "memory",
  coordination: "memory",
  server: "own process, compiled with esbuild (no tsx)",
  agents: "child process (bench/load-client.ts fleet mode), keep-alive",
};

interface Build {
  label: string;
  entry: string;
  dir: string;
  /** node flags for this build's servers */
  flags?: string[];
}

/** figures per build, for the ratios when a baseline runs beside the working tree */
const figures = new Map<string, Map<string, number>>();
function figure(build: Build, name: string, value: number, unit: string, conditions: Record<string, unknown>) {
  emit(name, value, unit, { ...conditions, build: build.label });
  if (!figures.has(name)) figures.set(name, new Map());
  figures.get(name)!.set(build.label, value);
}

let server: Server | undefined;
const agents = new Child(loadClient);

/** The node page with nothing else going on (every node has heartbeated once). */
async function idlePhase(build: Build) {
  server = await Server.start(build.entry, serverEnv(3600), `idle-${build.label}`, build.flags);
  await agents.ask<unknown>({ cmd: "beat", url: server.url, intervalMs: 5000 } satisfies FleetCommand, 10_000);
  await sleep(5500);
  await agents.ask<unknown>({ cmd: "pause" } satisfies FleetCommand, 10_000);
  await sleep(1000);
  await server.ask({ cmd: "settle" });
  const viewer = await login(server);
  const urls = await pageUrls(server, viewer);
  const idle = merged(await pageLatency(urls, viewer, IDLE_PAGES_MS));
  const conditions = { ...base, limit: PAGE, responseBytes: urls.bytes, nodesInAnswer: urls.nodes, pages: "first, then fifth (cursor); closed loop, 1 worker, from a child", load: "none" };
  figure(build, "fleet.node_page_idle_p50", idle.p50, "ms", { ...conditions, requests: idle.requests });
  figure(build, "fleet.node_page_idle_p99", idle.p99, "ms", { ...conditions, requests: idle.requests, maxMs: idle.max, targetMs: 20 });
  await server.close();
  server = undefined;
}

/** Every node heartbeating every 2 s; the node page read meanwhile. */
async function heartbeatPhase(build: Build) {
  server = await Server.start(build.entry, serverEnv(6), `heartbeats-${build.label}`, build.flags);
  const intervalMs = server.started.heartbeatIntervalMs;
  await agents.ask<unknown>({ cmd: "beat", url: server.url, intervalMs } satisfies FleetCommand, 10_000);
  await sleep(2 * intervalMs);
  const rss = rssSampler(server);
  const viewer = await login(server);
  const urls = await pageUrls(server, viewer);
  const cpuBefore = server.cpuMs();
  const [hb, pages] = await Promise.all([
    agents.ask<FleetWindow>({ cmd: "window", ms: WINDOW_MS } satisfies FleetCommand, WINDOW_MS + 30_000),
    PAGES_UNDER_LOAD ? pageLatency(urls, viewer, WINDOW_MS - 2000) : Promise.resolve(null),
  ]);
  const rssMax = rss.stop();
  const cpuMs = server.cpuMs() - cpuBefore;
  const afterGc = await server.ask<Memory>({ cmd: "memory", gc: true });
  const conditions = {
    ...base,
    heartbeatIntervalMs: intervalMs,
    offeredPerSecond: Math.round(hb.offered / hb.seconds),
    windowSeconds: hb.seconds,
    skippedSlots: hb.skipped,
    rateLimited: hb.rateLimited,
    otherStatuses: hb.otherStatuses,
    errors: hb.errors,
    concurrentNodePageReader: PAGES_UNDER_LOAD,
  };
  figure(build, "fleet.heartbeats_accepted", hb.acceptedPerSecond, "heartbeats/s", { ...conditions, target: 5000 });
  // what a heartbeat costs the server, whatever else loads the machine (the node-page reader's
  // requests are in it too, a few hundred against tens of thousands of heartbeats)
  figure(build, "fleet.heartbeat_server_cpu", (cpuMs * 1000) / Math.max(1, hb.accepted + hb.rateLimited), "µs/heartbeat", { ...conditions, serverCpuMs: Math.round(cpuMs), note: "server CPU (user + system) over the window per heartbeat answered (200 or 429)" });
  figure(build, "fleet.heartbeats_429", hb.rateLimited, "responses", { ...conditions, note: "answers 429 in the window (the server's per-node pacing)" });
  figure(build, "fleet.heartbeat_p50", hb.p50Ms, "ms", conditions);
  figure(build, "fleet.heartbeat_p99", hb.p99Ms, "ms", { ...conditions, maxMs: hb.maxMs });
  figure(build, "fleet.rss_heartbeat_load", rssMax, "MiB", { ...conditions, afterGc, note: "max RSS of the server process during the window" });
  if (pages) {
    const loaded = merged(pages);
    const pageConditions = { ...base, limit: PAGE, responseBytes: urls.bytes, pages: "first, then fifth (cursor); closed loop, 1 worker, from a child", load: `${Math.round(hb.offered / hb.seconds)} heartbeats/s offered, ${Math.round(hb.acceptedPerSecond)} accepted` };
    figure(build, "fleet.node_page_load_p50", loaded.p50, "ms", { ...pageConditions, requests: loaded.requests });
    figure(build, "fleet.node_page_load_p99", loaded.p99, "ms", { ...pageConditions, requests: loaded.requests, maxMs: loaded.max, targetMs: 20 });
  }
  await agents.ask<unknown>({ cmd: "pause" } satisfies FleetCommand, 10_000);
  await server.close();
  server = undefined;
}

/** RSS: 10 s heartbeats, one hour of telemetry, 2,000 idle SSE clients. */
async function rssPhase(build: Build) {
  server = await Server.start(build.entry, serverEnv(30), `rss-${build.label}`, build.flags);
  const s = server;
  const interval = s.started.heartbeatIntervalMs;
  const perNode = Math.floor((RETENTION_S * 1000) / interval);
  // where the memory goes: after start (read models rebuilt from the log), the prefill, the SSE clients
  const stages: Record<string, Memory> = { started: await s.ask<Memory>({ cmd: "memory", gc: true }) };
  // FLEET_BENCH_HEAPSNAPSHOT=<dir>: what the started server's heap holds, before any telemetry
  const snapshots = process.env.FLEET_BENCH_HEAPSNAPSHOT;
  if (snapshots) await s.ask({ cmd: "heapSnapshot", path: join(snapshots, `fleet-started-${fileSafe(build.label)}.heapsnapshot`) });
  const filled = await s.ask<{ samples: number; seconds: number }>({ cmd: "prefill", environment: ENVIRONMENT, perNode, intervalMs: interval });
  stages.prefilled = await s.ask<Memory>({ cmd: "memory", gc: true });
  const viewer = await login(s);
  const { position: lastEventId } = await s.ask<{ position: number }>({ cmd: "head" });
  const sse = Array.from({ length: Math.ceil(SSE_CLIENTS / 1000) }, () => new Child(sseClient));
  try {
    const opened = await Promise.all(
      sse.map((c, i) =>
        c.ask<Opened>({ cmd: "open", url: `${s.url}/api/v1/deployments/events`, token: viewer, count: Math.min(1000, SSE_CLIENTS - i * 1000), lastEventId } satisfies SseCommand, 120_000),
      ),
    );
    const open = opened.reduce((a, o) => a + o.open, 0);
    stages.sseOpen = await s.ask<Memory>({ cmd: "memory", gc: true });
    // with the clients open (written after the figure's stage: a snapshot's own memory stays in RSS)
    if (snapshots) await s.ask({ cmd: "heapSnapshot", path: join(snapshots, `fleet-sse-${fileSafe(build.label)}.heapsnapshot`) });
    // FLEET_BENCH_ALLOCATIONS=<dir>: what the window's heartbeats promote (see fleet-server.ts)
    const allocations = process.env.FLEET_BENCH_ALLOCATIONS;
    if (allocations) await s.ask({ cmd: "allocations", action: "start" });
    await agents.ask<unknown>({ cmd: "beat", url: s.url, intervalMs: interval } satisfies FleetCommand, 10_000);
    const rss = rssSampler(s);
    const w = await agents.ask<FleetWindow>({ cmd: "window", ms: RSS_MS } satisfies FleetCommand, RSS_MS + 30_000);
    const rssMax = rss.stop();
    if (allocations) await s.ask({ cmd: "allocations", action: "stop", path: join(allocations, `fleet-window-${fileSafe(build.label)}.heapprofile`) });
    const mem = await s.ask<Memory>({ cmd: "memory", gc: true });
    if (snapshots) await s.ask({ cmd: "heapSnapshot", path: join(snapshots, `fleet-window-${fileSafe(build.label)}.heapsnapshot`) });
    figure(build, "fleet.rss_10k_nodes_1h_2000_sse", rssMax, "MiB", {
      ...base,
      heartbeatIntervalMs: interval,
      telemetryRetentionSeconds: RETENTION_S,
      prefill: `synthetic: ${perNode} samples per node (${filled.samples} in all) dated over the past hour, into the server's telemetry store (ring buffers: recordNow; a build without them: recordHeartbeat), in ${filled.seconds.toFixed(1)} s, before the window`,
      sseClients: open,
      acceptedPerSecond: Math.round(w.acceptedPerSecond),
      rateLimited: w.rateLimited,
      windowSeconds: RSS_MS / 1000,
      afterGc: mem,
      stages,
      note: "max RSS of the server process during the window",
      targetMiB: 256,
    });
  } finally {
    await Promise.all(sse.map((c) => c.end({ cmd: "close" } satisfies SseCommand)));
    await agents.ask<unknown>({ cmd: "pause" } satisfies FleetCommand, 10_000);
    await s.close();
    server = undefined;
  }
}

const builds: Build[] = [];
let baselineSrc: string | undefined;
try {
  if (BASELINE) {
    baselineSrc = exportRevision(BASELINE);
    builds.push({ label: `baseline ${BASELINE}`, ...compileServer(baselineSrc) });
  }
  // FLEET_BENCH_WORKING_TREE=0 with a baseline: the baseline alone
  // FLEET_BENCH_SERVER_FLAGS: node flags for the working tree's servers only (e.g. V8 heap settings,
  // beside FLEET_BENCH_BASELINE=HEAD to compare them with the same code without)
  const flags = (process.env.FLEET_BENCH_SERVER_FLAGS ?? "").split(" ").filter(Boolean);
  if (!BASELINE || process.env.FLEET_BENCH_WORKING_TREE !== "0") {
    builds.push({ label: flags.length ? `working tree ${flags.join(" ")}` : "working tree", flags, ...compileServer(fileURLToPath(new URL("..", import.meta.url))) });
  }
  const current = builds.at(-1)!;

  // registration, once: every later server opens the same data directory
  server = await Server.start(current.entry, serverEnv(3600), "register");
  const job: FleetJob = { kind: "fleet", url: server.url, joinToken: server.started.joinToken, environment: ENVIRONMENT, nodes: NODES, hostnamePrefix: "bench-", registerConcurrency: 32, sockets: 128, heartbeat: false };
  const reg = await agents.ask<FleetRegistered>(job, 600_000);
  emit("fleet.register", reg.registered / reg.seconds, "registrations/s", { ...base, concurrency: 32, build: current.label });
  await server.close();
  server = undefined;

  for (const phase of [idlePhase, heartbeatPhase, rssPhase]) {
    if (!PHASES.includes(phase.name.replace("Phase", ""))) continue;
    for (const build of builds) await phase(build);
  }
  if (builds.length === 2) {
    for (const [name, byBuild] of figures) {
      const [b, c] = builds.map((x) => byBuild.get(x.label));
      if (b !== undefined && c !== undefined && b !== 0) emit(`${name}.ratio`, c / b, "working tree / baseline", { ...base, baseline: BASELINE });
    }
  }
} finally {
  await agents.end({ cmd: "stop" } satisfies FleetCommand);
  await server?.close();
  rmSync(dataDir, { recursive: true, force: true });
  for (const b of builds) rmSync(b.dir, { recursive: true, force: true });
  if (baselineSrc) rmSync(baselineSrc, { recursive: true, force: true });
}
