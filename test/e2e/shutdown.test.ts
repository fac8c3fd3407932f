// SIGTERM to a real server process with 500 SSE clients and 100 parked long-polls attached and
// deployments in flight: it ends every feed and long-poll cleanly (so clients reconnect elsewhere
// with Last-Event-ID), exits 0 within SHUTDOWN_TIMEOUT_MS, and a restart on the same data finds
// every acknowledged deployment in the log once and takes each in flight to its end.
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { get, type IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { FAST_STRATEGY_SETTINGS } from "../helpers/deployments.js";
import { serverProcess } from "../helpers/server-process.js";

const SHUTDOWN_TIMEOUT_MS = 8000;
/** how much later than the bound the exit may be seen: process exit, and a busy 2-core machine */
const EXIT_SLACK_MS = 4000;
const SSE_CLIENTS = 500;
const AGENT_NODES = 50;
const LONG_POLLS_PER_NODE = 2; // the most one node may park (a third is refused: proof they are parked)
const JOIN_TOKEN = "shutdown-test-join-token-0123456789";
const TERMINAL = ["Succeeded", "Failed", "RolledBack", "Rejected", "Cancelled"];

const dataDir = mkdtempSync(join(tmpdir(), "korch-shutdown-"));
const children = new Set<ChildProcess>();
// a test run killed from outside must not leave its servers behind
process.on("exit", () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});
const server = serverProcess(dataDir);
let stderr = "";

function startProcess(): ChildProcess {
  const child = server.start(
    {
      SIMULATOR: "true",
      SIMULATOR_CLUSTER_SIZES: "Development:2,QA:3",
      HEARTBEAT_UNHEALTHY_SECONDS: "0.9",
      HEARTBEAT_OFFLINE_SECONDS: "10",
      AGENT_JOIN_TOKEN: JOIN_TOKEN,
      SSE_MAX_CONNECTIONS_PER_USER: String(SSE_CLIENTS + 50),
      SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
      STRATEGY_SETTINGS: FAST_STRATEGY_SETTINGS,
    },
    (text) => (stderr = (stderr + text).slice(-4000)),
  );
  children.add(child);
  return child;
}

