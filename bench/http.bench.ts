// HTTP figures over real sockets, with the load generator (bench/load-client.ts) in a child process
// so its CPU is not the server's: latency and throughput of authenticated GETs through the full
// middleware stack, the same client against a bare Hono handler, and commands accepted per second
// for POST /api/v1/deployments with SQLite synchronous FULL and NORMAL.
import { fork } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { loadConfig } from "../src/platform/config.js";
import { startServer, type RunningServer } from "../src/server.js";
import { emit } from "./emit.js";
import type { LoadJob, LoadResult } from "./load-client.js";

const CONCURRENCY = 16;
const READ_MS = Number(process.env.BENCH_HTTP_READ_MS ?? 8000);
const WRITE_MS = Number(process.env.BENCH_HTTP_WRITE_MS ?? 5000);
const WARMUP_MS = 1000;
const DEPLOYMENTS = 5;
const clientPath = fileURLToPath(new URL("./load-client.ts", import.meta.url));

/** Runs one load job in a fresh child process; gives up well after the job should have ended. */
async function load(job: Omit<LoadJob, "concurrency" | "warmupMs"> & { concurrency?: number }): Promise<LoadResult> {
  const child = fork(clientPath, [], { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const timer = setTimeout(() => child.kill("SIGKILL"), job.durationMs + WARMUP_MS + 30_000);
  try {
    const result = once(child, "message") as Promise<[LoadResult]>;
    const exited = once(child, "exit").then(([code]) => {
      throw new Error(`load client exited with ${code} before answering`);
    });
    child.send({ concurrency: CONCURRENCY, ...job, warmupMs: WARMUP_MS } satisfies LoadJob);
    const [r] = await Promise.race([result, exited]);
    return r;
  } finally {
    clearTimeout(timer);
    if (child.exitCode === null) child.kill();
  }
}

function check(what: string, r: LoadResult): LoadResult {
  const bad = r.errors + Object.values(r.unexpected).reduce((a, b) => a + b, 0);
  if (bad > r.requests / 100) throw new Error(`${what}: ${r.errors} errors, unexpected statuses ${JSON.stringify(r.unexpected)} of ${r.requests}`);
  return r;
}

async function withServer<T>(synchronous: "FULL" | "NORMAL", body: (server: RunningServer) => Promise<T>): Promise<T> {
  const dataDir = mkdtempSync(join(tmpdir(), "korch-http-bench-"));
  const server = await startServer(
    loadConfig({
      APP_MODE: "development",
      PORT: "0",
      HOST: "127.0.0.1",
      DATA_DIR: dataDir,
      LOG_LEVEL: "silent",
      SQLITE_SYNCHRONOUS: synchronous,
      SIMULATOR: "false",
      RATE_LIMIT_ENABLED: "false",
      DEPLOYMENT_QUEUE_MODE: "queue",
    }),
  );
  try {
    return await body(server);
  } finally {
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function login(server: RunningServer, username: string, password: string): Promise<string> {
  const res = await fetch(`${server.url}/api/v1/authentication/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  if (res.status !== 200) throw new Error(`login ${username}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}

const deploymentBody = JSON.stringify({ moduleName: "netfilter-ext", version: "2.0.0", targetEnvironment: "Development", requesterEmail: "bench@example.com" });
const base = { concurrency: CONCURRENCY, client: "child process, http.Agent keepAlive", warmupMs: WARMUP_MS, machine: "2 cores, client and server share them" };

// 1. authenticated reads through the full middleware stack
const reads = await withServer("NORMAL", async (server) => {
  const token = await login(server, "admin", "Admin123!");
  const auth = { authorization: `Bearer ${token}` };
  for (let i = 0; i < DEPLOYMENTS; i++) {
    const res = await fetch(`${server.url}/api/v1/deployments`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: deploymentBody });
    if (res.status !== 202) throw new Error(`POST deployment: ${res.status} ${await res.text()}`);
  }
  await server.deps.projections.waitFor(await server.deps.log.headPosition(), 30_000);
  const list = check("GET deployments", await load({ url: `${server.url}/api/v1/deployments?limit=20`, method: "GET", headers: auth, expect: 200, durationMs: READ_MS }));
  const me = check("GET me", await load({ url: `${server.url}/api/v1/authentication/me`, method: "GET", headers: auth, expect: 200, durationMs: READ_MS }));
  return { list, me };
});
for (const [name, path, r] of [
  ["deployments_list", "GET /api/v1/deployments?limit=20", reads.list],
  ["me", "GET /api/v1/authentication/me", reads.me],
] as const) {
  const conditions = { ...base, request: path, seconds: Number(r.seconds.toFixed(1)), requests: r.requests, deploymentsPresent: DEPLOYMENTS, auth: "Bearer JWT (admin)", eventStore: "sqlite NORMAL", readStore: "memory" };
  emit(`http.${name}.p50`, r.p50Ms, "ms", conditions);
  emit(`http.${name}.p99`, r.p99Ms, "ms", conditions);
  emit(`http.${name}.throughput`, r.requestsPerSecond, "requests/s", conditions);
}

// 2. the same client against a bare Hono handler: the floor set by node:http and the client
const bare = new Hono().get("/x", (c) => c.json({ ok: true }));
const bareServer = serve({ fetch: bare.fetch, port: 0, hostname: "127.0.0.1" });
await once(bareServer, "listening");
try {
  const port = (bareServer.address() as AddressInfo).port;
  const r = check("bare", await load({ url: `http://127.0.0.1:${port}/x`, method: "GET", headers: {}, expect: 200, durationMs: READ_MS }));
  const conditions = { ...base, seconds: Number(r.seconds.toFixed(1)), requests: r.requests };
  emit("http.bare_hono.throughput", r.requestsPerSecond, "requests/s", { ...conditions, request: "GET /x on new Hono() served by @hono/node-server" });
  emit("http.bare_hono.p50", r.p50Ms, "ms", conditions);
  emit("http.bare_hono.p99", r.p99Ms, "ms", conditions);
  emit("http.full_stack_vs_bare.ratio", reads.list.requestsPerSecond / r.requestsPerSecond, "ratio", {
    ...base,
    full: "GET /api/v1/deployments?limit=20",
    bare: "GET /x",
    fullRequestsPerSecond: Math.round(reads.list.requestsPerSecond),
    bareRequestsPerSecond: Math.round(r.requestsPerSecond),
  });
  emit("http.me_vs_bare.ratio", reads.me.requestsPerSecond / r.requestsPerSecond, "ratio", { ...base, full: "GET /api/v1/authentication/me", bare: "GET /x" });
} finally {
  await new Promise<void>((resolve) => {
    bareServer.close(() => resolve());
    (bareServer as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
  });
}

// 3. commands accepted per second, one fresh server (and database) per synchronous mode; then,
// with FULL, latency at a steady 200 commands/s offered on a fixed schedule (open loop)
const OPEN_LOOP_RATE = Number(process.env.BENCH_HTTP_POST_RATE ?? 200);
for (const synchronous of ["FULL", "NORMAL"] as const) {
  const r = await withServer(synchronous, async (server) => {
    const token = await login(server, "deployer", "Deploy123!");
    return check(
      `POST deployments ${synchronous}`,
      await load({
        url: `${server.url}/api/v1/deployments`,
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: deploymentBody,
        expect: 202,
        durationMs: WRITE_MS,
      }),
    );
  });
  const conditions = {
    ...base,
    request: "POST /api/v1/deployments (Development, no Idempotency-Key)",
    sqliteSynchronous: synchronous,
    seconds: Number(r.seconds.toFixed(1)),
    requests: r.requests,
    maxMs: Number(r.maxMs.toFixed(1)),
    queueMode: "queue",
    simulator: false,
    note: "each accepted command also wakes the runner, which queues the deployment behind the first",
  };
  emit(`http.deployment_commands.${synchronous.toLowerCase()}.throughput`, r.requestsPerSecond, "commands/s", conditions);
  emit(`http.deployment_commands.${synchronous.toLowerCase()}.p50`, r.p50Ms, "ms", conditions);
  emit(`http.deployment_commands.${synchronous.toLowerCase()}.p99`, r.p99Ms, "ms", conditions);
}
{
  const r = await withServer("FULL", async (server) => {
    const token = await login(server, "deployer", "Deploy123!");
    return check(
      "POST deployments at a fixed rate",
      await load({
        url: `${server.url}/api/v1/deployments`,
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: deploymentBody,
        expect: 202,
        durationMs: WRITE_MS,
        ratePerSecond: OPEN_LOOP_RATE,
        concurrency: 64,
      }),
    );
  });
  const conditions = {
    ...base,
    concurrency: "open loop, up to 64 sockets",
    offeredPerSecond: OPEN_LOOP_RATE,
    request: "POST /api/v1/deployments (Development, no Idempotency-Key)",
    sqliteSynchronous: "FULL",
    seconds: Number(r.seconds.toFixed(1)),
    requests: r.requests,
    maxMs: Number(r.maxMs.toFixed(1)),
    latency: "from each request's scheduled send time (no coordinated omission)",
    queueMode: "queue",
    simulator: false,
  };
  emit(`http.deployment_commands.at_${OPEN_LOOP_RATE}.served`, r.requestsPerSecond, "commands/s", { ...conditions, meaning: "answers per second until the last answer: below the offered rate when the server falls behind" });
  emit(`http.deployment_commands.at_${OPEN_LOOP_RATE}.p50`, r.p50Ms, "ms", conditions);
  emit(`http.deployment_commands.at_${OPEN_LOOP_RATE}.p99`, r.p99Ms, "ms", { ...conditions, target: "<= 20" });
}
