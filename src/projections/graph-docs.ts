// The graph read model's documents (one collection, three kinds). Why three and not just "one
// document per edge": a projection's apply sees one document and the event, and the events that
// end a RUNS edge (ModuleInstalled of another version, ModuleRemoved, NodeDeregistered) do not say
// which version they end. So what a node runs is kept where those events can find it:
//   - "runs": one document per (node, module) with every interval the node ran some version of it;
//   - "vertex": one per vertex; a Node's carries its registrations (MEMBER_OF intervals) and what it
//     runs now, mirroring the nodes read model; a deregistration ends that node's RUNS edges there;
//   - "edge": one per edge that never ends (DEPLOYS, UPDATED, DEPENDS_ON, SIGNED_BY, ...).
// Every interval is [open, close) in global positions, so "as of position P" is a filter.
import type { ProjectedDoc } from "./projection.js";
import type { EdgeType, VertexKey, VertexType } from "../graph/model.js";

export const GRAPH = "graph";

/** [open, close) in global log positions, with the times of the events at either end */
export interface Interval {
  open: number;
  openedAt: string;
  close: number | null;
  closedAt: string | null;
}

/** A node's registration: it is a MEMBER_OF `environment` for the interval. */
export interface Epoch extends Interval {
  environment: string;
}

/** One stretch of a node running one version of a module. */
export interface RunsInterval extends Interval {
  version: string;
  /** the deployment whose assignment installed it; null when the node registered with it */
  via: string | null;
  /** what the node reported it installed, when it did */
  digest: string | null;
}

export interface StatusAt {
  status: string;
  position: number;
  at: string;
}

export interface VertexDoc extends ProjectedDoc {
  kind: "vertex";
  vtype: VertexType;
  vid: string;
  key: VertexKey;
  firstPosition: number;
  firstAt: string;
  /** as of the latest event (except what the fields below keep over time) */
  props: Record<string, unknown>;
  /** Node: every registration, oldest first */
  epochs?: Epoch[];
  /**
   * Node: the environments it was ever registered in: a string when one (indexable by value),
   * an array when several (rare: a node id re-registered elsewhere)
   */
  environment?: string | string[];
  /** Node: module -> version it runs now, exactly as the nodes read model has it */
  modules?: Record<string, string>;
  registered?: boolean;
  /** Deployment: its status after every change, oldest first */
  statuses?: StatusAt[];
}

export interface EdgeDoc extends ProjectedDoc {
  kind: "edge";
  type: EdgeType;
  from: VertexKey;
  to: VertexKey;
  open: number;
  openedAt: string;
  props: Record<string, unknown>;
}

export interface RunsDoc extends ProjectedDoc {
  kind: "runs";
  /** "Node:<nodeId>" */
  from: VertexKey;
  node: string;
  module: string;
  /** the version of the last interval while it is open (a cheap pre-filter for "now") */
  current: string | null;
  intervals: RunsInterval[];
}

export type GraphDoc = VertexDoc | EdgeDoc | RunsDoc;

export const vertexDocId = (key: VertexKey) => `v|${key}`;
export const runsDocId = (nodeId: string, module: string) => `r|${nodeId}|${module}`;
/** an edge asserted once whatever repeats it (VERSION_OF, DEPLOYS, DEPENDS_ON, ...) */
export const factEdgeId = (type: EdgeType, from: VertexKey, to: VertexKey) => `${type}:${from}->${to}`;
/** an edge per event (UPDATED, ROTATED_BY): the same pair may be joined many times */
export const eventEdgeId = (type: EdgeType, from: VertexKey, to: VertexKey, position: number) => `${type}:${from}->${to}:${position}`;
