// A real server process is killed with SIGKILL in the middle of a Production canary, restarted on
// the same data, and must finish the deployment with no step lost or repeated.
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { catalog } from "../../src/events/catalog/index.js";
import { EventLog } from "../../src/events/event-log.js";
import { SqliteEventStore } from "../../src/events/store/sqlite.js";
import { streams } from "../../src/events/streams.js";
import { FAST_STRATEGY_SETTINGS } from "../helpers/deployments.js";
import { serverProcess } from "../helpers/server-process.js";

const dataDir = mkdtempSync(join(tmpdir(), "korch-crash-"));
const server = serverProcess(dataDir);
const { waitHealthy, api, login } = server;

function startProcess(): ChildProcess {
  return server.start({
    SIMULATOR: "true",
    SIMULATOR_CLUSTER_SIZES: "Production:10",
    HEARTBEAT_UNHEALTHY_SECONDS: "0.9",
    HEARTBEAT_OFFLINE_SECONDS: "10",
    ALLOW_SELF_APPROVAL: "true",
    // slow enough between waves that the kill lands mid-canary
    STRATEGY_SETTINGS: JSON.stringify({ ...JSON.parse(FAST_STRATEGY_SETTINGS), Production: { minWaitMs: 1500, requiredStableChecks: 3 } }),
  });
}

test("SIGKILL mid-canary: the restarted server finishes the deployment with no duplicated or missing step", async () => {
  await server.pickPort();
  let child = startProcess();
  try {
    await waitHealthy();
    let token = await login();
    // the fleet must be up before the deployment plans its waves
    for (let healthy = 0; healthy < 10; ) {
      const c = (await (await api("/api/v1/clusters/production", token)).json()) as { healthyCount: number };
      healthy = c.healthyCount;
      await new Promise((r) => setTimeout(r, 100));
    }
    const res = await api("/api/v1/deployments", token, {
      method: "POST",
      body: JSON.stringify({ moduleName: "crashmod", version: "1.0.0", targetEnvironment: "Production", requesterEmail: "a@example.com" }),
    });
    const { executionId, position } = (await res.json()) as { executionId: string; position: number };
    assert.is((await api(`/api/v1/approvals/deployments/${executionId}/approve`, token, { method: "POST" })).status, 200);

    // kill once the second wave has started (first wave done, the rest in flight)
    for (;;) {
      // read our own write: the read model may not have the deployment yet
      const d = (await (await api(`/api/v1/deployments/${executionId}?minPosition=${position}`, token)).json()) as { status: string; waves: { status: string }[] };
      if (d.waves.filter((w) => w.status !== "pending").length >= 2) break;
      assert.is.not(d.status, "Succeeded", "deployment finished before the kill");
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));

    child = startProcess();
    await waitHealthy();
    token = await login();
    let status = "";
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const d = (await (await api(`/api/v1/deployments/${executionId}`, token)).json()) as { status: string; failureReason: string | null };
      status = d.status;
      if (["Succeeded", "Failed", "RolledBack", "Cancelled", "Rejected"].includes(status)) {
        assert.is(status, "Succeeded", `ended ${status}: ${d.failureReason}`);
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.is(status, "Succeeded");
  } finally {
    child.kill("SIGKILL");
    await new Promise((r) => (child.exitCode !== null ? r(null) : child.once("exit", r)));
  }

  const store = new SqliteEventStore({ file: join(dataDir, "events.db"), synchronous: "NORMAL" });
  try {
    const log = new EventLog(store, catalog);
    const all = await log.readAll();
    const deployment = all.filter((e) => e.streamId.startsWith(streams.deployment("")));
    const events = await log.readStream(deployment[0]!.streamId);
    events.forEach((e, i) => assert.is(e.revision, i, "revisions are contiguous"));
    const count = (type: string, key: (d: Record<string, unknown>) => unknown) => {
      const seen = new Map<unknown, number>();
      for (const e of events.filter((x) => x.type === type)) seen.set(key(e.data as Record<string, unknown>), (seen.get(key(e.data as Record<string, unknown>)) ?? 0) + 1);
      return seen;
    };
    for (const [wave, n] of count("WaveStarted", (d) => d.wave)) assert.is(n, 1, `wave ${wave} started once`);
    for (const [wave, n] of count("WaveCompleted", (d) => d.wave)) assert.is(n, 1, `wave ${wave} completed once`);
    const requested = count("NodeUpdateRequested", (d) => d.assignmentId);
    const updated = count("NodeUpdated", (d) => d.assignmentId);
    for (const [id, n] of requested) assert.is(n, 1, `assignment ${id} requested once`);
    for (const [id, n] of updated) assert.is(n, 1, `assignment ${id} completed once`);
    assert.is(requested.size, 10, "every node was asked once");
    assert.is(updated.size, 10, "every node was updated once");
    assert.is(events.filter((e) => e.type === "DeploymentSucceeded").length, 1);
    const waves = new Set(events.filter((e) => e.type === "WaveCompleted").map((e) => (e.data as { wave: number }).wave));
    assert.is(waves.size, 4, "10 -> 30 -> 50 -> 100 %: four waves");
  } finally {
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test.run();
