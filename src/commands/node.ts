import { timingSafeEqual } from "node:crypto";
import type { Capacity, NodeEvent, NodeStatus } from "../events/catalog/node.js";
import type { Environment } from "../strategies/settings.js";
import type { Decider } from "./decider.js";
import { conflict, DomainError, notFound } from "./errors.js";

export interface NodeState {
  exists: boolean;
  deregistered: boolean;
  nodeId: string;
  environment: Environment | null;
  hostname: string;
  capacity: Capacity;
  labels: Record<string, string>;
  status: NodeStatus;
  /** module name -> version the node runs, as established by its reports */
  modules: Record<string, string>;
  /** assignmentId -> the outcome already recorded, so a retried report is recognised */
  outcomes: Record<string, "succeeded" | "failed">;
  /**
   * What proves a registration comes from this node: the SHA-256 of its secret (null while it
   * holds none: registered before credentials existed, or reset by an Admin), and the generation
   * node tokens must carry.
   */
  credential: { secretHash: string | null; generation: number };
}

/** What the deployment pipeline asked of this node (from the desired-state read model). */
export interface Assignment {
  assignmentId: string;
  moduleName: string;
  toVersion: string | null;
  kind: "install" | "rollback" | "remove";
  /** the registered bytes an install must be of */
  artifact?: { digest: string } | null;
}

export type NodeCommand =
  | {
      type: "RegisterNode";
      nodeId: string;
      environment: Environment;
      hostname: string;
      capacity: Capacity;
      labels: Record<string, string>;
      modules: Record<string, string>;
      /** what the caller presented: the SHA-256 of a node secret, and/or the generation of a valid token of this node */
      proof: { secretHash?: string; tokenGeneration?: number };
      /** SHA-256 of a fresh secret, recorded if this registration issues the node its credential */
      newSecretHash: string;
      now: number;
    }
  | { type: "DeregisterNode"; reason: string; now: number }
  /** an Admin revokes the node's secret and tokens */
  | { type: "ResetCredential"; now: number }
  | { type: "MarkUnhealthy"; lastSeenAt: number; now: number }
  | { type: "MarkOffline"; lastSeenAt: number; now: number }
  /** a sign of life (heartbeat): brings an Unhealthy or Offline node back */
  | { type: "RecordSignOfLife"; now: number }
  | { type: "ReportOutcome"; assignment: Assignment; outcome: "succeeded" | "failed"; durationMs: number; error?: string; digest?: string; now: number };

export const initialNodeState: NodeState = {
  exists: false,
  deregistered: false,
  nodeId: "",
  environment: null,
  hostname: "",
  capacity: { cpuCores: 1, memoryMb: 1 },
  labels: {},
  status: "Healthy",
  modules: {},
  outcomes: {},
  credential: { secretHash: null, generation: 0 },
};

export function evolveNode(state: NodeState, event: NodeEvent): NodeState {
  switch (event.type) {
    case "NodeRegistered": {
      const d = event.data;
      return {
        ...state,
        exists: true,
        deregistered: false,
        nodeId: d.nodeId,
        environment: d.environment,
        hostname: d.hostname,
        capacity: d.capacity,
        labels: d.labels,
        status: "Healthy",
        modules: { ...d.modules },
        // a credential comes with its own event; the generation never goes back, so old tokens stay revoked
        credential: { secretHash: null, generation: state.credential.generation },
      };
    }
    case "NodeCredentialIssued":
      return { ...state, credential: { secretHash: event.data.secretHash, generation: event.data.generation } };
    case "NodeCredentialReset":
      return { ...state, credential: { secretHash: null, generation: event.data.generation } };
    case "NodeDetailsChanged":
      return { ...state, capacity: event.data.capacity, labels: event.data.labels };
    case "NodeDeregistered":
      return { ...state, deregistered: true };
    case "NodeBecameUnhealthy":
      return { ...state, status: "Unhealthy" };
    case "NodeWentOffline":
      return { ...state, status: "Offline" };
    case "NodeRecovered":
      return { ...state, status: "Healthy" };
    case "ModuleInstalled":
      return {
        ...state,
        modules: { ...state.modules, [event.data.moduleName]: event.data.version },
        outcomes: { ...state.outcomes, [event.data.assignmentId]: "succeeded" },
      };
    case "ModuleRemoved": {
      const { [event.data.moduleName]: _removed, ...rest } = state.modules;
      return { ...state, modules: rest, outcomes: { ...state.outcomes, [event.data.assignmentId]: "succeeded" } };
    }
    case "ModuleInstallFailed":
      return { ...state, outcomes: { ...state.outcomes, [event.data.assignmentId]: "failed" } };
  }
}

const iso = (ms: number) => new Date(ms).toISOString();

function sameRecord(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}

