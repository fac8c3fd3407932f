// Breadth-first walks over typed edges: a neighbourhood to a depth, and the shortest paths
// between two vertices. Both expand a whole layer at a time and stop at their bounds.
import type { Budget } from "./budget.js";
import { byString, type EdgeName, type VertexKey } from "./model.js";
import type { EdgeSelection, EdgeView, GraphReader, Hop, ReadOptions, VertexView } from "./reader.js";

export interface HopView extends EdgeView {
  /** the edge's name read from the vertex the walk came from */
  as: EdgeName;
}

/** expands many vertices at once; the store serves them one after another anyway */
async function expand(reader: GraphReader, keys: readonly VertexKey[], sel: EdgeSelection, o: ReadOptions, budget: Budget): Promise<Map<VertexKey, Hop[]>> {
  const out = new Map<VertexKey, Hop[]>();
  for (let i = 0; i < keys.length; i += 64) {
    const chunk = keys.slice(i, i + 64);
    budget.visit(chunk.length);
    const hops = await Promise.all(chunk.map((k) => reader.hops(k, sel, o)));
    chunk.forEach((k, j) => out.set(k, hops[j]!));
  }
  return out;
}

export interface Neighbourhood {
  vertices: (VertexView & { depth: number })[];
  edges: HopView[];
  truncated: boolean;
}

/** Every vertex within `depth` hops (each at its shortest distance) and the edges walked, up to `limit` vertices. */
export async function neighbourhood(
  reader: GraphReader,
  start: VertexKey,
  opts: { sel: EdgeSelection; depth: number; limit: number; o: ReadOptions; budget: Budget },
): Promise<Neighbourhood> {
  const depthOf = new Map<VertexKey, number>([[start, 0]]);
  const edges = new Map<string, HopView>();
  let frontier = [start];
  let truncated = false;
  for (let d = 1; d <= opts.depth && frontier.length && !truncated; d++) {
    const next: VertexKey[] = [];
    const hops = await expand(reader, frontier, opts.sel, opts.o, opts.budget);
    for (const list of hops.values()) {
      for (const h of list) {
        if (depthOf.has(h.other)) {
          edges.set(h.edge.id, { ...h.edge, as: h.as });
          continue;
        }
        if (depthOf.size > opts.limit) {
          truncated = true;
          break;
        }
        edges.set(h.edge.id, { ...h.edge, as: h.as });
        depthOf.set(h.other, d);
        next.push(h.other);
      }
      if (truncated) break;
    }
    frontier = next;
  }
  depthOf.delete(start);
  const views = await reader.vertices([...depthOf.keys()], opts.o.at);
  const vertices = [...depthOf].flatMap(([key, depth]) => {
    const v = views.get(key);
    return v ? [{ ...v, depth }] : [];
  });
  vertices.sort((a, b) => a.depth - b.depth || byString(a.key, b.key));
  return { vertices, edges: [...edges.values()], truncated };
}

export interface Path {
  length: number;
  vertices: VertexKey[];
  edges: HopView[];
}

/**
 * All shortest paths from `from` to `to` over the selected edges (up to `maxPaths` of them), or
 * none within `maxDepth`. Typed throughout: each step names the edge and how it was read.
 */
export async function shortestPaths(
  reader: GraphReader,
  from: VertexKey,
  to: VertexKey,
  opts: { sel: EdgeSelection; maxDepth: number; maxPaths: number; o: ReadOptions; budget: Budget },
): Promise<Path[]> {
  if (from === to) return [{ length: 0, vertices: [from], edges: [] }];
  // every way each vertex was first reached (all at the same, shortest, depth)
  const parents = new Map<VertexKey, { prev: VertexKey; hop: HopView }[]>([[from, []]]);
  let frontier = [from];
  for (let d = 1; d <= opts.maxDepth && frontier.length && !parents.has(to); d++) {
    const reached = new Map<VertexKey, { prev: VertexKey; hop: HopView }[]>();
    const hops = await expand(reader, frontier, opts.sel, opts.o, opts.budget);
    for (const [prev, list] of hops) {
      for (const h of list) {
        if (parents.has(h.other)) continue;
        let ways = reached.get(h.other);
        if (!ways) reached.set(h.other, (ways = []));
        ways.push({ prev, hop: { ...h.edge, as: h.as } });
      }
    }
    for (const [k, ways] of reached) parents.set(k, ways);
    frontier = [...reached.keys()];
  }
  if (!parents.has(to)) return [];
  const paths: Path[] = [];
  // walk back from `to`; every parent is one layer closer to `from`
  const walk = (at: VertexKey, vertices: VertexKey[], edges: HopView[]) => {
    if (paths.length >= opts.maxPaths) return;
    if (at === from) {
      paths.push({ length: edges.length, vertices: [from, ...vertices], edges: [...edges] });
      return;
    }
    for (const way of parents.get(at) ?? []) walk(way.prev, [at, ...vertices], [way.hop, ...edges]);
  };
  walk(to, [], []);
  return paths;
}
