// Reads the graph read model as vertices and edges at a position P: an interval [open, close) is
// visible at P when open <= P < close. RUNS edges are assembled from the per-(node, module)
// documents and cut at the end of the node's registration they began in; MEMBER_OF edges are the
// node's registrations. Every lookup is by _id or an indexed field (from, to, module, vtype).
import { GRAPH, vertexDocId, type EdgeDoc, type Epoch, type GraphDoc, type Interval, type NodeModulesDoc, type RunsDoc, type RunsInterval, type VertexDoc } from "../projections/graph-docs.js";
import type { Collection, ReadStore } from "../projections/store/port.js";
import { byString, EDGE_TYPE_LIST, EDGE_TYPES, moduleVersionId, parseVertexKey, resolveEdgeName, splitModuleVersion, vertexKey, type EdgeName, type EdgeType, type VertexKey, type VertexType } from "./model.js";

/**
 * ids per `_id: {$in}` lookup: MongoDB takes thousands at once, but the memory store tests every
 * candidate against the whole list, so long lists cost candidates x list
 */
const BY_ID_CHUNK = 100;

/** the newest state: every open edge */
export const NOW = Number.POSITIVE_INFINITY;

export interface EdgeView {
  id: string;
  type: EdgeType;
  from: VertexKey;
  to: VertexKey;
  open: number;
  openedAt: string;
  /** null while (as of the position asked for) the edge holds */
  close: number | null;
  closedAt: string | null;
  props: Record<string, unknown>;
}

export interface VertexView {
  key: VertexKey;
  type: VertexType;
  id: string;
  firstPosition: number;
  firstAt: string;
  props: Record<string, unknown>;
}

export type Direction = "out" | "in" | "both";

/** One step from a vertex over an edge: `as` is the edge's name read from that vertex. */
export interface Hop {
  edge: EdgeView;
  as: EdgeName;
  direction: "out" | "in";
  other: VertexKey;
}

export interface ReadOptions {
  /** position to read at (NOW for the newest state) */
  at: number;
  /** also edges that had closed by `at` */
  history?: boolean;
}

/** which canonical types to follow out of / into a vertex for a set of names and a direction */
export interface EdgeSelection {
  out: Set<EdgeType>;
  in: Set<EdgeType>;
}

export function selectEdges(names: readonly string[] | null, direction: Direction): EdgeSelection {
  const sel: EdgeSelection = { out: new Set(), in: new Set() };
  const wants = (d: "out" | "in") => direction === "both" || direction === d;
  for (const name of names ?? EDGE_TYPE_LIST) {
    const r = resolveEdgeName(name);
    if (!r) continue;
    // an inverse name is the canonical edge read against its arrow
    if (wants(r.inverted ? "in" : "out")) sel.out.add(r.type);
    if (wants(r.inverted ? "out" : "in")) sel.in.add(r.type);
  }
  return sel;
}

const visible = (i: { open: number; close?: number | null }, o: ReadOptions) => i.open <= o.at && (o.history || i.close == null || i.close > o.at);
/** a close after the position read at is the future: not shown */
const asOf = (i: Interval, o: ReadOptions) => (i.close !== null && i.close <= o.at ? { close: i.close, closedAt: i.closedAt } : { close: null, closedAt: null });

export class GraphReader {
  constructor(private readonly store: ReadStore) {}

  private get docs(): Collection<GraphDoc> {
    return this.store.collection<GraphDoc>(GRAPH);
  }

  async vertexDoc(key: VertexKey): Promise<VertexDoc | null> {
    const doc = await this.docs.get(vertexDocId(key));
    return doc?.kind === "vertex" ? doc : null;
  }

  /** the vertex as of the position, or null when it did not exist yet */
  async vertex(key: VertexKey, at: number): Promise<VertexView | null> {
    const doc = await this.vertexDoc(key);
    return doc && doc.firstPosition <= at ? viewOf(doc, at) : null;
  }

