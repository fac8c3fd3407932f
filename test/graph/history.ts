// Random histories for the graph's properties: registrations, deployments (with their node
// reports), rollbacks and node changes, as the recorded events the projections see. Deliberately
// also what the deciders would refuse (an install on a deregistered node, a registration over a
// live one): the graph must agree with the nodes read model whatever the log holds.
import fc from "fast-check";
import type { RecordedEvent } from "../../src/events/envelope.js";

const T0 = Date.parse("2026-05-01T08:00:00.000Z");
export const NODES = ["n1", "n2", "n3", "__proto__"] as const;
export const MODULES = ["alpha", "beta", "constructor"] as const;
export const VERSIONS = ["1.0.0", "1.1.0", "2.0.0", "2.0.0-faulty.1"] as const;
const ENVS = ["QA", "Production"] as const;

type Step =
  | { kind: "register"; node: number; env: number; modules: [number, number][] }
  | { kind: "deregister"; node: number }
  | { kind: "install"; node: number; module: number; version: number; deployment: number }
  | { kind: "remove"; node: number; module: number }
  | { kind: "fail"; node: number; module: number; version: number }
  | { kind: "deploy"; deployment: number; module: number; version: number; env: number; deps: [number, number][] }
  | { kind: "nodeUpdated"; deployment: number; node: number; version: number; ok: boolean }
  | { kind: "rollback"; deployment: number; node: number; version: number | null }
  | { kind: "finish"; deployment: number; type: "DeploymentSucceeded" | "DeploymentRolledBack" | "DeploymentPlanned" | "ApprovalGranted" }
  | { kind: "registerVersion"; module: number; version: number; deps: [number, number][] }
  | { kind: "unhealthy"; node: number };

const i = (n: number) => fc.nat({ max: n - 1 });
const pairs = fc.array(fc.tuple(i(MODULES.length), i(VERSIONS.length)), { maxLength: 3 });

export const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant("register" as const), node: i(NODES.length), env: i(ENVS.length), modules: pairs }),
  fc.record({ kind: fc.constant("deregister" as const), node: i(NODES.length) }),
  { arbitrary: fc.record({ kind: fc.constant("install" as const), node: i(NODES.length), module: i(MODULES.length), version: i(VERSIONS.length), deployment: i(3) }), weight: 4 },
  fc.record({ kind: fc.constant("remove" as const), node: i(NODES.length), module: i(MODULES.length) }),
  fc.record({ kind: fc.constant("fail" as const), node: i(NODES.length), module: i(MODULES.length), version: i(VERSIONS.length) }),
  fc.record({ kind: fc.constant("deploy" as const), deployment: i(3), module: i(MODULES.length), version: i(VERSIONS.length), env: i(ENVS.length), deps: pairs }),
  fc.record({ kind: fc.constant("nodeUpdated" as const), deployment: i(3), node: i(NODES.length), version: i(VERSIONS.length), ok: fc.boolean() }),
  fc.record({ kind: fc.constant("rollback" as const), deployment: i(3), node: i(NODES.length), version: fc.option(i(VERSIONS.length), { nil: null }) }),
  fc.record({ kind: fc.constant("finish" as const), deployment: i(3), type: fc.constantFrom("DeploymentSucceeded" as const, "DeploymentRolledBack" as const, "DeploymentPlanned" as const, "ApprovalGranted" as const) }),
  fc.record({ kind: fc.constant("registerVersion" as const), module: i(MODULES.length), version: i(VERSIONS.length), deps: pairs }),
  fc.record({ kind: fc.constant("unhealthy" as const), node: i(NODES.length) }),
);

export const historyArb = fc.array(stepArb, { minLength: 1, maxLength: 60 });

const deps = (p: [number, number][]) => p.map(([m, v]) => ({ name: MODULES[m]!, range: `^${VERSIONS[v]!.split(".")[0]}.0.0` }));