const base = server.url;
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; server stderr: ${stderr}`);
    await pause(100);
  }
}

async function call(path: string, init: { token?: string; method?: string; json?: unknown } = {}): Promise<Response> {
  const headers: Record<string, string> = {};
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  if (init.json !== undefined) headers["content-type"] = "application/json";
  return fetch(base() + path, { method: init.method ?? "GET", headers, ...(init.json !== undefined && { body: JSON.stringify(init.json) }) });
}

async function login(): Promise<string> {
  const res = await call("/api/v1/authentication/login", { method: "POST", json: { username: "admin", password: "Admin123!" } });
  const body = (await res.json()) as { token?: string };
  if (!body.token) throw new Error(`login: ${res.status} ${JSON.stringify(body)}`);
  return body.token;
}

/** One request on its own socket (no pooling), with how it ended. */
interface Held {
  status: Promise<number>;
  /** the status once the answer has begun (a parked long-poll has none) */
  answered?: number;
  /** resolves when the response is over: complete (ended cleanly) or not (cut off), and its body */
  done: Promise<{ complete: boolean; body: string }>;
}

function hold(path: string, token: string): Held {
  let setStatus!: (s: number) => void;
  let setDone!: (d: { complete: boolean; body: string }) => void;
  const status = new Promise<number>((r) => (setStatus = r));
  const done = new Promise<{ complete: boolean; body: string }>((r) => (setDone = r));
  const held: Held = { status, done };
  const req = get(base() + path, { agent: false, headers: { authorization: `Bearer ${token}`, accept: "*/*" } }, (res: IncomingMessage) => {
    held.answered = res.statusCode ?? 0;
    setStatus(res.statusCode ?? 0);
    let body = "";
    res.setEncoding("utf8");
    res.on("data", (d: string) => (body = (body + d).slice(-2000)));
    res.on("error", () => {});
    res.on("close", () => setDone({ complete: res.complete, body }));
  });
  req.on("error", () => {
    held.answered = 0;
    setStatus(0);
    setDone({ complete: false, body: "" });
  });
  return held;
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
}

test("SIGTERM with 500 SSE clients and 100 long-polls: feeds end cleanly, exit 0 within the bound, nothing acknowledged is lost", async () => {
  await server.pickPort();
  let child = startProcess();
  try {
    await until("the server", async () => (await call("/health")).status === 200);
    const token = await login();
    // the simulated fleet must be up before deployments plan
    for (const env of ["development", "qa"]) {
      await until(`${env} nodes`, async () => {
        const c = (await (await call(`/api/v1/clusters/${env}`, { token })).json()) as { nodes: { status: string }[] };
        return c.nodes.length > 0 && c.nodes.every((n) => n.status === "Healthy");
      });
    }

    // agents of a cluster nothing is deployed to, each parking two long-polls
    const agents: { nodeId: string; token: string; version: string }[] = [];
    for (let i = 0; i < AGENT_NODES; i++) {
      const res = await call("/api/v1/agents/register", {
        method: "POST",
        json: { joinToken: JOIN_TOKEN, environment: "Production", hostname: `shutdown-node-${i}`, capacity: { cpuCores: 2, memoryMb: 2048 } },
      });
      assert.is(res.status, 201, await res.clone().text());
      const r = (await res.json()) as { nodeId: string; token: string; position: number };
      const state = (await (await call(`/api/v1/agents/${r.nodeId}/desired-state?minPosition=${r.position}`, { token: r.token })).json()) as { version: string };
      agents.push({ ...r, version: state.version });
    }

    const feeds = Array.from({ length: SSE_CLIENTS }, () => hold("/api/v1/deployments/events", token));
    const statuses = await Promise.all(feeds.map((f) => f.status));
    assert.ok(
      statuses.every((s) => s === 200),
      `every feed opened (${statuses.filter((s) => s !== 200).length} did not)`,
    );
    // one long-poll more per node than it may park: the one refused (429) proves the others parked
    const tries = agents.map((a) =>
      Array.from({ length: LONG_POLLS_PER_NODE + 1 }, () => hold(`/api/v1/agents/${a.nodeId}/desired-state?after=${a.version}&waitSeconds=60`, a.token)),
    );
    await until("every node's long-polls parked", async () => tries.every((t) => t.some((p) => p.answered !== undefined)));
    for (const t of tries) assert.equal(t.map((p) => p.answered ?? "waiting").sort(), [429, ...Array<string>(LONG_POLLS_PER_NODE).fill("waiting")]);
    const polls = tries.flatMap((t) => t.filter((p) => p.answered === undefined));

    // acknowledged writes, some still running when the signal comes
    const acknowledged: string[] = [];
    for (const [i, env] of ["Development", "QA", "Development", "QA"].entries()) {
      const res = await call("/api/v1/deployments", {
        method: "POST",
        token,
        json: { moduleName: `shutdown-mod-${i}`, version: "1.0.0", targetEnvironment: env, requesterEmail: "ops@example.com" },
      });
      assert.is(res.status, 202, await res.clone().text());
      acknowledged.push(((await res.json()) as { executionId: string }).executionId);
    }

    const signalled = Date.now();
    child.kill("SIGTERM");
    const exit = await Promise.race([exited(child), pause(SHUTDOWN_TIMEOUT_MS + EXIT_SLACK_MS + 5000).then(() => null)]);
    const tookMs = Date.now() - signalled;
    assert.ok(exit, `the process exits after SIGTERM (still running after ${tookMs} ms)`);
    assert.equal(exit, { code: 0, signal: null }, `exit code 0; stderr: ${stderr}`);
    assert.ok(tookMs <= SHUTDOWN_TIMEOUT_MS + EXIT_SLACK_MS, `exited within the bound (${tookMs} ms)`);

    const feedEnds = await Promise.all(feeds.map((f) => f.done));
    const cut = feedEnds.filter((e) => !e.complete).length;
    assert.is(cut, 0, `every SSE stream ended cleanly, none cut off (${cut} were)`);
    for (const e of feedEnds) assert.not.match(e.body, /event: end\n/, "a shutdown is not the end of the feed: clients reconnect");
    const pollEnds = await Promise.all(polls.map(async (p) => ({ status: await p.status, ...(await p.done) })));
    const answered = pollEnds.filter((p) => p.status === 200 && p.complete && /"changed":false/.test(p.body)).length;
    assert.is(answered, polls.length, `every long-poll was answered "no change" (${answered} of ${polls.length}): ${JSON.stringify(pollEnds.find((p) => p.status !== 200 || !p.complete))}`);

    // the same data, a new process: everything acknowledged is there once, and runs to its end
    const restartedAt = new Date().toISOString();
    child = startProcess();
    await until("the restarted server", async () => (await call("/health")).status === 200);
    const again = await login();
    for (const id of acknowledged) {
      const history = (await (await call(`/api/v1/deployments/${id}/history`, { token: again })).json()) as { events: { type: string }[] };
      assert.is(history.events.filter((e) => e.type === "DeploymentRequested").length, 1, `${id} was requested once`);
      const status = await until(
        `${id} to end`,
        async () => {
          const d = (await (await call(`/api/v1/deployments/${id}`, { token: again })).json()) as { status: string };
          return TERMINAL.includes(d.status) && d.status;
        },
        45_000,
      );
      assert.is(status, "Succeeded", `${id} finished`);
    }
    const resumed = [];
    for (const id of acknowledged) {
      const history = (await (await call(`/api/v1/deployments/${id}/history`, { token: again })).json()) as { events: { occurredAt: string }[] };
      if (history.events.some((e) => e.occurredAt >= restartedAt)) resumed.push(id);
    }
    assert.ok(resumed.length > 0, "some deployments were in flight at the signal and finished after the restart");
    const page = (await (await call("/api/v1/deployments?limit=100", { token: again })).json()) as { items: { executionId: string }[] };
    for (const id of acknowledged) assert.is(page.items.filter((d) => d.executionId === id).length, 1, `${id} listed once`);

    child.kill("SIGTERM");
    assert.equal(await exited(child), { code: 0, signal: null }, "an idle server exits 0 too");
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test.run();
