// A small declarative pattern over the graph, in JSON: a start selector, then steps along typed
// edges (direction, depth range, a filter on where they land), a limit and what to return.
// Deliberately no query language: every part is bounded (depth, results, time).
import { z } from "@hono/zod-openapi";
import { own } from "../platform/own-keys.js";
import { LIMITS, type Budget } from "./budget.js";
import { EDGE_NAMES, vertexKey, VertexTypeSchema, type EdgeName, type VertexKey } from "./model.js";
import { selectEdges, type EdgeSelection, type GraphReader, type Hop, type ReadOptions, type VertexView } from "./reader.js";

const Scalar = z.union([z.string().max(500), z.number(), z.boolean(), z.null()]);
const Condition = z.union([Scalar, z.strictObject({ $in: z.array(Scalar).max(1000) }), z.strictObject({ $ne: Scalar })]);
const Where = z
  .record(z.string().min(1).max(64), Condition)
  .refine((w) => Object.keys(w).length <= 16, "at most 16 conditions")
  .openapi({ description: 'vertex property -> value, {"$in": [...]} or {"$ne": value}; "id" is the vertex id' });
const Name = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,31}$/, "a name: letters, digits, _; up to 32");
const EdgeNameSchema = z.enum(EDGE_NAMES as [EdgeName, ...EdgeName[]]);

const Match = z.strictObject({
  type: VertexTypeSchema.optional(),
  id: z.string().min(1).max(1000).optional(),
  where: Where.optional(),
});
const Depth = z.union([
  z.number().int().min(1).max(LIMITS.maxDepth),
  z.strictObject({ min: z.number().int().min(0).max(LIMITS.maxDepth).default(1), max: z.number().int().min(1).max(LIMITS.maxDepth) }),
]);

export const PatternSchema = z
  .strictObject({
    start: Match.extend({ type: VertexTypeSchema, as: Name.default("start") }).strict(),
    steps: z
      .array(
        z.strictObject({
          edge: z.union([EdgeNameSchema, z.array(EdgeNameSchema).min(1).max(EDGE_NAMES.length)]).optional(),
          direction: z.enum(["out", "in", "both"]).default("out"),
          depth: Depth.default(1),
          as: Name.optional(),
          where: Match.optional(),
        }),
      )
      .max(LIMITS.maxDepth)
      .default([]),
    limit: z.number().int().min(1).max(LIMITS.maxResults).default(100),
    return: z.array(Name).min(1).max(8).optional(),
    timeoutMs: z.number().int().min(1).max(LIMITS.timeBudgetMs).optional(),
  })
  .superRefine((p, ctx) => {
    const total = p.steps.reduce((n, s) => n + (typeof s.depth === "number" ? s.depth : s.depth.max), 0);
    if (total > LIMITS.maxDepth) ctx.addIssue({ code: "custom", path: ["steps"], message: `the steps reach ${total} hops deep; at most ${LIMITS.maxDepth}` });
    const names = [p.start.as, ...p.steps.flatMap((s) => (s.as ? [s.as] : []))];
    names.forEach((n, i) => {
      if (names.indexOf(n) !== i) ctx.addIssue({ code: "custom", path: ["steps"], message: `the name ${n} is bound twice` });
    });
    p.steps.forEach((s, i) => {
      if (typeof s.depth !== "number" && s.depth.min > s.depth.max) ctx.addIssue({ code: "custom", path: ["steps", i, "depth"], message: "min is above max" });
    });
    p.return?.forEach((n, i) => {
      if (!names.includes(n)) ctx.addIssue({ code: "custom", path: ["return", i], message: `${n} is not bound by start or a step` });
    });
  })
  .openapi("GraphPattern");
export type Pattern = z.infer<typeof PatternSchema>;
type MatchSpec = z.infer<typeof Match>;