  async vertices(keys: readonly VertexKey[], at: number): Promise<Map<VertexKey, VertexView>> {
    const out = new Map<VertexKey, VertexView>();
    for (const d of await this.vertexDocs(keys)) if (d.firstPosition <= at) out.set(d.key, viewOf(d, at));
    return out;
  }

  /** the vertex documents of these keys (those that exist), read BY_ID_CHUNK ids at a time */
  private async vertexDocs(keys: readonly VertexKey[]): Promise<VertexDoc[]> {
    const out: VertexDoc[] = [];
    const unique = [...new Set(keys)];
    for (let i = 0; i < unique.length; i += BY_ID_CHUNK) {
      const docs = await this.docs.find({ _id: { $in: unique.slice(i, i + BY_ID_CHUNK).map(vertexDocId) } });
      for (const d of docs) if (d.kind === "vertex") out.push(d);
    }
    return out;
  }

  /** every vertex of a type that existed at the position, optionally only those matching `where` on their properties */
  async verticesOfType(type: VertexType, at: number, limit: number): Promise<VertexView[]> {
    // sorted here: a sort on _id would make the memory store keep every id in order from then on
    const docs = ((await this.docs.find({ vtype: type, kind: "vertex" })) as VertexDoc[]).sort((a, b) => byString(a._id, b._id));
    const out: VertexView[] = [];
    for (const d of docs) {
      if (d.firstPosition > at) continue;
      out.push(viewOf(d, at));
      if (out.length >= limit) break;
    }
    return out;
  }

  /** edges whose canonical `from` is the vertex */
  async edgesOut(key: VertexKey, types: ReadonlySet<EdgeType>, o: ReadOptions): Promise<EdgeView[]> {
    if (types.size === 0) return [];
    const parsed = parseVertexKey(key);
    const out: EdgeView[] = [];
    const stored = [...types].some((t) => t !== "MEMBER_OF");
    const docs = stored ? await this.docs.find({ from: key }) : [];
    let node: VertexDoc | null | undefined;
    if (parsed?.type === "Node" && (types.has("RUNS") || types.has("MEMBER_OF"))) node = await this.vertexDoc(key);
    for (const d of docs) {
      if (d.kind === "edge" && types.has(d.type) && visible(d, o)) out.push(edgeView(d));
      else if (d.kind === "runs" && types.has("RUNS")) out.push(...runsEdges(d, node?.epochs, o));
    }
    if (node && types.has("MEMBER_OF")) out.push(...memberEdges(node, o));
    return out;
  }

  /** edges whose canonical `to` is the vertex */
  async edgesIn(key: VertexKey, types: ReadonlySet<EdgeType>, o: ReadOptions): Promise<EdgeView[]> {
    if (types.size === 0) return [];
    const parsed = parseVertexKey(key);
    const out: EdgeView[] = [];
    if ([...types].some((t) => t !== "RUNS" && t !== "MEMBER_OF")) {
      for (const d of await this.docs.find({ to: key })) if (d.kind === "edge" && types.has(d.type) && visible(d, o)) out.push(edgeView(d));
    }
    if (parsed?.type === "ModuleVersion" && types.has("RUNS")) {
      const { name, version } = splitModuleVersion(parsed.id);
      out.push(...(await this.runsOf(name, o, [version])));
    }
    if (parsed?.type === "Environment" && types.has("MEMBER_OF")) {
      const nodes = (await this.docs.find({ vtype: "Node", environment: parsed.id })) as VertexDoc[];
      for (const n of nodes) out.push(...memberEdges(n, o).filter((e) => e.to === key));
    }
    return out;
  }

  /**
   * The RUNS edges into the versions of a module (all of them, or `versions`): the "who runs it"
   * lookup impact analysis and RUN_BY are made of.
   */
  async runsOf(module: string, o: ReadOptions, versions?: readonly string[]): Promise<EdgeView[]> {
    const out: EdgeView[] = [];
    await this.eachRunOf(module, o, versions, (slot, i, epoch, end) => out.push(runsEdge(slot, i, epoch, end, o)));
    return out;
  }

