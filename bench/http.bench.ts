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
import { QUICK, sized } from "./quick.js";

const CONCURRENCY = 16;
const READ_MS = sized("BENCH_HTTP_READ_MS", 8000, 2000);
const WRITE_MS = sized("BENCH_HTTP_WRITE_MS", 5000, 2000);
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

// 1. authenticated reads through the full middleware stack, and 2. the same client against a bare
// Hono handler served the same way (the floor set by node:http and the client), measured before
// and after the reads so that a machine getting busier moves both sides of each ratio
let bareRequests = 0;
const bare = new Hono().get("/x", (c) => {
  bareRequests++;
  return c.json({ ok: true });
});
// the second baseline: the same bytes as each full route's answer (captured once from the route),
// served by a plain handler with the same content-type, so the body's size and its write are on both
// sides of the ratio and only the stack and the route's own work are not
const sameBytes = new Map<string, { body: string; contentType: string; requests: number }>();
bare.get("/same/:name", (c) => {
  const entry = sameBytes.get(c.req.param("name"));
  if (!entry) return c.notFound();
  entry.requests++;
  return c.body(entry.body, 200, { "content-type": entry.contentType });
});
const bareServer = serve({ fetch: bare.fetch, port: 0, hostname: "127.0.0.1" });
await once(bareServer, "listening");
const bareOrigin = `http://127.0.0.1:${(bareServer.address() as AddressInfo).port}`;
const bareUrl = `${bareOrigin}/x`;

/**
 * A GET load with the server's CPU per request (this process serves both apps; the client is a
 * child), and its user time alone. On a VM, a server's write that wakes a sleeping client costs it
 * ~30 us more in the kernel than one that finds the client running (measured here, 2026-12-01: a
 * bare Hono handler made to spin 60 us a request paid 33 us a writev, against 6 us unspun). Under
 * this closed loop the bare server keeps its client busy and the slower full stack leaves it
 * sleeping, so the kernel's share of the full stack's CPU grows with the very gap being measured:
 * the user-time ratio leaves the kernel out on both sides.
 */
async function measured(what: string, url: string, headers: Record<string, string>, served: () => Promise<number>): Promise<LoadResult & { cpuUsPerRequest: number; userUsPerRequest: number }> {
  const [cpu0, n0] = [process.cpuUsage(), await served()];
  const r = check(what, await load({ url, method: "GET", headers, expect: 200, durationMs: READ_MS }));
  const cpu = process.cpuUsage(cpu0);
  const n = Math.max(1, (await served()) - n0);
  return { ...r, cpuUsPerRequest: (cpu.user + cpu.system) / n, userUsPerRequest: cpu.user / n };
}
const bareLoad = () => measured("bare", bareUrl, {}, async () => bareRequests);

/** The same-bytes baseline for one route: its answer captured now, then served bare under the same load. */
async function sameBytesLoad(name: string, url: string, headers: Record<string, string>) {
  const res = await fetch(url, { headers });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`capturing ${url}: ${res.status} ${body}`);
  const entry = { body, contentType: res.headers.get("content-type") ?? "application/json", requests: 0 };
  sameBytes.set(name, entry);
  const r = await measured(`bare, same bytes as ${name}`, `${bareOrigin}/same/${name}`, {}, async () => entry.requests);
  return { ...r, bytes: Buffer.byteLength(body), contentType: entry.contentType };
}

const { bareBefore, reads, same, bareAfter } = await withServer("NORMAL", async (server) => {
  const token = await login(server, "admin", "Admin123!");
  const auth = { authorization: `Bearer ${token}` };
  let executionId = "";
  for (let i = 0; i < DEPLOYMENTS; i++) {
    const res = await fetch(`${server.url}/api/v1/deployments`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: deploymentBody });
    if (res.status !== 202) throw new Error(`POST deployment: ${res.status} ${await res.text()}`);
    executionId = ((await res.json()) as { executionId: string }).executionId;
  }
  await server.deps.projections.waitFor(await server.deps.log.headPosition(), 30_000);
  // every request the full server answered, from its own request-duration histogram
  const served = async () => (await server.deps.metrics.httpRequestDuration.get()).values.filter((v) => v.metricName?.endsWith("_count")).reduce((a, v) => a + v.value, 0);
  // the JIT warmed on every route first, so the first figure does not pay for compiling the stack
  for (const path of ["/api/v1/authentication/me", `/api/v1/deployments/${executionId}`, "/api/v1/deployments?limit=20"]) {
    for (let i = 0; i < 300; i++) await (await fetch(`${server.url}${path}`, { headers: auth })).arrayBuffer();
  }
  const bareBefore = await bareLoad();
  // each route right after its same-bytes baseline, so that both see the machine alike
  const meUrl = `${server.url}/api/v1/authentication/me`;
  const deploymentUrl = `${server.url}/api/v1/deployments/${executionId}`;
  const listUrl = `${server.url}/api/v1/deployments?limit=20`;
  const same = { me: await sameBytesLoad("me", meUrl, auth) } as Record<"me" | "deployment" | "list", Awaited<ReturnType<typeof sameBytesLoad>>>;
  const me = await measured("GET me", meUrl, auth, served);
  same.deployment = await sameBytesLoad("deployment", deploymentUrl, auth);
  const deployment = await measured("GET deployment", deploymentUrl, auth, served);
  same.list = await sameBytesLoad("list", listUrl, auth);
  const list = await measured("GET deployments", listUrl, auth, served);
  return { bareBefore, reads: { me, deployment, list }, same, bareAfter: await bareLoad() };
});
await new Promise<void>((resolve) => {
  bareServer.close(() => resolve());
  // serve() is typed as http or http2; this one is http, whose keep-alive sockets would hold close open
  (bareServer as unknown as { closeAllConnections(): void }).closeAllConnections();
});

