// Two server processes share one SQLite event log (WAL) and one Redis (leases, rate limits); each
// keeps its own in-memory read models, rebuilt from the shared log. A deployment requested on A
// runs exactly once, is watched live from B, survives A being SIGKILLed mid-way (B takes over after
// the lease expires) and rate limits count hits on both instances against one window.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { subscribe } from "../../src/client/sse.js";
import type { FeedEvent } from "../../src/client/types.js";
import { catalog } from "../../src/events/catalog/index.js";
import type { RecordedEvent } from "../../src/events/envelope.js";
import { EventLog } from "../../src/events/event-log.js";
import { SqliteEventStore } from "../../src/events/store/sqlite.js";
import { streams } from "../../src/events/streams.js";
import { FAST_STRATEGY_SETTINGS } from "../helpers/deployments.js";
import { freePort, startRedisServer } from "../helpers/redis-server.js";

const JOIN_TOKEN = "two-instances-join-token";
const TERMINAL = ["DeploymentSucceeded", "DeploymentFailed", "DeploymentRolledBack", "DeploymentCancelled", "DeploymentRejected"];
const dataDir = mkdtempSync(join(tmpdir(), "korch-two-"));
const children: ChildProcess[] = [];

interface Instance {
  name: string;
  url: string;
  child: ChildProcess;
}

function spawnLogged(name: string, args: string[], env: Record<string, string>): ChildProcess {
  // output goes to a file in the data dir, read back only when something fails
  const out = openSync(join(dataDir, `${name}.log`), "a");
  const child = spawn(process.execPath, ["--import", "tsx", ...args], { env: { ...process.env, ...env }, stdio: ["ignore", out, out] });
  children.push(child);
  return child;
}

function startInstance(name: string, port: number, redisUrl: string): Instance {
  const child = spawnLogged(name, ["src/main.ts"], {
    APP_MODE: "development",
    PORT: String(port),
    HOST: "127.0.0.1",
    DATA_DIR: dataDir,
    SQLITE_SYNCHRONOUS: "NORMAL",
    LOG_LEVEL: "warn",
    REDIS_URL: redisUrl,
    // node agents run in their own process, so they outlive A
    SIMULATOR: "false",
    AGENT_JOIN_TOKEN: JOIN_TOKEN,
    HEARTBEAT_UNHEALTHY_SECONDS: "3",
    HEARTBEAT_OFFLINE_SECONDS: "30",
    RATE_LIMIT_ENABLED: "true",
    RATE_LIMIT_FAIL_MODE: "closed",
    RATE_LIMITS: JSON.stringify({ deployments: 3 }),
    STRATEGY_SETTINGS: FAST_STRATEGY_SETTINGS,
  });
  return { name, url: `http://127.0.0.1:${port}`, child };
}

function logsOf(name: string): string {
  try {
    return readFileSync(join(dataDir, `${name}.log`), "utf8").slice(-4000);
  } catch {
    return "(no log)";
  }
}

async function waitHealthy(i: Instance, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (i.child.exitCode !== null) throw new Error(`${i.name} exited with ${i.child.exitCode}:\n${logsOf(i.name)}`);
    try {
      if ((await fetch(`${i.url}/health`)).status === 200) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`${i.name} did not become healthy:\n${logsOf(i.name)}`);
}

async function call(i: Instance, path: string, token: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers({ authorization: `Bearer ${token}` });
  if (init.body) headers.set("content-type", "application/json");
  return fetch(i.url + path, { ...init, headers });
}

