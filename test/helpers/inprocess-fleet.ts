// A simulated fleet for in-process tests on a manual clock: the nodes call the agent protocol's
// service functions (register, heartbeat, desired state, report) directly instead of over HTTP,
// and move only when the test calls step(), so a test decides exactly when time passes. Like the
// HTTP simulator (src/fleet/simulator.ts), it follows the fault convention of DESIGN.md §6: a
// `faulty` pre-release degrades the node's metrics, a `broken` one fails to install. A call that
// fails (a store outage) is tried again at the next step, as a real agent would.
import { DomainError } from "../../src/commands/errors.js";
import type { CommandContext } from "../../src/commands/handler.js";
import { acceptHeartbeat, desiredStateOf, paceHeartbeat, registerNode, reportOutcome, type FleetDeps } from "../../src/fleet/agent-service.js";
import type { DesiredAssignment } from "../../src/projections/desired-state.js";
import { versionFault } from "../../src/fleet/sim-node.js";
import type { Heartbeat, HeartbeatMetrics } from "../../src/fleet/telemetry.js";
import type { Clock } from "../../src/platform/clock.js";
import type { Coordination } from "../../src/platform/coordination/port.js";
import { putOwn } from "../../src/platform/own-keys.js";
import type { Environment } from "../../src/strategies/settings.js";
import { seededRandom } from "./faults.js";

/** What the nodes talk to; a restarted server is new stores to talk to (see InProcessFleet.use). */
export interface FleetLink extends FleetDeps {
  /** given: heartbeats go through paceHeartbeat (Coordination.hit) with this spacing */
  pace?: { coordination: Coordination; spacingMs: number };
  /** called with every accepted heartbeat: the heartbeat route shares it with the other instances */
  share?: (heartbeat: Heartbeat) => Promise<void>;
}

export interface InProcessFleetOptions extends FleetLink {
  clock: Clock;
  /** environment -> number of nodes */
  sizes: Partial<Record<Environment, number>>;
  seed: number;
  /** how long an install takes, in clock ms (drawn per assignment) */
  installMs?: [min: number, max: number];
}

interface Node {
  nodeId: string;
  environment: Environment;
  modules: Record<string, string>;
  /** assignments being installed, ready at the given instant */
  installing: Map<string, { assignment: DesiredAssignment; readyAt: number; installed: boolean }>;
  /** assignments whose outcome the server has taken (or refused as stale) */
  done: Set<string>;
}

export class InProcessFleet {
  readonly nodes: Node[] = [];
  /** calls that failed, by kind; they are tried again at the next step */
  readonly errors = { heartbeat: 0, desiredState: 0, report: 0 };
  private readonly random: () => number;
  private link: FleetLink;

  constructor(private readonly o: InProcessFleetOptions) {
    this.random = seededRandom(o.seed);
    this.link = o;
  }

  /** From now on the nodes talk to these (a restarted server); what they run and install stays. */
  use(link: FleetLink): void {
    this.link = link;
  }

  /** Registers every node and sends its first heartbeat, as an agent does at start (call before any fault is injected). */
  async start(): Promise<void> {
    for (const [environment, count] of Object.entries(this.o.sizes) as [Environment, number][]) {
      for (let i = 1; i <= count; i++) {
        const hostname = `inproc-${environment.toLowerCase()}-${String(i).padStart(2, "0")}`;
        const now = this.o.clock.now();
        const r = await registerNode(
          this.link,
          { environment, hostname, capacity: { cpuCores: 4, memoryMb: 8192 }, labels: { color: i % 2 === 1 ? "blue" : "green" }, modules: {} },
          {},
          { actor: { kind: "system", id: "inprocess-fleet" }, correlationId: `register-${hostname}`, now },
        );
        const node: Node = { nodeId: r.nodeId, environment, modules: {}, installing: new Map(), done: new Set() };
        this.nodes.push(node);
        await this.heartbeat(node);
      }
    }
  }

  /** One round for every node: heartbeat, look at its desired state, finish installs that are due. */
  async step(): Promise<void> {
    for (const node of this.nodes) {
      await this.heartbeat(node);
      await this.poll(node);
      await this.install(node);
    }
  }

  private context(node: Node): CommandContext {
    return { actor: { kind: "node", id: node.nodeId }, correlationId: `fleet-${node.nodeId}-${this.o.clock.now()}`, now: this.o.clock.now() };
  }

  metrics(node: Node): HeartbeatMetrics {
    const noise = () => 1 + (this.random() - 0.5) * 0.1;
    const bad = Object.values(node.modules).some((v) => versionFault(v) === "faulty");
    return {
      cpu: 30 * noise(),
      memory: 45 * noise(),
      latencyP95Ms: 60 * noise() * (bad ? 3.5 : 1),
      errorRate: bad ? 0.3 : 0.002 * noise(),
      requestRate: 120 * noise(),
    };
  }

  private async heartbeat(node: Node): Promise<void> {
    const now = this.o.clock.now();
    const { pace, share } = this.link;
    try {
      const r = await acceptHeartbeat(
        this.link,
        node.nodeId,
        { environment: node.environment, metrics: this.metrics(node), modules: { ...node.modules } },
        now,
        () => this.context(node),
        pace ? () => paceHeartbeat(pace.coordination, node.nodeId, pace.spacingMs) : undefined,
      );
      // as the route does: sharing is best effort, a failure is not the node's problem
      await share?.(r.heartbeat).catch(() => undefined);
    } catch (err) {
      // a refusal (429: sooner than the pacing allows) is an answer, not an outage
      if (!(err instanceof DomainError)) this.errors.heartbeat++;
    }
  }

  private async poll(node: Node): Promise<void> {
    let assignments: DesiredAssignment[];
    try {
      assignments = (await desiredStateOf(this.link.readStore, node.nodeId)).assignments;
    } catch {
      this.errors.desiredState++;
      return;
    }
    const [min, max] = this.o.installMs ?? [100, 400];
    for (const a of assignments) {
      if (node.done.has(a.assignmentId) || node.installing.has(a.assignmentId)) continue;
      node.installing.set(a.assignmentId, { assignment: a, readyAt: this.o.clock.now() + min + Math.floor(this.random() * (max - min)), installed: false });
    }
  }

  private async install(node: Node): Promise<void> {
    const now = this.o.clock.now();
    for (const [id, job] of node.installing) {
      if (job.readyAt > now) continue;
      const a = job.assignment;
      const broken = a.kind === "install" && versionFault(a.toVersion) === "broken";
      if (!broken && !job.installed) {
        if (a.toVersion === null) delete node.modules[a.moduleName];
        else putOwn(node.modules, a.moduleName, a.toVersion);
      }
      job.installed = true;
      try {
        await reportOutcome(
          this.link,
          node.nodeId,
          broken
            ? { assignmentId: id, outcome: "failed", durationMs: 1, error: `install of ${a.moduleName}@${a.toVersion} failed: package is broken` }
            : { assignmentId: id, outcome: "succeeded", durationMs: 1 },
          this.context(node),
        );
      } catch (err) {
        // stale (superseded) or unknown: the server's view wins, as for the HTTP agents
        if (!(err instanceof DomainError && (err.code === "conflict" || err.code === "not_found"))) {
          this.errors.report++;
          continue;
        }
      }
      node.installing.delete(id);
      node.done.add(id);
    }
  }
}