  /** runsOf without the edge objects: `visit` sees each visible interval */
  async eachRunOf(module: string, o: ReadOptions, versions: readonly string[] | undefined, visit: RunsVisitor): Promise<void> {
    const filter: Record<string, unknown> = { module, kind: "runs" };
    // only open intervals can hold now: the last version of each slot says which
    if (o.at === NOW && !o.history && versions) filter.current = versions.length === 1 ? versions[0] : { $in: [...versions] };
    const slots = (await this.docs.find(filter)) as RunsDoc[];
    const wanted = versions ? new Set(versions) : null;
    const epochs = await this.epochsOf(slots.map((s) => s.from));
    for (const slot of slots) eachRun(slot, epochs.get(slot.from), o, wanted, visit);
  }

  /** every RUNS edge at the position (the matrix at a past instant) */
  async allRuns(o: ReadOptions): Promise<EdgeView[]> {
    const out: EdgeView[] = [];
    await this.eachRun(o, (slot, i, epoch, end) => out.push(runsEdge(slot, i, epoch, end, o)));
    return out;
  }

  /** allRuns without the edge objects */
  async eachRun(o: ReadOptions, visit: RunsVisitor): Promise<void> {
    const slots = (await this.docs.find({ kind: "runs" })) as RunsDoc[];
    // every node's registrations in one indexed read, rather than thousands of ids in chunks
    const epochs = new Map<VertexKey, Epoch[]>();
    for (const d of (await this.docs.find({ vtype: "Node", kind: "vertex" })) as VertexDoc[]) epochs.set(d.key, d.epochs ?? []);
    for (const slot of slots) eachRun(slot, epochs.get(slot.from), o, null, visit);
  }

  /** what every node runs now and where it is registered (one small document per node; `modules` a flat module, version list) */
  async nodeModuleDocs(): Promise<NodeModulesDoc[]> {
    return (await this.docs.find({ kind: "modules" })) as NodeModulesDoc[];
  }

  /** every stored edge document (the facts), for export */
  async factEdges(o: ReadOptions): Promise<EdgeView[]> {
    const docs = (await this.docs.find({ kind: "edge" })) as EdgeDoc[];
    return docs.filter((d) => visible(d, o)).map((d) => edgeView(d));
  }

  async allVertices(at: number): Promise<VertexView[]> {
    const docs = (await this.docs.find({ kind: "vertex" })) as VertexDoc[];
    return docs.filter((d) => d.firstPosition <= at).map((d) => viewOf(d, at));
  }

  private async epochsOf(nodeKeys: readonly VertexKey[]): Promise<Map<VertexKey, Epoch[]>> {
    return new Map((await this.vertexDocs(nodeKeys)).map((d) => [d.key, d.epochs ?? []]));
  }

  /** Steps out of a vertex over the selected edges. */
  async hops(key: VertexKey, sel: EdgeSelection, o: ReadOptions): Promise<Hop[]> {
    const [outs, ins] = await Promise.all([this.edgesOut(key, sel.out, o), this.edgesIn(key, sel.in, o)]);
    return [
      ...outs.map((edge): Hop => ({ edge, as: edge.type, direction: "out", other: edge.to })),
      ...ins.map((edge): Hop => ({ edge, as: EDGE_TYPES[edge.type].inverse, direction: "in", other: edge.from })),
    ];
  }
}

function edgeView(d: EdgeDoc): EdgeView {
  return { id: d._id, type: d.type, from: d.from, to: d.to, open: d.open, openedAt: d.openedAt, close: null, closedAt: null, props: d.props };
}

/**
 * Sees one RUNS interval visible at a position: its slot, the registration it began in, and `end`,
 * whichever of the two ends first (its close and closedAt are the edge's, as of any position).
 */
