// SSE fan-out over real sockets: the server runs in this process, the connections are held by child
// processes (bench/sse-client.ts, up to CONNECTIONS_PER_CHILD each) on GET /api/v1/deployments/events.
// 1. commit-to-client latency with 1,000 and 2,000 connections at 50 events/s;
// 2. how many connections fit within 512 MB of server RSS, in steps of 1,000, up to a cap below the
//    server's file-descriptor limit.
// Events are StageStarted appended to fresh deployment streams: valid in the catalog, matched by the
// feed, and (no DeploymentRequested) nothing the runner acts on, so each append is exactly one
// message per connection.
import { execSync, fork, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { rmSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { streams } from "../src/events/streams.js";
import { benchConfig } from "./config.js";
import { startServer } from "../src/server.js";
import { emit } from "./emit.js";
import type { Opened, Received, Report, SseCommand } from "./sse-client.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/** BENCH_QUICK=1: shorter latency windows and a lower connection cap, so the whole bench fits in ~40 s */
const QUICK = process.env.BENCH_QUICK === "1";
const LATENCY_CONNECTIONS = (process.env.BENCH_SSE_CONNECTIONS ?? "1000,2000").split(",").map(Number);
const RATE = 50; // events per second
const LATENCY_MS = Number(process.env.BENCH_SSE_MS ?? (QUICK ? 2500 : 8000));
const RSS_LIMIT = 512 * 1024 * 1024;
const STEP = 1000;
// the server's fd limit minus room for the database, logs and listening socket (each client
// process holds at most CONNECTIONS_PER_CHILD, under the same limit)
const FD_LIMIT = Number(execSync("ulimit -n", { shell: "/bin/sh" }).toString().trim()) || 1024;
const CAP = Number(process.env.BENCH_SSE_CAP ?? (QUICK ? 3000 : Math.min(18_000, FD_LIMIT - 2_000)));
const CONNECTIONS_PER_CHILD = 4000;
if (FD_LIMIT < Math.max(...LATENCY_CONNECTIONS) + 500) {
  throw new Error(`sse bench: ulimit -n is ${FD_LIMIT}; raise it (ulimit -n 20000) to hold ${Math.max(...LATENCY_CONNECTIONS)} connections`);
}
const clientPath = fileURLToPath(new URL("./sse-client.ts", import.meta.url));
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const { config, dataDir } = benchConfig("sse", {
  SSE_MAX_CONNECTIONS: "30000",
  SSE_MAX_CONNECTIONS_PER_USER: "30000",
});
const server = await startServer(config);
const url = `${server.url}/api/v1/deployments/events`;

/** One child holding connections; every command gets one answer, in order. */
class Client {
  private readonly child: ChildProcess;
  private readonly answers: ((v: unknown) => void)[] = [];
  held = 0;
  constructor() {
    this.child = fork(clientPath, [], { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
    this.child.on("message", (m) => this.answers.shift()?.(m));
    this.child.on("exit", (code) => {
      for (const a of this.answers.splice(0)) a(new Error(`sse client exited with ${code}`));
    });
  }
  private async ask<T>(command: SseCommand, timeoutMs = 60_000): Promise<T> {
    const answer = new Promise<unknown>((resolve) => this.answers.push(resolve));
    this.child.send(command);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<Error>((resolve) => {
      timer = setTimeout(() => resolve(new Error(`sse client: no answer to ${command.cmd} in ${timeoutMs} ms`)), timeoutMs);
    });
    const v = await Promise.race([answer, timeout]);
    clearTimeout(timer);
    if (v instanceof Error) throw v;
    return v as T;
  }
  async open(token: string, count: number): Promise<Opened> {
    // resuming from the head, as a reconnecting client would: without it every connection first
    // replays the whole deployment history
    const lastEventId = await server.deps.log.headPosition();
    const r = await this.ask<Opened>({ cmd: "open", url, token, count, lastEventId });
    this.held += r.open;
    if (r.failed) throw new Error(`sse client: ${r.failed} of ${count} connections refused: ${JSON.stringify(r.statuses)}`);
    return r;
  }
  received = () => this.ask<Received>({ cmd: "received" });
  report = (appendedAt: [number, number][]) => this.ask<Report>({ cmd: "report", appendedAt });
  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = once(this.child, "exit");
    await this.ask({ cmd: "close" }, 10_000).catch(() => this.child.kill("SIGKILL"));
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  }
}

async function token(): Promise<string> {
  const res = await fetch(`${server.url}/api/v1/authentication/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: "viewer", password: "Viewer123!" }),
  });
  if (res.status !== 200) throw new Error(`login: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}

/** Appends one StageStarted to a fresh deployment stream; returns its position. */
async function appendOne(): Promise<number> {
  const { log } = server.deps;
  const at = new Date().toISOString();
  const events = log.envelope([{ type: "StageStarted", data: { stage: "Deploy", at, message: "bench" } }], () => ({
    actor: { kind: "system", id: "sse-bench" },
    correlationId: "sse-bench",
    causationId: "sse-bench",
  }));
  return (await log.append(streams.deployment(randomUUID()), events, "no_stream")).position;
}

/** Waits until the clients hold `expected` messages in total (or gives up after `timeoutMs`). */
async function drained(clients: Client[], expected: number, timeoutMs: number): Promise<Received[]> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    const r = await Promise.all(clients.map((c) => c.received()));
    if (r.reduce((a, x) => a + x.messages, 0) >= expected || performance.now() > until) return r;
    await sleep(250);
  }
}

/** Waits for the server to notice closed connections (the feed keeps one listener per stream). */
async function serverReleased(baseline: number) {
  const until = performance.now() + 15_000;
  while (server.deps.feed.size > baseline && performance.now() < until) await sleep(100);
}

function percentiles(buckets: Record<string, number>, ps: number[]): number[] {
  const entries = Object.entries(buckets)
    .map(([b, n]) => [Number(b), n] as const)
    .sort((a, b) => a[0] - b[0]);
  const total = entries.reduce((a, [, n]) => a + n, 0);
  return ps.map((p) => {
    const rank = Math.ceil((p / 100) * total);
    let seen = 0;
    for (const [b, n] of entries) {
      seen += n;
      if (seen >= rank) return (b + 1) * 0.1; // upper edge of the 0.1 ms bucket
    }
    return NaN;
  });
}

const feedBaseline = server.deps.feed.size; // the runner's own listener
const viewer = await token();
try {
  // 1. latency
  for (const connections of LATENCY_CONNECTIONS) {
    const clients = Array.from({ length: Math.ceil(connections / 1000) }, () => new Client());
    try {
      const openStarted = performance.now();
      await Promise.all(clients.map((c, i) => c.open(viewer, Math.min(1000, connections - i * 1000))));
      const openS = (performance.now() - openStarted) / 1000;
      const appendedAt: [number, number][] = [];
      const events = Math.round((RATE * LATENCY_MS) / 1000);
      // CPU over the window, this process (the server, and the bench's appends) and the clients:
      // on 2 shared cores the fan-out's cost per message says more than its latency
      const clientCpuBefore = (await Promise.all(clients.map((c) => c.received()))).map((r) => r.cpu);
      const serverCpuBefore = process.cpuUsage();
      const started = performance.now();
      for (let k = 0; k < events; k++) {
        const due = started + (k * 1000) / RATE;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        const t = now(); // before the append: the latency includes the commit
        appendedAt.push([await appendOne(), t]);
      }
      const appendS = (performance.now() - started) / 1000;
      const received = await drained(clients, connections * events, 10_000);
      const serverCpu = process.cpuUsage(serverCpuBefore);
      const delivered = received.reduce((a, x) => a + x.messages, 0);
      const clientCpuUs = received.reduce((a, r, i) => a + r.cpu.user + r.cpu.system - clientCpuBefore[i]!.user - clientCpuBefore[i]!.system, 0);
      const perMessage = (us: number) => Number((us / Math.max(1, delivered)).toFixed(2));
      const cpu = {
        serverUserUsPerMessage: perMessage(serverCpu.user),
        serverSystemUsPerMessage: perMessage(serverCpu.system),
        clientsUsPerMessage: perMessage(clientCpuUs),
        windowSeconds: Number(((performance.now() - started) / 1000).toFixed(1)),
      };
      const reports = await Promise.all(clients.map((c) => c.report(appendedAt)));
      const merged: Record<string, number> = {};
      for (const r of reports) for (const [b, n] of Object.entries(r.buckets)) merged[b] = (merged[b] ?? 0) + n;
      const [p50, p95, p99, max] = percentiles(merged, [50, 95, 99, 100]);
      const conditions = {
        connections,
        eventsPerSecond: RATE,
        events,
        achievedEventsPerSecond: Number((events / appendS).toFixed(1)),
        messagesExpected: connections * events,
        messagesDelivered: delivered,
        fewestOnOneConnection: Math.min(...received.map((r) => r.minPerConnection)),
        openSeconds: Number(openS.toFixed(1)),
        clients: `${clients.length} child process(es), raw sockets (node:net), bytes scanned for id lines`,
        clock: "performance.timeOrigin + performance.now() in both processes; append time taken before log.append",
        eventStore: "sqlite NORMAL",
        route: "GET /api/v1/deployments/events",
        quick: QUICK,
        cpu,
      };
      emit(`sse.latency.${connections}.p50`, p50!, "ms", conditions);
      emit(`sse.latency.${connections}.p95`, p95!, "ms", conditions);
      emit(`sse.latency.${connections}.p99`, p99!, "ms", conditions);
      emit(`sse.latency.${connections}.max`, max!, "ms", conditions);
      emit(`sse.server_cpu_per_message.${connections}`, cpu.serverUserUsPerMessage + cpu.serverSystemUsPerMessage, "us/message", conditions);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      await serverReleased(feedBaseline);
    }
  }

  // 2. connections held within 512 MB of RSS
  await sleep(500);
  gc();
  const base = process.memoryUsage();
  const clients: Client[] = [];
  let held = 0;
  let stoppedBy = "cap";
  let last = base;
  try {
    while (held < CAP) {
      let client = clients.at(-1);
      if (!client || client.held >= CONNECTIONS_PER_CHILD) clients.push((client = new Client()));
      const stepStarted = performance.now();
      await client.open(viewer, Math.min(STEP, CAP - held));
      held = clients.reduce((a, c) => a + c.held, 0);
      gc();
      last = process.memoryUsage();
      console.error(`sse bench: ${held} connections, rss ${(last.rss / 2 ** 20).toFixed(0)} MiB, heap ${(last.heapUsed / 2 ** 20).toFixed(0)} MiB, step ${((performance.now() - stepStarted) / 1000).toFixed(1)} s`);
      if (last.rss > RSS_LIMIT) {
        stoppedBy = "rss";
        break;
      }
    }
    // every held connection still gets a message
    const before = (await Promise.all(clients.map((c) => c.received()))).reduce((a, r) => a + r.messages, 0);
    const deliveredStarted = performance.now();
    await appendOne();
    const after = (await drained(clients, before + held, 30_000)).reduce((a, r) => a + r.messages, 0);
    const fanOutS = (performance.now() - deliveredStarted) / 1000;
    const conditions = {
      stoppedBy,
      rssLimitMiB: 512,
      capConnections: CAP,
      quick: QUICK,
      fdLimit: FD_LIMIT,
      baselineRssMiB: Math.round(base.rss / 2 ** 20),
      rssMiB: Math.round(last.rss / 2 ** 20),
      heapUsedMiB: Math.round(last.heapUsed / 2 ** 20),
      oneEventDeliveredTo: after - before,
      oneEventFanOutSeconds: Number(fanOutS.toFixed(2)),
      route: "GET /api/v1/deployments/events",
      note: "RSS and heap after gc(); the server process also runs the bench loop",
    };
    emit("sse.connections_held", held, "connections", conditions);
    emit("sse.rss_per_connection", (last.rss - base.rss) / held / 1024, "KiB/connection", conditions);
    emit("sse.heap_per_connection", (last.heapUsed - base.heapUsed) / held / 1024, "KiB/connection", conditions);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
} finally {
  await server.close();
  rmSync(dataDir, { recursive: true, force: true });
}
