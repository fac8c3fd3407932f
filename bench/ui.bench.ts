// The operator dashboard (/ui), against a real server in this process with a simulated fleet:
// 1. page load, server time over loopback (request sent -> whole page read), p50/p99, for the
//    deployments list (50 rows shown) and a deployment page (a finished 20-node canary: 4 waves,
//    the node grid, stages);
// 2. live-update latency: commit (the event reaching the server's live feed) -> the redrawn
//    fragment received over the dashboard's SSE endpoint, for the list (a new deployment appears)
//    and for a deployment page (it is rejected), p50/p99. Idle views redraw at once; the throttle
//    (250 ms list, 100 ms page) only spaces redraws of a busy one. Includes the wait for the read
//    models to apply the event.
import { rmSync } from "node:fs";
import { streams } from "../src/events/streams.js";
import { deterministicUuid } from "../src/platform/ids.js";
import { startServer } from "../src/server.js";
import { benchConfig } from "./config.js";
import { emit } from "./emit.js";
import { QUICK, sized } from "./quick.js";

const PAGE_LOADS = sized("BENCH_UI_LOADS", 200, 30);
const LIST_UPDATES = sized("BENCH_UI_LIST_UPDATES", 60, 8);
const PAGE_UPDATES = sized("BENCH_UI_PAGE_UPDATES", 30, 5);
// quick: a smaller production cluster, so the canary that the page is measured on ends sooner
const FLEET = { Development: 3, QA: 3, Staging: 3, Production: QUICK ? 10 : 20 };
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
};

const { config, dataDir } = benchConfig("ui", {
  SIMULATOR: "true",
  SIMULATOR_CLUSTER_SIZES: Object.entries(FLEET).map(([e, n]) => `${e}:${n}`).join(","),
  SSE_MAX_CONNECTIONS_PER_USER: "1000",
});
const server = await startServer(config);
const base = server.url;