function matches(v: VertexView, m: MatchSpec | undefined): boolean {
  if (!m) return true;
  if (m.type && v.type !== m.type) return false;
  if (m.id !== undefined && v.id !== m.id) return false;
  for (const [field, cond] of Object.entries(m.where ?? {})) {
    const value = field === "id" ? v.id : field === "type" ? v.type : own(v.props, field);
    if (cond !== null && typeof cond === "object") {
      if ("$in" in cond && !cond.$in.some((c) => c === (value ?? null))) return false;
      if ("$ne" in cond && (value ?? null) === cond.$ne) return false;
    } else if ((value ?? null) !== cond) return false;
  }
  return true;
}

interface Row {
  bound: Map<string, VertexKey>;
  last: VertexKey;
}

export interface PatternResult {
  columns: string[];
  rows: Record<string, VertexView>[];
  count: number;
  truncated: boolean;
}

/** Evaluates a pattern at a position. */
export async function runPattern(reader: GraphReader, p: Pattern, o: ReadOptions, budget: Budget): Promise<PatternResult> {
  const views = new Map<VertexKey, VertexView | null>();
  const viewsOf = async (keys: VertexKey[]) => {
    const missing = keys.filter((k) => !views.has(k));
    const found = await reader.vertices(missing, o.at);
    for (const k of missing) views.set(k, found.get(k) ?? null);
  };

  let starts: VertexView[];
  if (p.start.id !== undefined) {
    const v = await reader.vertex(vertexKey(p.start.type, p.start.id), o.at);
    starts = v ? [v] : [];
  } else {
    starts = await reader.verticesOfType(p.start.type, o.at, Number.POSITIVE_INFINITY);
  }
  starts = starts.filter((v) => matches(v, p.start));
  if (starts.length > LIMITS.maxResults) budget.refuse(`starts from ${starts.length} vertices (more than ${LIMITS.maxResults}): narrow start`);
  for (const v of starts) views.set(v.key, v);
  let rows: Row[] = starts.map((v) => ({ bound: new Map([[p.start.as, v.key]]), last: v.key }));

  for (const [index, step] of p.steps.entries()) {
    const sel: EdgeSelection = selectEdges(step.edge === undefined ? null : typeof step.edge === "string" ? [step.edge] : step.edge, step.direction);
    const [min, max] = typeof step.depth === "number" ? [step.depth, step.depth] : [step.depth.min, step.depth.max];
    const hopCache = new Map<VertexKey, Hop[]>();
    const hopsOf = async (k: VertexKey) => {
      let hops = hopCache.get(k);
      if (!hops) {
        budget.visit();
        hopCache.set(k, (hops = await reader.hops(k, sel, o)));
      }
      return hops;
    };
    const name = step.as ?? `#${index}`;
    const next: Row[] = [];
    for (const row of rows) {
      // breadth-first from the row's vertex: each vertex once, at its shortest distance
      const depthOf = new Map<VertexKey, number>([[row.last, 0]]);
      let frontier = [row.last];
      for (let d = 1; d <= max && frontier.length; d++) {
        const layer: VertexKey[] = [];
        for (const k of frontier) {
          for (const h of await hopsOf(k)) {
            if (depthOf.has(h.other)) continue;
            depthOf.set(h.other, d);
            layer.push(h.other);
          }
        }
        frontier = layer;
      }
      const targets = [...depthOf].filter(([, d]) => d >= min).map(([k]) => k);
      await viewsOf(targets);
      for (const k of targets) {
        const v = views.get(k);
        if (!v || !matches(v, step.where)) continue;
        next.push({ bound: new Map([...row.bound, [name, k]]), last: k });
      }
      if (next.length > LIMITS.maxResults) budget.refuse(`has more than ${LIMITS.maxResults} partial results after step ${index + 1}`);
    }
    rows = next;
  }

  const columns = p.return ?? [p.start.as, ...p.steps.flatMap((s) => (s.as ? [s.as] : []))];
  const seen = new Set<string>();
  const out: Record<string, VertexView>[] = [];
  for (const row of rows) {
    const keys = columns.map((c) => row.bound.get(c)!);
    const id = keys.join("\u0000");
    if (seen.has(id)) continue;
    seen.add(id);
    if (out.length < p.limit) out.push(Object.fromEntries(columns.map((c, i) => [c, views.get(keys[i]!)!])));
  }
  return { columns, rows: out, count: seen.size, truncated: seen.size > p.limit };
}
