// The knowledge graph's vocabulary: vertex types, typed directed edges and their inverse names.
// Every edge is stored once, in its canonical direction; its inverse is the same edge read from
// the other end, so "every edge has its inverse" holds by construction.
import { z } from "@hono/zod-openapi";

export const VERTEX_TYPES = ["Module", "ModuleVersion", "Artifact", "Certificate", "Node", "Environment", "Deployment", "User", "Secret"] as const;
export const VertexTypeSchema = z.enum(VERTEX_TYPES);
export type VertexType = z.infer<typeof VertexTypeSchema>;

/** canonical edge type -> its inverse name and the vertex types at either end */
export const EDGE_TYPES = {
  RUNS: { inverse: "RUN_BY", from: "Node", to: "ModuleVersion" },
  VERSION_OF: { inverse: "HAS_VERSION", from: "ModuleVersion", to: "Module" },
  // not in the issue's list: without it an artifact (and so its signer) hangs off nothing
  HAS_ARTIFACT: { inverse: "ARTIFACT_OF", from: "ModuleVersion", to: "Artifact" },
  DEPLOYS: { inverse: "DEPLOYED_BY", from: "Deployment", to: "ModuleVersion" },
  TARGETS: { inverse: "TARGETED_BY", from: "Deployment", to: "Environment" },
  UPDATED: { inverse: "UPDATED_BY", from: "Deployment", to: "Node" },
  REQUESTED_BY: { inverse: "REQUESTED", from: "Deployment", to: "User" },
  APPROVED_BY: { inverse: "APPROVED", from: "Deployment", to: "User" },
  REJECTED_BY: { inverse: "REJECTED", from: "Deployment", to: "User" },
  MEMBER_OF: { inverse: "HAS_MEMBER", from: "Node", to: "Environment" },
  DEPENDS_ON: { inverse: "DEPENDED_ON_BY", from: "ModuleVersion", to: "Module" },
  SIGNED_BY: { inverse: "SIGNED", from: "Artifact", to: "Certificate" },
  ISSUED_BY: { inverse: "ISSUED", from: "Certificate", to: "Certificate" },
  ROTATED_BY: { inverse: "ROTATED", from: "Secret", to: "User" },
} as const satisfies Record<string, { inverse: string; from: VertexType; to: VertexType }>;

export type EdgeType = keyof typeof EDGE_TYPES;
export type InverseName = (typeof EDGE_TYPES)[EdgeType]["inverse"];
/** a name an edge can be followed by: canonical, or its inverse (the same edge from the other end) */
export type EdgeName = EdgeType | InverseName;

export const EDGE_TYPE_LIST = Object.keys(EDGE_TYPES) as EdgeType[];
const byName = new Map<string, { type: EdgeType; inverted: boolean }>();
for (const type of EDGE_TYPE_LIST) {
  byName.set(type, { type, inverted: false });
  byName.set(EDGE_TYPES[type].inverse, { type, inverted: true });
}
export const EDGE_NAMES = [...byName.keys()] as EdgeName[];

/** What an edge name means: the canonical type, and whether it is read against its direction. */
export function resolveEdgeName(name: string): { type: EdgeType; inverted: boolean } | undefined {
  return byName.get(name);
}

export const isVertexType = (t: string): t is VertexType => (VERTEX_TYPES as readonly string[]).includes(t);

/** "Type:id" — the one spelling of a vertex everywhere (documents, answers, path and pattern input). */
export type VertexKey = string;
export const vertexKey = (type: VertexType, id: string): VertexKey => `${type}:${id}`;

/** "Node:qa-1" -> {type, id}; undefined when the type is not one of ours or the id is empty. */
export function parseVertexKey(key: string): { type: VertexType; id: string } | undefined {
  const colon = key.indexOf(":");
  if (colon <= 0) return undefined;
  const type = key.slice(0, colon);
  const id = key.slice(colon + 1);
  return isVertexType(type) && id.length > 0 ? { type, id } : undefined;
}

/** plain string order (code units), as MongoDB and the memory store order string ids */
export const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export const moduleVersionId = (name: string, version: string) => `${name}@${version}`;

/** "netfilter@1.2.0" -> its module and version (module names have no "@"). */
export function splitModuleVersion(id: string): { name: string; version: string } {
  const at = id.indexOf("@");
  return at < 0 ? { name: id, version: "" } : { name: id.slice(0, at), version: id.slice(at + 1) };
}

/** Deployment statuses after which nothing more happens. */
export const TERMINAL_STATUSES: ReadonlySet<string> = new Set(["Succeeded", "Failed", "RolledBack", "Rejected", "Cancelled"]);