const readSeconds = { seconds: READ_MS / 1000, ...(QUICK && { quick: true }) };
const bareRps = (bareBefore.requestsPerSecond + bareAfter.requestsPerSecond) / 2;
const bareCpu = (bareBefore.cpuUsPerRequest + bareAfter.cpuUsPerRequest) / 2;
const bareUser = (bareBefore.userUsPerRequest + bareAfter.userUsPerRequest) / 2;
{
  const conditions = { ...base, ...readSeconds, request: "GET /x on new Hono() served by @hono/node-server", runs: "one before and one after the reads, mean" };
  emit("http.bare_hono.throughput", bareRps, "requests/s", { ...conditions, before: Math.round(bareBefore.requestsPerSecond), after: Math.round(bareAfter.requestsPerSecond) });
  emit("http.bare_hono.p50", (bareBefore.p50Ms + bareAfter.p50Ms) / 2, "ms", conditions);
  emit("http.bare_hono.p99", (bareBefore.p99Ms + bareAfter.p99Ms) / 2, "ms", conditions);
  emit("http.bare_hono.server_cpu_per_request", bareCpu, "us", conditions);
  emit("http.bare_hono.server_user_cpu_per_request", bareUser, "us", conditions);
}
for (const [name, path, r, sb] of [
  ["me", "GET /api/v1/authentication/me", reads.me, same.me],
  ["deployment", "GET /api/v1/deployments/{id}", reads.deployment, same.deployment],
  ["deployments_list", "GET /api/v1/deployments?limit=20", reads.list, same.list],
] as const) {
  const conditions = { ...base, ...readSeconds, request: path, requests: r.requests, deploymentsPresent: DEPLOYMENTS, auth: "Bearer JWT (admin)", eventStore: "sqlite NORMAL", readStore: "memory" };
  emit(`http.${name}.p50`, r.p50Ms, "ms", conditions);
  emit(`http.${name}.p99`, r.p99Ms, "ms", conditions);
  emit(`http.${name}.throughput`, r.requestsPerSecond, "requests/s", conditions);
  emit(`http.${name}.server_cpu_per_request`, r.cpuUsPerRequest, "us", { ...conditions, meaning: "this process's CPU time over the load divided by the requests it served (client excluded)" });
  emit(`http.${name}.server_user_cpu_per_request`, r.userUsPerRequest, "us", { ...conditions, meaning: "as server_cpu_per_request, user time only" });
  const ratio = { ...base, ...readSeconds, full: path, bare: "GET /x", baseline: "GET /x, an 11-byte {ok:true} (the http.*_vs_bare_same_bytes figures send each route's own bytes)", fullRequestsPerSecond: Math.round(r.requestsPerSecond), bareRequestsPerSecond: Math.round(bareRps), target: ">= 0.7" };
  emit(`http.${name}_vs_bare.ratio`, r.requestsPerSecond / bareRps, "ratio", ratio);
  emit(`http.${name}_vs_bare.cpu_ratio`, bareCpu / r.cpuUsPerRequest, "ratio", { ...ratio, meaning: "bare server CPU per request / full stack's: the throughput ratio on a server that had the cores to itself" });
  emit(`http.${name}_vs_bare.user_cpu_ratio`, bareUser / r.userUsPerRequest, "ratio", { ...ratio, meaning: "as cpu_ratio, user time only: without the kernel's network work, which on a VM includes waking the waiting client (see measured())" });
  const sameConditions = {
    ...base,
    ...readSeconds,
    full: path,
    bare: `GET /same/${name} on new Hono(): the ${sb.bytes} bytes ${path} answered, captured once, sent with content-type ${sb.contentType}`,
    baseline: "same bytes (the http.*_vs_bare figures use GET /x, an 11-byte {ok:true})",
    bytes: sb.bytes,
    order: "measured right before the full route",
  };
  emit(`http.bare_hono_same_bytes.${name}.throughput`, sb.requestsPerSecond, "requests/s", sameConditions);
  emit(`http.bare_hono_same_bytes.${name}.server_cpu_per_request`, sb.cpuUsPerRequest, "us", sameConditions);
  const sameRatio = { ...sameConditions, fullRequestsPerSecond: Math.round(r.requestsPerSecond), bareRequestsPerSecond: Math.round(sb.requestsPerSecond), target: ">= 0.7" };
  emit(`http.${name}_vs_bare_same_bytes.ratio`, r.requestsPerSecond / sb.requestsPerSecond, "ratio", sameRatio);
  emit(`http.${name}_vs_bare_same_bytes.cpu_ratio`, sb.cpuUsPerRequest / r.cpuUsPerRequest, "ratio", { ...sameRatio, meaning: "same-bytes bare server CPU per request / full stack's" });
}

