import type { RecordedEvent } from "../events/envelope.js";
import { streamKey } from "../events/streams.js";
import { own } from "../platform/own-keys.js";
import type { ProjectedDoc, Projection } from "./projection.js";

export const DESIRED_STATE = "fleet_desired_state";

export interface DesiredAssignment {
  assignmentId: string;
  executionId: string;
  moduleName: string;
  fromVersion: string | null;
  /** null: the module should not be installed */
  toVersion: string | null;
  kind: "install" | "rollback" | "remove";
  requestedAt: string;
  timeoutAt: string | null;
  /** an install of a registered module: the bytes to fetch (url relative to the server) and check */
  artifact?: { digest: string; size: number; url: string } | null;
}

/**
 * Per node, the latest assignment per module: what the node should run. Its lastPosition is the
 * version token agents long-poll with.
 */
export interface DesiredStateDoc extends ProjectedDoc {
  nodeId: string;
  assignments: Record<string, DesiredAssignment>;
  /** recently superseded assignment ids (newest last), so a late report is told "stale", not "unknown" */
  superseded: string[];
}

const KEEP_SUPERSEDED = 100;

interface NodeUpdateRequestedData {
  nodeId: string;
  assignmentId: string;
  moduleName: string;
  fromVersion: string | null;
  toVersion: string | null;
  kind: "install" | "rollback" | "remove";
  artifact?: { digest: string; size: number };
  timeoutAt?: string;
  at?: string;
}

export const desiredStateProjection: Projection<DesiredStateDoc> = {
  name: "fleet-desired-state",
  version: 1,
  collection: DESIRED_STATE,
  filter: { eventTypes: ["NodeUpdateRequested"] },
  keys: (e) => (e.type === "NodeUpdateRequested" ? [(e.data as NodeUpdateRequestedData).nodeId] : []),
  apply(doc, event: RecordedEvent) {
    const d = event.data as NodeUpdateRequestedData;
    const previous = own(doc?.assignments, d.moduleName);
    const superseded = previous && previous.assignmentId !== d.assignmentId ? [...(doc?.superseded ?? []), previous.assignmentId] : (doc?.superseded ?? []);
    return {
      _id: d.nodeId,
      nodeId: d.nodeId,
      assignments: {
        ...doc?.assignments,
        [d.moduleName]: {
          assignmentId: d.assignmentId,
          executionId: streamKey(event.streamId),
          moduleName: d.moduleName,
          fromVersion: d.fromVersion,
          toVersion: d.toVersion,
          kind: d.kind,
          requestedAt: d.at ?? event.metadata.occurredAt,
          timeoutAt: d.timeoutAt ?? null,
          artifact:
            d.artifact && d.toVersion !== null
              ? { ...d.artifact, url: `/api/v1/modules/${d.moduleName}/versions/${encodeURIComponent(d.toVersion)}/artifact` }
              : null,
        },
      },
      superseded: superseded.slice(-KEEP_SUPERSEDED),
    };
  },
};
