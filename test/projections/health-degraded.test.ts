// Over HTTP: while the read store fails the projection runner's writes, /health answers
// "degraded" (still ready: the instance serves, its read models are stale), the retries are
// counted in /metrics, and once the store answers again the read models catch up and /health is ok.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { MemoryReadStore } from "../../src/projections/store/memory.js";
import { requestDeployment } from "../helpers/deployments.js";
import { FaultPlan, faultyReadStore } from "../helpers/faults.js";
import { DEMO, startTestServer } from "../helpers/server.js";

interface HealthBody {
  status: string;
  ready: boolean;
  checks: Record<string, { status: string }>;
}

async function health(call: (path: string) => Promise<Response>): Promise<{ code: number; body: HealthBody }> {
  const res = await call("/health");
  return { code: res.status, body: (await res.json()) as HealthBody };
}

async function until<T>(what: string, probe: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms (last: ${JSON.stringify(value)})`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

test("a read store failing the runner's writes: /health degraded but ready, retries counted, then ok again", async () => {
  let down = false;
  const plan = new FaultPlan({ rules: [{ target: "readStore", collections: ["deployments"], ops: ["putMany"], when: () => down }] });
  const inner = new MemoryReadStore({ ttlIntervalMs: 0 });
  const s = await startTestServer({}, { readStore: faultyReadStore(inner, plan) });
  try {
    const token = await s.login(...DEMO.deployer);
    assert.is((await health(s.call)).body.status, "ok");
    down = true;
    const { executionId, position } = await requestDeployment(s, token, { moduleName: "netfilter", version: "1.0.0", targetEnvironment: "Development" });
    const degraded = await until("degraded", () => health(s.call), (h) => h.body.status === "degraded");
    assert.is(degraded.code, 200, "stale read models do not take the instance out of service");
    assert.is(degraded.body.ready, true);
    assert.is(degraded.body.checks.projections!.status, "degraded");
    assert.is(degraded.body.checks.readStore!.status, "up");

    down = false;
    await until("ok again", () => health(s.call), (h) => h.body.status === "ok");
    const res = await s.call(`/api/v1/deployments/${executionId}?minPosition=${position}`, { token });
    assert.is(res.status, 200);
    const metrics = await (await s.call("/metrics")).text();
    const retries = /^projection_retries_total\{projection="deployments"\} (\d+)/m.exec(metrics);
    assert.ok(retries && Number(retries[1]) > 0, "projection_retries_total counts the retries");
    const errors = /^store_errors_total\{adapter="memory",op="putMany"\} (\d+)/m.exec(metrics);
    assert.ok(errors && Number(errors[1]) > 0, "store_errors_total counts the failed calls");
  } finally {
    await s.stop();
    await inner.close();
  }
});

test.run();