// BENCH_HTTP_SKIP_POST=1 stops here: the GET figures only, for quicker iterations on the read stack
if (process.env.BENCH_HTTP_SKIP_POST === "1") process.exit(0);

// 3. commands accepted per second, one fresh server (and database) per synchronous mode; then,
// with FULL, latency at a steady 200 commands/s offered on a fixed schedule (open loop)
const OPEN_LOOP_RATE = Number(process.env.BENCH_HTTP_POST_RATE ?? 200);

/**
 * POSTs under a load, with this process's CPU per accepted command (the server runs here, the
 * client in a child: CPU over the load, warm-up included, over every deployment it accepted) and
 * how its deployments stand once the read models have caught up.
 */
async function postLoad(synchronous: "FULL" | "NORMAL", what: string, open?: { ratePerSecond: number; concurrency: number }) {
  return withServer(synchronous, async (server) => {
    const token = await login(server, "deployer", "Deploy123!");
    const cpu0 = process.cpuUsage();
    const r = check(
      what,
      await load({
        url: `${server.url}/api/v1/deployments`,
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: deploymentBody,
        expect: 202,
        durationMs: WRITE_MS,
        ...open,
      }),
    );
    const cpu = process.cpuUsage(cpu0);
    await server.deps.projections.waitFor(await server.deps.log.headPosition(), 30_000);
    const docs = await server.deps.readStore.collection("deployments").find({}, { projection: { status: 1 } });
    const byStatus: Record<string, number> = {};
    for (const d of docs) byStatus[String(d.status)] = (byStatus[String(d.status)] ?? 0) + 1;
    return { ...r, cpuMsPerCommand: (cpu.user + cpu.system) / 1000 / Math.max(1, docs.length), deploymentsAtEnd: byStatus };
  });
}
const postConditions = {
  ...base,
  request: "POST /api/v1/deployments (Development, no Idempotency-Key)",
  queueMode: "queue",
  simulator: false,
  quick: QUICK,
  warmupMs: WARMUP_MS,
  durationMs: WRITE_MS,
  note: "every deployment goes to one cluster with no nodes: the runner records each as queued behind the head, the head fails at planning and the next is woken, one at a time",
};
const cpuMeaning = "this process's CPU (server; the client is a child) over the load, warm-up included, per deployment accepted";
for (const synchronous of ["FULL", "NORMAL"] as const) {
  const r = await postLoad(synchronous, `POST deployments ${synchronous}`);
  const conditions = {
    ...postConditions,
    sqliteSynchronous: synchronous,
    seconds: Number(r.seconds.toFixed(1)),
    requests: r.requests,
    maxMs: Number(r.maxMs.toFixed(1)),
    deploymentsAtEnd: r.deploymentsAtEnd,
  };
  const name = `http.deployment_commands.${synchronous.toLowerCase()}`;
  emit(`${name}.throughput`, r.requestsPerSecond, "commands/s", { ...conditions, target: ">= 500" });
  emit(`${name}.p50`, r.p50Ms, "ms", conditions);
  emit(`${name}.p99`, r.p99Ms, "ms", conditions);
  emit(`${name}.server_cpu_per_command`, r.cpuMsPerCommand, "ms", { ...conditions, meaning: cpuMeaning });
}
{
  const r = await postLoad("FULL", "POST deployments at a fixed rate", { ratePerSecond: OPEN_LOOP_RATE, concurrency: 64 });
  const conditions = {
    ...postConditions,
    concurrency: "open loop, up to 64 sockets",
    offeredPerSecond: OPEN_LOOP_RATE,
    sqliteSynchronous: "FULL",
    seconds: Number(r.seconds.toFixed(1)),
    requests: r.requests,
    maxMs: Number(r.maxMs.toFixed(1)),
    latency: "from each request's scheduled send time (no coordinated omission)",
    deploymentsAtEnd: r.deploymentsAtEnd,
  };
  const name = `http.deployment_commands.at_${OPEN_LOOP_RATE}`;
  emit(`${name}.served`, r.requestsPerSecond, "commands/s", { ...conditions, meaning: "answers per second until the last answer: below the offered rate when the server falls behind" });
  emit(`${name}.p50`, r.p50Ms, "ms", conditions);
  emit(`${name}.p99`, r.p99Ms, "ms", { ...conditions, target: "<= 20" });
  emit(`${name}.server_cpu_per_command`, r.cpuMsPerCommand, "ms", { ...conditions, meaning: cpuMeaning });
}