async function login(i: Instance, username: string, password: string): Promise<string> {
  const res = await fetch(`${i.url}/api/v1/authentication/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  assert.is(res.status, 200, `login ${username} on ${i.name}`);
  return ((await res.json()) as { token: string }).token;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await probe();
    if (v !== undefined) return v;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function killHard(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGKILL");
  await exited;
}

const redis = await startRedisServer();

if (!redis) {
  console.log("SKIPPED two-instances: no redis-server on PATH and REDIS_URL unset");
} else {
  test("two instances: run once, watched live from B, B takes over after A is killed, shared rate limits", async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    // both at once, so start-up races (cluster provisioning, demo users) are part of the test
    const a = startInstance("A", portA, redis.url);
    const b = startInstance("B", portB, redis.url);
    const peek = new Redis(redis.url);
    // B's feed: ended in the finally too, or a failed assertion leaves it reconnecting and the file never exits
    const abort = new AbortController();
    try {
      await Promise.all([waitHealthy(a), waitHealthy(b)]);

      const agent = spawnLogged("agent", [
        "src/fleet/agent-cli.ts",
        "--server", b.url,
        "--cluster", "Development",
        "--count", "3",
        "--join-token", JOIN_TOKEN,
        "--heartbeat-ms", "200",
        // slow installs, so the kill lands while the wave is in flight (B's feed and this probe
        // must see a request before its outcome, also on a loaded machine)
        "--install-latency-ms", "3000,4000",
      ], {});
      void agent;

      // one token works on both: same signing key, users from the shared log
      const admin = await login(a, "admin", "Admin123!");

      // rate limits: one window over both instances (the deployer's; the admin's below is separate).
      // Commands count against the deployments class (reads are queries): pausing an unknown
      // deployment is a command with no effect
      const deployer = await login(b, "deployer", "Deploy123!");
      const pauseUnknown = (i: Instance) => call(i, "/api/v1/deployments/00000000-0000-4000-8000-000000000000/pause", deployer, { method: "POST" });
      const codes: number[] = [];
      for (const i of [a, b, a]) codes.push((await pauseUnknown(i)).status);
      assert.equal(codes, [404, 404, 404], "three hits, spread over A and B, are allowed");
      for (const i of [b, a]) {
        const limited = await pauseUnknown(i);
        assert.is(limited.status, 429, `the 4th and later hits are refused on ${i.name} too`);
        assert.ok(Number(limited.headers.get("retry-after")) >= 1, "429 carries Retry-After");
      }
      await until("3 healthy Development nodes seen by A", async () => {
        const res = await call(a, "/api/v1/clusters/development", admin);
        const body = (await res.json()) as { healthyCount?: number };
        return body.healthyCount === 3 ? true : undefined;
      });

      const res = await call(a, "/api/v1/deployments", admin, {
        method: "POST",
        body: JSON.stringify({ moduleName: "twomod", version: "1.0.0", targetEnvironment: "Development", requesterEmail: "a@example.com" }),
      });
      assert.is(res.status, 202, await res.clone().text());
      const { executionId } = (await res.json()) as { executionId: string };

      // watch it from B, live
      const seen: FeedEvent[] = [];
      const feed = subscribe({
        url: `${b.url}/api/v1/deployments/${executionId}/events`,
        token: admin,
        signal: abort.signal,
        initialDelayMs: 100,
        maxDelayMs: 1000,
      }).forEach((e) => {
        seen.push(e);
      });

      // kill A once it drives the deployment and a node update is in flight
      const leaseKey = `korch:lease:lease:deployment:${executionId}`;
      const before = await until("A holding the lease while a node update is in flight", async () => {
        const owner = await peek.hget(leaseKey, "owner");
        const inFlight = seen.some((e) => e.type === "NodeUpdateRequested") && !seen.some((e) => e.type === "NodeUpdated");
        if (owner?.includes(`:${a.child.pid}:`) && inFlight) return { owner, token: Number(await peek.hget(leaseKey, "token")) };
        assert.not.ok(seen.some((e) => e.type === "NodeUpdated" || TERMINAL.includes(e.type)), "A finished the wave before it could be killed");
        return undefined;
      });
      await killHard(a.child);

      // B follows the log, takes the lease after it expires (10 s TTL) and finishes
      let timer: NodeJS.Timeout | undefined;
      const finished = await Promise.race([feed.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 35_000)))]);
      clearTimeout(timer);
      abort.abort();
      assert.ok(finished, `B's feed did not end; saw ${seen.map((e) => e.type).join(", ")}\nB log:\n${logsOf("B")}`);
      const fence = Number(await peek.get(`korch:fence:lease:deployment:${executionId}`));
      assert.ok(fence > before.token, `the lease was granted again after A died (fencing token ${before.token} -> ${fence})`);

      const last = seen.at(-1)!;
      assert.is(last.type, "DeploymentSucceeded", `ended with ${last.type}: ${JSON.stringify(last.data.data)}`);

      // the log: every step once, in order, and what B's feed showed is exactly the stream
      const store = new SqliteEventStore({ file: join(dataDir, "events.db"), synchronous: "NORMAL" });
      try {
        const log = new EventLog(store, catalog);
        const events = await log.readStream(streams.deployment(executionId));
        assert.equal(
          seen.map((e) => e.id),
          events.map((e) => e.position),
          "B's feed delivered every event of the deployment, in order",
        );
        events.forEach((e, n) => assert.is(e.revision, n, "revisions are contiguous"));
        const once = (type: string, key: (e: RecordedEvent) => unknown) => {
          const counts = new Map<unknown, number>();
          for (const e of events.filter((x) => x.type === type)) counts.set(key(e), (counts.get(key(e)) ?? 0) + 1);
          for (const [k, n] of counts) assert.is(n, 1, `${type} ${String(k)} recorded once`);
          return counts.size;
        };
        const data = (e: RecordedEvent) => e.data as Record<string, unknown>;
        assert.is(once("WaveStarted", (e) => data(e).wave), 1, "Direct: one wave");
        assert.is(once("NodeUpdateRequested", (e) => data(e).assignmentId), 3);
        assert.is(once("NodeUpdated", (e) => data(e).assignmentId), 3);
        assert.is(events.filter((e) => TERMINAL.includes(e.type)).length, 1);

        const all = await log.readAll();
        for (const env of ["Development", "QA", "Staging", "Production"]) {
          const provisioned = all.filter((e) => e.streamId === streams.cluster(env as "Development") && e.type === "ClusterProvisioned");
          assert.is(provisioned.length, 1, `cluster ${env} provisioned once though both instances started together`);
        }
        const users = all.filter((e) => e.type === "UserCreated").map((e) => (e.data as { username: string }).username);
        assert.is(users.length, new Set(users).size, "each demo user created once");
      } finally {
        await store.close();
      }
    } finally {
      abort.abort();
      peek.disconnect();
      for (const c of children) await killHard(c);
    }
  });

  // Heartbeats reach B only; A learns of them through the shared telemetry channel, so A's
  // heartbeat monitor must not mark B's nodes Unhealthy.
  test("two instances: nodes heartbeating to B are not marked Unhealthy by A", async () => {
    const a = startInstance("A-flap", await freePort(), redis.url);
    const b = startInstance("B-flap", await freePort(), redis.url);
    try {
      await Promise.all([waitHealthy(a), waitHealthy(b)]);
      spawnLogged("agent-flap", ["src/fleet/agent-cli.ts", "--server", b.url, "--cluster", "QA", "--count", "2", "--join-token", JOIN_TOKEN, "--heartbeat-ms", "200"], {});
      // the agent process starts in a second or two, then HEARTBEAT_UNHEALTHY_SECONDS (3) and a margin
      await sleep(8000);
      const store = new SqliteEventStore({ file: join(dataDir, "events.db"), synchronous: "NORMAL" });
      try {
        const all = await new EventLog(store, catalog).readAll();
        const flapped = all.filter((e) => e.streamId.startsWith("node-qa") && (e.type === "NodeBecameUnhealthy" || e.type === "NodeWentOffline"));
        assert.is(flapped.length, 0, `node health flapped: ${flapped.map((e) => `${e.type} by ${e.metadata.actor.id}`).join(", ")}`);
      } finally {
        await store.close();
      }
    } finally {
      for (const c of children) await killHard(c);
    }
  });

  test.after(async () => {
    await redis.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });
}

test.run();
