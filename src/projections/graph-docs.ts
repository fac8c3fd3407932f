// The graph read model's documents (one collection, four kinds). Why three and not just "one
// document per edge": a projection's apply sees one document and the event, and the events that
// end a RUNS edge (ModuleInstalled of another version, ModuleRemoved, NodeDeregistered) do not say
// which version they end. So what a node runs is kept where those events can find it:
//   - "runs": one document per (node, module) with every interval the node ran some version of it;
//   - "vertex": one per vertex; a Node's carries its registrations (MEMBER_OF intervals), and a
//     deregistration ends that node's RUNS edges there;
//   - "modules": per node, what it runs now (the nodes read model's mirror, for the matrix);
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

/**
 * What a node runs now, exactly as the nodes read model has it, and where it is registered: the
 * "what runs where" matrix reads one of these per node. Apart from the vertex, which installs would
 * otherwise rewrite and every RUN_BY lookup would copy.
 */
export interface NodeModulesDoc extends ProjectedDoc, NodeModulesFields {}
// a type, not an interface: structurally a Doc (type aliases get an implicit index signature)
export type NodeModulesFields = {
  _id: string;
  kind: "modules";
  node: string;
  /** the environment of the registration open now; null while deregistered */
  registeredIn: string | null;
  /**
   * module, version, module, version, ...: a flat list rather than a record keyed by module. Each
   * node's set of modules differs, so as records every node's had a shape of its own, and copying
   * and freezing those on every install grew with the modules on the node and the number of
   * nodes (a rebuild of 400,000 events ran 1.5x faster without them); a list of strings is copied
   * and frozen natively.
   */
  modules: string[];
};

export type GraphDoc = VertexDoc | EdgeDoc | RunsDoc | NodeModulesDoc;

export const vertexDocId = (key: VertexKey) => `v|${key}`;
export const nodeModulesDocId = (nodeId: string) => `m|${nodeId}`;
export const runsDocId = (nodeId: string, module: string) => `r|${nodeId}|${module}`;
/** an edge asserted once whatever repeats it (VERSION_OF, DEPLOYS, DEPENDS_ON, ...) */
export const factEdgeId = (type: EdgeType, from: VertexKey, to: VertexKey) => `${type}:${from}->${to}`;
/** an edge per event (UPDATED, ROTATED_BY): the same pair may be joined many times */
export const eventEdgeId = (type: EdgeType, from: VertexKey, to: VertexKey, position: number) => `${type}:${from}->${to}:${position}`;