export type RunsVisitor = (slot: RunsDoc, interval: RunsInterval, epoch: Epoch, end: Interval) => void;

/** the registration a position falls in (a loop: this runs once per interval of a fleet) */
function epochAt(epochs: readonly Epoch[] | undefined, position: number): Epoch | undefined {
  if (!epochs) return undefined;
  for (let k = epochs.length - 1; k >= 0; k--) {
    const e = epochs[k]!;
    if (e.open <= position) return e.close === null || position < e.close ? e : undefined;
  }
  return undefined;
}

/**
 * Calls `visit` for each interval of a slot visible at the position, each ended no later than the
 * registration it began in (the one rule both the edges and the counts below are read by). Nothing
 * allocated per interval: the matrix counts a fleet's worth of these, and allocation was most of
 * its cost.
 */
function eachRun(slot: RunsDoc, epochs: readonly Epoch[] | undefined, o: ReadOptions, versions: ReadonlySet<string> | null, visit: RunsVisitor): void {
  for (const i of slot.intervals) {
    if (i.open > o.at) break; // intervals are appended in log order
    if (versions && !versions.has(i.version)) continue;
    const epoch = epochAt(epochs, i.open);
    // began while the node was not registered: the nodes read model ignored it, so do we
    if (!epoch) continue;
    const end = i.close === null || (epoch.close !== null && epoch.close < i.close) ? epoch : i;
    if (!o.history && end.close !== null && end.close <= o.at) continue;
    visit(slot, i, epoch, end);
  }
}

/** a slot's intervals as RUNS edges */
function runsEdges(slot: RunsDoc, epochs: readonly Epoch[] | undefined, o: ReadOptions): EdgeView[] {
  const out: EdgeView[] = [];
  eachRun(slot, epochs, o, null, (s, i, epoch, end) => out.push(runsEdge(s, i, epoch, end, o)));
  return out;
}

function runsEdge(slot: RunsDoc, i: RunsInterval, epoch: Epoch, end: Interval, o: ReadOptions): EdgeView {
  const to = vertexKey("ModuleVersion", moduleVersionId(slot.module, i.version));
  return {
    id: `RUNS:${slot.from}->${to}:${i.open}`,
    type: "RUNS",
    from: slot.from,
    to,
    open: i.open,
    openedAt: i.openedAt,
    ...asOf(end, o),
    props: { module: slot.module, version: i.version, environment: epoch.environment, since: i.openedAt, via: i.via, ...(i.digest ? { digest: i.digest } : {}) },
  };
}

function memberEdges(node: VertexDoc, o: ReadOptions): EdgeView[] {
  return (node.epochs ?? [])
    .filter((e) => visible(e, o))
    .map((e) => {
      const to = vertexKey("Environment", e.environment);
      return { id: `MEMBER_OF:${node.key}->${to}:${e.open}`, type: "MEMBER_OF" as const, from: node.key, to, open: e.open, openedAt: e.openedAt, ...asOf(e, o), props: { since: e.openedAt } };
    });
}

/** A vertex as of a position: what changes over time (registration, status) is read at it. */
function viewOf(d: VertexDoc, at: number): VertexView {
  const props: Record<string, unknown> = { ...d.props };
  if (d.vtype === "Node") {
    const epoch = epochAt(d.epochs, at);
    props.registered = epoch !== undefined;
    const last = (d.epochs ?? []).filter((e) => e.open <= at).at(-1);
    if (last) props.environment = last.environment;
    if (!epoch) props.status = "Deregistered";
  }
  if (d.vtype === "Deployment" && d.statuses) {
    const status = d.statuses.filter((s) => s.position <= at).at(-1);
    if (status) props.status = status.status;
  }
  return { key: d.key, type: d.vtype, id: d.vid, firstPosition: d.firstPosition, firstAt: d.firstAt, props };
}