/** The steps as recorded events, positions 1.. in order, one second apart. */
export function toEvents(steps: readonly Step[]): RecordedEvent[] {
  const revisions = new Map<string, number>();
  const events: RecordedEvent[] = [];
  const push = (streamId: string, type: string, data: Record<string, unknown>) => {
    const revision = (revisions.get(streamId) ?? -1) + 1;
    revisions.set(streamId, revision);
    const position = events.length + 1;
    const at = new Date(T0 + position * 1000).toISOString();
    events.push({
      type,
      streamId,
      revision,
      position,
      data: { ...data, at },
      metadata: { eventId: `00000000-0000-4000-8000-${String(position).padStart(12, "0")}`, occurredAt: at, actor: { kind: "system", id: "test" }, correlationId: "c", causationId: "c", schemaVersion: 1, tenantId: "default" },
    });
  };
  const exec = (d: number) => `d${d}`;
  for (const s of steps) {
    switch (s.kind) {
      case "register": {
        const modules: Record<string, string> = {};
        for (const [m, v] of s.modules) Object.defineProperty(modules, MODULES[m]!, { value: VERSIONS[v]!, enumerable: true, writable: true, configurable: true });
        push(`node-${NODES[s.node]}`, "NodeRegistered", { nodeId: NODES[s.node], environment: ENVS[s.env], hostname: `h-${s.node}`, capacity: { cpuCores: 1, memoryMb: 1 }, labels: {}, modules });
        break;
      }
      case "deregister":
        push(`node-${NODES[s.node]}`, "NodeDeregistered", { nodeId: NODES[s.node], reason: "test" });
        break;
      case "install":
        push(`node-${NODES[s.node]}`, "ModuleInstalled", {
          nodeId: NODES[s.node],
          moduleName: MODULES[s.module],
          version: VERSIONS[s.version],
          assignmentId: `${exec(s.deployment)}:${NODES[s.node]}:1`,
          durationMs: 1,
        });
        break;
      case "remove":
        push(`node-${NODES[s.node]}`, "ModuleRemoved", { nodeId: NODES[s.node], moduleName: MODULES[s.module], assignmentId: `x:${NODES[s.node]}:2`, durationMs: 1 });
        break;
      case "fail":
        push(`node-${NODES[s.node]}`, "ModuleInstallFailed", { nodeId: NODES[s.node], moduleName: MODULES[s.module], version: VERSIONS[s.version], assignmentId: "x:y:3", error: "boom", durationMs: 1 });
        break;
      case "deploy":
        push(`deployment-${exec(s.deployment)}`, "DeploymentRequested", {
          executionId: exec(s.deployment),
          moduleName: MODULES[s.module],
          version: VERSIONS[s.version],
          targetEnvironment: ENVS[s.env],
          strategy: "Direct",
          requesterEmail: "a@b.c",
          requestedBy: "deployer",
          description: null,
          requiresApproval: s.env === 1,
          approvalExpiresAt: null,
          ...(s.deps.length ? { dependencies: deps(s.deps) } : {}),
        });
        break;
      case "nodeUpdated":
        push(`deployment-${exec(s.deployment)}`, s.ok ? "NodeUpdated" : "NodeUpdateFailed", {
          nodeId: NODES[s.node],
          assignmentId: `${exec(s.deployment)}:${NODES[s.node]}:1`,
          ...(s.ok ? { version: VERSIONS[s.version] } : { error: "no" }),
        });
        break;
      case "rollback":
        push(`deployment-${exec(s.deployment)}`, "NodeRolledBack", { nodeId: NODES[s.node], assignmentId: `${exec(s.deployment)}:${NODES[s.node]}:2`, version: s.version === null ? null : VERSIONS[s.version] });
        break;
      case "finish":
        push(`deployment-${exec(s.deployment)}`, s.type, s.type === "ApprovalGranted" ? { by: "admin", reason: null } : { message: "done", reason: "r" });
        break;
      case "registerVersion":
        push(`module-${MODULES[s.module]}`, "ModuleVersionRegistered", {
          name: MODULES[s.module],
          version: VERSIONS[s.version],
          digest: `sha256:${s.module}${s.version}`,
          size: 10,
          description: null,
          dependencies: deps(s.deps),
          signature: { source: "none", der: null },
          certificates: null,
          registeredBy: "deployer",
        });
        break;
      case "unhealthy":
        push(`node-${NODES[s.node]}`, "NodeBecameUnhealthy", { nodeId: NODES[s.node], lastSeenAt: new Date(T0).toISOString(), reason: "quiet" });
        break;
    }
  }
  return events;
}