async function api(path: string, token: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(base + path, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status >= 300) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
}
const login = async (username: string, password: string) =>
  (await fetch(`${base}/api/v1/authentication/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username, password }) }).then((r) => r.json()) as { token: string }).token;

/** the dashboard's own sign-in form, for the session cookie */
async function uiSession(username: string, password: string): Promise<string> {
  const res = await fetch(`${base}/ui/login`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: base },
    body: new URLSearchParams({ username, password }).toString(),
  });
  const cookie = res.headers.get("set-cookie")?.split(";")[0];
  if (res.status !== 303 || !cookie) throw new Error(`ui sign-in: ${res.status}`);
  return cookie;
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`ui bench: ${what} timed out`);
    await sleep(100);
  }
}

/** a dashboard SSE feed: fragments as they come, by event name */
class Feed {
  private readonly controller = new AbortController();
  private waiters: { event: string; match: (data: string) => boolean; resolve: (at: number) => void }[] = [];
  opened!: Promise<void>;
  constructor(path: string, cookie: string) {
    this.opened = this.run(path, cookie);
  }
  private async run(path: string, cookie: string): Promise<void> {
    const res = await fetch(base + path, { headers: { cookie, accept: "text/event-stream" }, signal: this.controller.signal });
    if (res.status !== 200 || !res.body) throw new Error(`${path}: ${res.status}`);
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    void (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          buffer += value;
          let cut: number;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            const at = now();
            const event = /^event: (.*)$/m.exec(block)?.[1];
            if (!event) continue;
            const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
            this.waiters = this.waiters.filter((w) => (w.event === event && w.match(data) ? (w.resolve(at), false) : true));
          }
        }
      } catch {
        // aborted
      }
    })();
  }
  next(event: string, match: (data: string) => boolean): Promise<number> {
    return new Promise((resolve) => this.waiters.push({ event, match, resolve }));
  }
  close(): void {
    this.controller.abort();
  }
}

/** when each stream's next event of a type reached the server's live feed: the commit as the dashboard can know it */
const commits = new Map<string, number>();
server.deps.feed.attach((e) => {
  if (e.type === "DeploymentRequested" || e.type === "DeploymentRejected") commits.set(`${e.type}:${e.streamId}`, now());
});

try {
  const total = Object.values(FLEET).reduce((a, b) => a + b, 0);
  const viewer = await login("viewer", "Viewer123!");
  await waitFor(async () => {
    const clusters = (await fetch(`${base}/api/v1/clusters`, { headers: { authorization: `Bearer ${viewer}` } }).then((r) => r.json())) as { healthyCount: number }[];
    return clusters.reduce((n, c) => n + c.healthyCount, 0) === total;
  }, "fleet");
  const deployer = await login("deployer", "Deploy123!");
  const admin = await login("admin", "Admin123!");
  const cookie = await uiSession("admin", "Admin123!");

  // a finished canary over 20 nodes: the deployment page measured
  const canary = (await api("/api/v1/deployments", deployer, { moduleName: "netfilter", version: "1.4.0", targetEnvironment: "Production", requesterEmail: "bench@example.com" })).executionId as string;
  await waitFor(async () => (await api(`/api/v1/deployments/${canary}`, admin)).status === "PendingApproval", "approval requested");
  await api(`/api/v1/approvals/deployments/${canary}/approve`, admin, { reason: "bench" });
  await waitFor(async () => {
    const d = await api(`/api/v1/deployments/${canary}`, admin);
    if (["Failed", "RolledBack", "Cancelled"].includes(d.status as string)) throw new Error(`ui bench: the canary ended ${String(d.status)}`);
    return d.status === "Succeeded";
  }, "canary", 180_000);

  // live list: a new deployment appears
  const list = new Feed("/ui/deployments/events", cookie);
  await list.opened;
  await sleep(500);
  const listLatency: number[] = [];
  const pending: string[] = [];
  for (let i = 0; i < LIST_UPDATES; i++) {
    const idempotency = `bench-ui-${crypto.randomUUID()}`;
    // the API derives the id from the caller and the key, so the row to wait for is known beforehand
    const executionId = deterministicUuid(`deployment:deployer:${idempotency}`);
    const arrived = list.next("deployments", (html) => html.includes(`data-id="${executionId}"`));
    const r = await fetch(`${base}/api/v1/deployments`, {
      method: "POST",
      headers: { authorization: `Bearer ${deployer}`, "content-type": "application/json", "idempotency-key": idempotency },
      body: JSON.stringify({ moduleName: `mod${i % 7}`, version: `1.${i}.0`, targetEnvironment: i % 2 ? "Staging" : "Production", requesterEmail: "bench@example.com" }),
    });
    if (r.status !== 202 || ((await r.json()) as { executionId: string }).executionId !== executionId) throw new Error(`deployment ${i}: ${r.status}`);
    pending.push(executionId);
    const at = await arrived;
    listLatency.push(at - commits.get(`DeploymentRequested:${streams.deployment(executionId)}`)!);
    await sleep(300);
  }
  list.close();

  // page loads
  const timeLoads = async (path: string) => {
    const times: number[] = [];
    for (let i = 0; i < PAGE_LOADS; i++) {
      const t0 = now();
      const res = await fetch(base + path, { headers: { cookie } });
      await res.text();
      if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
      times.push(now() - t0);
    }
    return times;
  };
  const listLoads = await timeLoads("/ui/deployments");
  const pageLoads = await timeLoads(`/ui/deployments/${canary}`);
  const cond = { deployments: LIST_UPDATES + 1, productionNodes: FLEET.Production, samples: PAGE_LOADS, transport: "http loopback, keep-alive" };
  emit("ui deployments list page load p50", quantile(listLoads, 0.5), "ms", { ...cond, rowsShown: 50 });
  emit("ui deployments list page load p99", quantile(listLoads, 0.99), "ms", { ...cond, rowsShown: 50 });
  emit("ui deployment page load p50", quantile(pageLoads, 0.5), "ms", { ...cond, nodes: FLEET.Production, waves: 4 });
  emit("ui deployment page load p99", quantile(pageLoads, 0.99), "ms", { ...cond, nodes: FLEET.Production, waves: 4 });
  emit("ui live update latency (list) p50", quantile(listLatency, 0.5), "ms", { samples: listLatency.length, throttleMs: 250, event: "DeploymentRequested -> deployments fragment" });
  emit("ui live update latency (list) p99", quantile(listLatency, 0.99), "ms", { samples: listLatency.length, throttleMs: 250, event: "DeploymentRequested -> deployments fragment" });

  // live deployment page: it is rejected
  const pageLatency: number[] = [];
  // requests for a busy cluster may wait in Pending rather than for an approval: reject only those waiting for one
  const waiting = new Set(((await fetch(`${base}/api/v1/approvals/pending`, { headers: { authorization: `Bearer ${admin}` } }).then((r) => r.json())) as { executionId: string }[]).map((a) => a.executionId));
  for (const id of pending.filter((p) => waiting.has(p)).slice(0, PAGE_UPDATES)) {
    const feed = new Feed(`/ui/deployments/${id}/events`, cookie);
    const first = feed.next("summary", () => true);
    await feed.opened;
    await first;
    // a page open for a moment: its first drawing no longer holds the next one back
    await sleep(150);
    const rejected = feed.next("summary", (html) => html.includes("s-rejected"));
    await api(`/api/v1/approvals/deployments/${id}/reject`, admin, { reason: "bench" });
    const at = await rejected;
    pageLatency.push(at - commits.get(`DeploymentRejected:${streams.deployment(id)}`)!);
    feed.close();
  }
  emit("ui live update latency (deployment page) p50", quantile(pageLatency, 0.5), "ms", { samples: pageLatency.length, throttleMs: 100, event: "DeploymentRejected -> summary fragment" });
  emit("ui live update latency (deployment page) p99", quantile(pageLatency, 0.99), "ms", { samples: pageLatency.length, throttleMs: 100, event: "DeploymentRejected -> summary fragment" });
} finally {
  await server.close();
  rmSync(dataDir, { recursive: true, force: true });
}
