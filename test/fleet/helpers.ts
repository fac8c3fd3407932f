import { randomUUID } from "node:crypto";
import { streams } from "../../src/events/streams.js";
import type { TestServer } from "../helpers/server.js";

export const JOIN_TOKEN = "development-join-token";

export const goodMetrics = { cpu: 20, memory: 40, latencyP95Ms: 50, errorRate: 0.001, requestRate: 100 };

export async function registerAgent(
  s: TestServer,
  hostname: string,
  environment = "QA",
  extra: Record<string, unknown> = {},
): Promise<{ status: number; nodeId: string; token: string; created: boolean; body: Record<string, unknown> }> {
  const res = await s.call("/api/v1/agents/register", {
    method: "POST",
    json: { joinToken: JOIN_TOKEN, environment, hostname, capacity: { cpuCores: 4, memoryMb: 8192 }, labels: { color: "blue" }, ...extra },
  });
  const body = (await res.json()) as Record<string, unknown>;
  return { status: res.status, nodeId: String(body.nodeId), token: String(body.token), created: body.created === true, body };
}

/**
 * What the deployment pipeline does to ask a node for a change: a NodeUpdateRequested event in a
 * deployment stream. Waits until the read models have it.
 */
export async function requestUpdate(
  s: TestServer,
  u: { nodeId: string; moduleName: string; toVersion: string | null; kind?: "install" | "rollback" | "remove"; fromVersion?: string | null; assignmentId?: string },
  executionId = randomUUID(),
): Promise<{ assignmentId: string; position: number }> {
  const assignmentId = u.assignmentId ?? randomUUID();
  const now = new Date(s.deps.clock.now());
  const data = {
    nodeId: u.nodeId,
    assignmentId,
    moduleName: u.moduleName,
    fromVersion: u.fromVersion ?? null,
    toVersion: u.toVersion,
    kind: u.kind ?? "install",
    timeoutAt: new Date(now.getTime() + 300_000).toISOString(),
    at: now.toISOString(),
  };
  const events = s.deps.log.envelope([{ type: "NodeUpdateRequested", data }], () => ({
    actor: { kind: "system", id: "test" },
    correlationId: "test",
    causationId: "test",
  }));
  const r = await s.deps.log.append(streams.deployment(executionId), events, "any");
  if (!(await s.deps.projections.waitFor(r.position, 5000))) throw new Error("read models did not catch up");
  return { assignmentId, position: r.position };
}

export async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
