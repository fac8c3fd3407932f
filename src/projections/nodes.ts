import type { Capacity, NodeEvent, NodeStatus } from "../events/catalog/node.js";
import { nodeEventTypes } from "../events/catalog/node.js";
import type { RecordedEvent } from "../events/envelope.js";
import { streamPrefixes } from "../events/streams.js";
import { colorOf } from "../fleet/environments.js";
import type { Environment } from "../strategies/settings.js";
import type { ProjectedDoc, Projection } from "./projection.js";
import type { IndexSpec } from "./store/port.js";

export const NODES = "fleet_nodes";
export const NODE_OUTCOMES = "fleet_outcomes";

/** One registered node. Deregistered nodes are deleted from this read model. */
export interface NodeDoc extends ProjectedDoc {
  nodeId: string;
  environment: Environment;
  hostname: string;
  capacity: Capacity;
  labels: Record<string, string>;
  color: "blue" | "green" | null;
  status: NodeStatus;
  /** ISO time of the last status change */
  statusSince: string;
  registeredAt: string;
  /** module name -> version, as established by the node's reports */
  modules: Record<string, string>;
  /** the generation node tokens must carry (0: registered before node credentials existed) */
  credentialGeneration: number;
  tenantId: string;
}

const asNodeEvent = (e: RecordedEvent) => e as unknown as NodeEvent;

export const nodesProjection: Projection<NodeDoc> & { indexes: IndexSpec[] } = {
  name: "fleet-nodes",
  // 2: credentialGeneration
  version: 2,
  collection: NODES,
  filter: { streamPrefixes: [streamPrefixes.node] },
  indexes: [{ name: "environment", keys: { environment: 1 } }],
  keys: (e) => (nodeEventTypes.includes(e.type as NodeEvent["type"]) ? [(e.data as { nodeId: string }).nodeId] : []),
  apply(doc, recorded) {
    const event = asNodeEvent(recorded);
    if (event.type === "NodeRegistered") {
      const d = event.data;
      return {
        _id: d.nodeId,
        nodeId: d.nodeId,
        environment: d.environment,
        hostname: d.hostname,
        capacity: d.capacity,
        labels: d.labels,
        color: colorOf(d.labels) ?? null,
        status: "Healthy",
        statusSince: d.at,
        registeredAt: d.at,
        modules: { ...d.modules },
        credentialGeneration: doc?.credentialGeneration ?? 0,
        tenantId: recorded.metadata.tenantId,
      };
    }
    if (!doc) return null;
    switch (event.type) {
      case "NodeDetailsChanged":
        return { ...doc, capacity: event.data.capacity, labels: event.data.labels, color: colorOf(event.data.labels) ?? null };
      case "NodeDeregistered":
        return null;
      case "NodeBecameUnhealthy":
        return { ...doc, status: "Unhealthy", statusSince: event.data.at };
      case "NodeWentOffline":
        return { ...doc, status: "Offline", statusSince: event.data.at };
      case "NodeRecovered":
        return { ...doc, status: "Healthy", statusSince: event.data.at };
      case "ModuleInstalled":
        return { ...doc, modules: { ...doc.modules, [event.data.moduleName]: event.data.version } };
      case "ModuleRemoved": {
        const { [event.data.moduleName]: _gone, ...modules } = doc.modules;
        return { ...doc, modules };
      }
      case "ModuleInstallFailed":
        return doc;
      case "NodeCredentialIssued":
      case "NodeCredentialReset":
        return { ...doc, credentialGeneration: event.data.generation };
    }
  },
};

/** The recorded outcome of one assignment (one install, rollback or removal on one node). */
export interface OutcomeDoc extends ProjectedDoc {
  assignmentId: string;
  nodeId: string;
  moduleName: string;
  outcome: "succeeded" | "failed";
  /** the version now running (succeeded) or that failed to install; null for removals */
  version: string | null;
  error?: string;
  durationMs: number;
  at: string;
}

const OUTCOME_TYPES = ["ModuleInstalled", "ModuleInstallFailed", "ModuleRemoved"];

export const nodeOutcomesProjection: Projection<OutcomeDoc> & { indexes: IndexSpec[] } = {
  name: "fleet-outcomes",
  version: 1,
  collection: NODE_OUTCOMES,
  filter: { eventTypes: OUTCOME_TYPES },
  indexes: [{ name: "node_module", keys: { nodeId: 1, moduleName: 1 } }],
  keys: (e) => (OUTCOME_TYPES.includes(e.type) ? [(e.data as { assignmentId: string }).assignmentId] : []),
  apply(doc, recorded) {
    const event = asNodeEvent(recorded);
    const common = (d: { assignmentId: string; nodeId: string; moduleName: string; durationMs: number; at: string }) => ({
      _id: d.assignmentId,
      assignmentId: d.assignmentId,
      nodeId: d.nodeId,
      moduleName: d.moduleName,
      durationMs: d.durationMs,
      at: d.at,
    });
    switch (event.type) {
      case "ModuleInstalled":
        return { ...common(event.data), outcome: "succeeded", version: event.data.version };
      case "ModuleRemoved":
        return { ...common(event.data), outcome: "succeeded", version: null };
      case "ModuleInstallFailed":
        return { ...common(event.data), outcome: "failed", version: event.data.version, error: event.data.error };
      default:
        return doc;
    }
  },
};
