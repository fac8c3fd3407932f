import type { TestServer } from "./server.js";

/** Strategy settings that make a whole canary take a few seconds against the simulator. */
export const FAST_STRATEGY_SETTINGS = JSON.stringify({
  "*": {
    checkIntervalMs: 250,
    requiredStableChecks: 2,
    minWaitMs: 250,
    maxWaitMs: 6000,
    analysisWindowMs: 1500,
    installTimeoutMs: 5000,
    progressDeadlineMs: 60_000,
    thresholds: { minSamplesPerNode: 2 },
  },
});

/** Environment for a test server with a small, fast simulated fleet. */
export const FAST_FLEET_ENV = {
  SIMULATOR: "true",
  SIMULATOR_CLUSTER_SIZES: "Development:2,QA:3,Staging:4,Production:5",
  HEARTBEAT_UNHEALTHY_SECONDS: "0.9",
  HEARTBEAT_OFFLINE_SECONDS: "5",
  STRATEGY_SETTINGS: FAST_STRATEGY_SETTINGS,
};

export interface DeploymentBody {
  executionId: string;
  status: string;
  version: string;
  progress: number;
  /** each wave's counts; its nodes are `?wave=<index>` */
  waves: { index: number; label: string; nodeCount: number; updated: number; status: string }[];
  /** one page of the nodes (100 unless ?limit=), in plan order; the test fleets are smaller than a page */
  nodes: { nodeId: string; wave: number; phase: string; previousVersion: string | null; error: string | null }[];
  nodesNextCursor: string | null;
  nodeCounts: { total: number; pending: number; installing: number; updated: number; failed: number; rollingBack: number; rolledBack: number; rollbackFailed: number };
  servingColor: string | null;
  rollback: { reason: string; cause: unknown; nodeCount: number } | null;
  failureReason: string | null;
  approval: { status: string; decidedBy: string | null };
}

const TERMINAL = ["Succeeded", "Failed", "RolledBack", "Rejected", "Cancelled"];

export async function requestDeployment(
  s: TestServer,
  token: string,
  body: { moduleName: string; version: string; targetEnvironment: string; requesterEmail?: string; strategy?: string },
  headers: Record<string, string> = {},
): Promise<{ executionId: string; status: string; position: number }> {
  const res = await s.call("/api/v1/deployments", { method: "POST", token, headers, json: { requesterEmail: "dev@example.com", ...body } });
  if (res.status !== 202) throw new Error(`deploy failed: ${res.status} ${await res.text()}`);
  return (await res.json()) as { executionId: string; status: string; position: number };
}

export async function getDeployment(s: TestServer, token: string, id: string): Promise<DeploymentBody> {
  const res = await s.call(`/api/v1/deployments/${id}`, { token });
  if (res.status !== 200) throw new Error(`get ${id}: ${res.status} ${await res.text()}`);
  return (await res.json()) as DeploymentBody;
}

/** Polls until the deployment reaches one of `statuses` (default: any terminal one), bounded. */
export async function waitForStatus(s: TestServer, token: string, id: string, statuses = TERMINAL, timeoutMs = 45_000): Promise<DeploymentBody> {
  const deadline = Date.now() + timeoutMs;
  let last: DeploymentBody | undefined;
  while (Date.now() < deadline) {
    const res = await s.call(`/api/v1/deployments/${id}`, { token });
    // 404 until the read model has applied the request (the caller did not pass minPosition)
    if (res.status === 404) {
      await new Promise((r) => setTimeout(r, 50));
      continue;
    }
    if (res.status !== 200) throw new Error(`get ${id}: ${res.status} ${await res.text()}`);
    last = (await res.json()) as DeploymentBody;
    if (statuses.includes(last.status)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`deployment ${id} did not reach ${statuses.join("/")} in ${timeoutMs} ms; last: ${JSON.stringify(last)?.slice(0, 800)}`);
}

/** Polls until `count` nodes across all clusters report healthy (the simulated fleet is up), bounded. */
export async function waitForHealthyNodes(s: TestServer, token: string, count: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const clusters = (await (await s.call("/api/v1/clusters", { token })).json()) as { healthyCount: number }[];
    if (clusters.reduce((n, c) => n + c.healthyCount, 0) === count) return;
    if (Date.now() > deadline) throw new Error("simulated fleet did not come up");
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function clusterVersions(s: TestServer, token: string, env: string, moduleName: string): Promise<Record<string, string | null>> {
  const res = await s.call(`/api/v1/clusters/${env}`, { token });
  const body = (await res.json()) as { nodes: { nodeId: string; modules: Record<string, string> }[] };
  return Object.fromEntries(body.nodes.map((n) => [n.nodeId, n.modules[moduleName] ?? null]));
}
