// Fleet figures with FLEET_BENCH_NODES (default 10,000) registered nodes in one cluster, over real HTTP:
// heartbeats accepted per second, memory per node, and GET /api/v1/clusters/{env} latency.
import { rmSync } from "node:fs";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { benchConfig } from "./config.js";
import { startServer } from "../src/server.js";
import { emit } from "./emit.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

const NODES = Number(process.env.FLEET_BENCH_NODES ?? 10_000);
const HEARTBEATS = Number(process.env.FLEET_BENCH_HEARTBEATS ?? 20_000);
const CONCURRENCY = 64;
const QUERIES = 40;

const { config, dataDir } = benchConfig("fleet", {
  // nobody goes Unhealthy while the bench is registering
  HEARTBEAT_UNHEALTHY_SECONDS: "3600",
  HEARTBEAT_OFFLINE_SECONDS: "7200",
});
const server = await startServer(config);
const post = (path: string, body: unknown, token?: string) =>
  fetch(server.url + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token && { authorization: `Bearer ${token}` }) },
    body: JSON.stringify(body),
  });

async function pool<T>(items: T[], worker: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < items.length) await worker(items[next++]!);
    }),
  );
}

const conditions = { nodes: NODES, concurrency: CONCURRENCY, eventStore: "sqlite", readStore: "memory", transport: "http keep-alive, same process" };
const metrics = { cpu: 30, memory: 40, latencyP95Ms: 60, errorRate: 0.001, requestRate: 100 };

try {
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  const nodes: { nodeId: string; token: string }[] = [];
  const registerStarted = performance.now();
  await pool(
    Array.from({ length: NODES }, (_, i) => i),
    async (i) => {
      const res = await post("/api/v1/agents/register", {
        joinToken: config.agentJoinToken,
        environment: "Production",
        hostname: `bench-${i}`,
        capacity: { cpuCores: 4, memoryMb: 8192 },
        labels: { color: i % 2 ? "green" : "blue" },
      });
      if (res.status !== 201) throw new Error(`register ${i}: ${res.status} ${await res.text()}`);
      const body = (await res.json()) as { nodeId: string; token: string };
      nodes.push({ nodeId: body.nodeId, token: body.token });
    },
  );
  emit("fleet.register", NODES / ((performance.now() - registerStarted) / 1000), "registrations/s", conditions);

  let i = 0;
  const heartbeatStarted = performance.now();
  await pool(
    Array.from({ length: HEARTBEATS }, () => nodes[i++ % nodes.length]!),
    async (n) => {
      const res = await post(`/api/v1/agents/${n.nodeId}/heartbeat`, { metrics, modules: { "net-filter": "1.0.0" } }, n.token);
      if (res.status !== 202) throw new Error(`heartbeat: ${res.status} ${await res.text()}`);
      await res.arrayBuffer();
    },
  );
  emit("fleet.heartbeats_accepted", HEARTBEATS / ((performance.now() - heartbeatStarted) / 1000), "heartbeats/s", { ...conditions, heartbeats: HEARTBEATS });

  await server.deps.projections.waitFor(await server.deps.log.headPosition(), 60_000);
  gc();
  const heapAfter = process.memoryUsage().heapUsed;
  emit("fleet.memory_per_node", (heapAfter - heapBefore) / NODES / 1024, "KiB/node", {
    ...conditions,
    note: "heap delta after registration and heartbeats (read models, telemetry samples, liveness) divided by nodes",
    samplesPerNode: HEARTBEATS / NODES,
  });

  const login = await post("/api/v1/authentication/login", { username: "viewer", password: "Viewer123!" });
  const { token } = (await login.json()) as { token: string };
  const latencies: number[] = [];
  let bytes = 0;
  for (let q = 0; q < QUERIES + 3; q++) {
    const started = performance.now();
    const res = await fetch(`${server.url}/api/v1/clusters/Production`, { headers: { authorization: `Bearer ${token}` } });
    const body = await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`GET cluster: ${res.status}`);
    if (q >= 3) latencies.push(performance.now() - started); // the first few warm up the JIT
    bytes = body.byteLength;
  }
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.ceil((p / 100) * latencies.length) - 1)]!;
  const q = { ...conditions, requests: QUERIES, responseBytes: bytes };
  emit("fleet.get_cluster_p50", pct(50), "ms", q);
  emit("fleet.get_cluster_p99", pct(99), "ms", q);
} finally {
  await server.close();
  rmSync(dataDir, { recursive: true, force: true });
}
