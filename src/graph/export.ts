// The graph (whole, or a neighbourhood) as JSON or GraphML, for Gephi, yEd or a Neo4j import
// (APOC's apoc.import.graphml reads the `labels` / `label` keys written here).
import { invalid } from "../commands/errors.js";
import { LIMITS, type Budget } from "./budget.js";
import { EDGE_TYPES, type VertexKey } from "./model.js";
import { selectEdges, type EdgeView, type GraphReader, type VertexView } from "./reader.js";
import { neighbourhood } from "./traverse.js";

export interface GraphExport {
  vertices: VertexView[];
  edges: EdgeView[];
}

export async function exportGraph(reader: GraphReader, at: number, around: { key: VertexKey; depth: number } | undefined, budget: Budget): Promise<GraphExport> {
  const tooBig = () =>
    invalid(`the graph has more than ${LIMITS.exportEdges} edges: export a neighbourhood (around, depth)`, {
      errors: [{ path: "query.around", message: `more than ${LIMITS.exportEdges} edges` }],
    });
  if (around) {
    const start = await reader.vertex(around.key, at);
    if (!start) return { vertices: [], edges: [] };
    const n = await neighbourhood(reader, around.key, { sel: selectEdges(null, "both"), depth: around.depth, limit: LIMITS.maxResults, o: { at }, budget });
    if (n.edges.length > LIMITS.exportEdges) throw tooBig();
    return { vertices: [start, ...n.vertices.map(({ depth: _depth, ...v }) => v)], edges: n.edges.map(({ as: _as, ...e }) => e) };
  }
  const vertices = await reader.allVertices(at);
  const edges: EdgeView[] = [...(await reader.factEdges({ at })), ...(await reader.allRuns({ at }))];
  for (const node of vertices.filter((v) => v.type === "Node")) edges.push(...(await reader.edgesOut(node.key, new Set(["MEMBER_OF" as const]), { at })));
  if (edges.length > LIMITS.exportEdges) throw tooBig();
  return { vertices, edges };
}

const xml = (s: string) =>
  s.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]!).replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, "");

/** GraphML with one key per attribute; property bags are JSON strings (GraphML has no nesting). */
export function toGraphML(g: GraphExport): string {
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<graphml xmlns="http://graphml.graphdrawing.org/xmlns">',
    '  <key id="labels" for="node" attr.name="labels" attr.type="string"/>',
    '  <key id="vid" for="node" attr.name="id" attr.type="string"/>',
    '  <key id="vprops" for="node" attr.name="props" attr.type="string"/>',
    '  <key id="label" for="edge" attr.name="label" attr.type="string"/>',
    '  <key id="inverse" for="edge" attr.name="inverse" attr.type="string"/>',
    '  <key id="open" for="edge" attr.name="openPosition" attr.type="long"/>',
    '  <key id="openedAt" for="edge" attr.name="openedAt" attr.type="string"/>',
    '  <key id="close" for="edge" attr.name="closePosition" attr.type="long"/>',
    '  <key id="eprops" for="edge" attr.name="props" attr.type="string"/>',
    '  <graph id="G" edgedefault="directed">',
  ];
  for (const v of g.vertices) {
    lines.push(
      `    <node id="${xml(v.key)}"><data key="labels">:${v.type}</data><data key="vid">${xml(v.id)}</data><data key="vprops">${xml(JSON.stringify(v.props))}</data></node>`,
    );
  }
  for (const e of g.edges) {
    const close = e.close === null ? "" : `<data key="close">${e.close}</data>`;
    lines.push(
      `    <edge id="${xml(e.id)}" source="${xml(e.from)}" target="${xml(e.to)}"><data key="label">${e.type}</data><data key="inverse">${EDGE_TYPES[e.type].inverse}</data><data key="open">${e.open}</data><data key="openedAt">${xml(e.openedAt)}</data>${close}<data key="eprops">${xml(JSON.stringify(e.props))}</data></edge>`,
    );
  }
  lines.push("  </graph>", "</graphml>");
  return lines.join("\n") + "\n";
}
