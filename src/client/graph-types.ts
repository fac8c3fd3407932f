// Wire types of the knowledge graph API (/api/v1/graph, docs/graph.md), from the server's own
// schemas and functions (type-only imports: nothing of the server is loaded at run time).
import type { z } from "zod";
import type { GraphExport } from "../graph/export.js";
import type { impact } from "../graph/impact.js";
import type { MatrixRow } from "../graph/matrix.js";
import type { EdgeName, VertexKey, VertexType } from "../graph/model.js";
import type { PatternResult, PatternSchema } from "../graph/pattern.js";
import type { EdgeView, VertexView } from "../graph/reader.js";
import type { Neighbourhood, Path } from "../graph/traverse.js";

export type GraphVertexType = VertexType;
export type GraphEdgeName = EdgeName;
export type GraphVertex = VertexView;
export type GraphEdge = EdgeView;
/** along the canonical arrow (out), against it (in), or both */
export type GraphDirection = "out" | "in" | "both";

/** Every graph answer says which instant and log position it is as of (asOf: null for now). */
export interface GraphPoint {
  asOf: string | null;
  position: number;
}

/** An edge as read from a vertex: its name from there, which way it points, and the other end. */
export type GraphEdgeHop = EdgeView & { as: EdgeName; direction: "out" | "in"; other: VertexKey };

export type GraphVertexAnswer = GraphPoint & { vertex: VertexView; edges: GraphEdgeHop[]; total: number; truncated: boolean };
export type GraphNeighborsAnswer = GraphPoint & { start: VertexView } & Neighbourhood;
export type GraphPathsAnswer = GraphPoint & { from: VertexKey; to: VertexKey; length: number | null; paths: Path[]; vertices: VertexView[] };
export type GraphImpactAnswer = GraphPoint & Awaited<ReturnType<typeof impact>>;
export type GraphMatrixAnswer = GraphPoint & { environments: string[]; modules: MatrixRow[] };
export type GraphQueryAnswer = GraphPoint & PatternResult;
export type GraphExportAnswer = GraphPoint & GraphExport;
/** POST /api/v1/graph/query body (defaults may be left out) */
export type GraphPattern = z.input<typeof PatternSchema>;