function sameHash(a: string | undefined, b: string): boolean {
  if (a === undefined || a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

/** Whether the caller proved it is the node that holds the current credential. */
function provesOwnership(proof: Extract<NodeCommand, { type: "RegisterNode" }>["proof"], credential: NodeState["credential"]): boolean {
  if (credential.secretHash === null) return false;
  return sameHash(proof.secretHash, credential.secretHash) || proof.tokenGeneration === credential.generation;
}

function decideRegistration(c: Extract<NodeCommand, { type: "RegisterNode" }>, state: NodeState): NodeEvent[] {
  const at = iso(c.now);
  const issue = (): NodeEvent => ({
    type: "NodeCredentialIssued",
    data: { nodeId: c.nodeId, secretHash: c.newSecretHash, generation: state.credential.generation + 1, at },
  });
  if (!state.exists || state.deregistered) {
    const { nodeId, environment, hostname, capacity, labels, modules } = c;
    return [{ type: "NodeRegistered", data: { nodeId, environment, hostname, capacity, labels, modules, at } }, issue()];
  }
  if (state.environment !== c.environment) {
    throw conflict(`node ${state.nodeId} is registered in ${state.environment}, not ${c.environment}`);
  }
  // A node without a secret (reset by an Admin, or registered before credentials existed) is
  // claimed by this registration; one with a secret only by whoever proves they hold it.
  const claim = state.credential.secretHash === null;
  if (!claim && !provesOwnership(c.proof, state.credential)) {
    throw conflict(
      `node ${state.nodeId} is already registered; present its node secret (nodeSecret) or its current token, or have an Admin reset its credential`,
      { nodeId: state.nodeId },
    );
  }
  // Registering again is idempotent; it only records what actually changed.
  const events: NodeEvent[] = [];
  if (!sameRecord(state.capacity, c.capacity) || !sameRecord(state.labels, c.labels)) {
    events.push({ type: "NodeDetailsChanged", data: { nodeId: state.nodeId, capacity: c.capacity, labels: c.labels, at } });
  }
  if (state.status !== "Healthy") {
    events.push({ type: "NodeRecovered", data: { nodeId: state.nodeId, previousStatus: state.status, at } });
  }
  if (claim) events.push(issue());
  return events;
}

function decideOutcome(c: Extract<NodeCommand, { type: "ReportOutcome" }>, state: NodeState): NodeEvent[] {
  const { assignment: a, durationMs } = c;
  const previous = Object.hasOwn(state.outcomes, a.assignmentId) ? state.outcomes[a.assignmentId] : undefined;
  if (previous === c.outcome) return []; // a retried report: already recorded
  if (previous) throw conflict(`assignment ${a.assignmentId} was already reported as ${previous}`, { assignmentId: a.assignmentId });
  const base = { nodeId: state.nodeId, moduleName: a.moduleName, assignmentId: a.assignmentId, durationMs, at: iso(c.now) };
  if (c.outcome === "failed") {
    return [{ type: "ModuleInstallFailed", data: { ...base, version: a.toVersion, error: c.error ?? "unspecified error" } }];
  }
  // A rollback to "nothing installed before" is a removal.
  if (a.kind === "remove" || a.toVersion === null) return [{ type: "ModuleRemoved", data: base }];
  // an install bound to registered bytes counts only for those bytes: anything else was not what was verified
  const expected = a.kind === "install" ? a.artifact?.digest : undefined;
  if (expected !== undefined && c.digest !== expected) {
    const error = c.digest ? `installed bytes ${c.digest} are not the artifact ${expected}` : `the node did not confirm the artifact digest ${expected}`;
    return [{ type: "ModuleInstallFailed", data: { ...base, version: a.toVersion, error } }];
  }
  return [{ type: "ModuleInstalled", data: { ...base, version: a.toVersion, ...(c.digest !== undefined && { digest: c.digest }) } }];
}

/** One node's lifecycle: registration, health as seen by the heartbeat monitor, and what it runs. */
export const nodeDecider: Decider<NodeState, NodeCommand, NodeEvent> = {
  initialState: initialNodeState,
  cacheable: true,
  evolve: evolveNode,
  decide(command, state) {
    if (command.type === "RegisterNode") return decideRegistration(command, state);
    if (!state.exists) throw notFound("node");
    if (state.deregistered) throw new DomainError("conflict", `node ${state.nodeId} is deregistered; register it again`);
    const at = iso(command.now);
    switch (command.type) {
      case "DeregisterNode":
        return [{ type: "NodeDeregistered", data: { nodeId: state.nodeId, reason: command.reason, at } }];
      case "ResetCredential":
        return [{ type: "NodeCredentialReset", data: { nodeId: state.nodeId, generation: state.credential.generation + 1, at } }];
      case "MarkUnhealthy":
        if (state.status !== "Healthy") return [];
        return [
          {
            type: "NodeBecameUnhealthy",
            data: { nodeId: state.nodeId, lastSeenAt: iso(command.lastSeenAt), reason: `no heartbeat since ${iso(command.lastSeenAt)}`, at },
          },
        ];
      case "MarkOffline":
        if (state.status === "Offline") return [];
        return [{ type: "NodeWentOffline", data: { nodeId: state.nodeId, lastSeenAt: iso(command.lastSeenAt), at } }];
      case "RecordSignOfLife":
        if (state.status === "Healthy") return [];
        return [{ type: "NodeRecovered", data: { nodeId: state.nodeId, previousStatus: state.status, at } }];
      case "ReportOutcome":
        return decideOutcome(command, state);
    }
  },
};
