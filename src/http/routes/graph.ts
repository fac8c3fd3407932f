// The knowledge graph over HTTP (docs/graph.md). Every answer is as of a position: the read
// model's (X-Read-Position) or, with ?at=, the last event at or before that instant.
import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { DomainError, invalid, notFound } from "../../commands/errors.js";
import { Budget, LIMITS } from "../../graph/budget.js";
import type { Refusal } from "../../graph/dependencies.js";
import { exportGraph, toGraphML } from "../../graph/export.js";
import { impact } from "../../graph/impact.js";
import { positionAt } from "../../graph/instant.js";
import { matrix } from "../../graph/matrix.js";
import { EDGE_NAMES, parseVertexKey, resolveEdgeName, vertexKey, VertexTypeSchema, type VertexKey } from "../../graph/model.js";
import { PatternSchema, runPattern } from "../../graph/pattern.js";
import { GraphReader, NOW, selectEdges, type Direction } from "../../graph/reader.js";
import { neighbourhood, shortestPaths } from "../../graph/traverse.js";
import { ANY_USER, requireRoles } from "../auth.js";
import { ConsistencyQuery } from "../consistency.js";
import type { AppDeps, AppEnv } from "../env.js";
import { problem, problemResponses } from "../problem.js";
import { resolveInstant } from "./time-travel.js";

const tags = ["Knowledge graph"];
const security = [{ bearerAuth: [] }];
const readers = [requireRoles(...ANY_USER)];

const At = z.string().max(64).optional().openapi({ description: "ISO-8601 instant, not in the future: the graph as of then (the last event at or before it)" });
const Edge = z.string().max(1000).optional().openapi({ description: `comma-separated edge names, canonical or inverse: ${EDGE_NAMES.join(", ")}` });
const DirectionParam = z.enum(["out", "in", "both"]).default("both").openapi({ description: "along the canonical arrow (out), against it (in), or both; an inverse name flips it" });
const VertexKeyParam = (what: string) => z.string().min(3).max(1100).openapi({ description: `${what} as Type:id, e.g. Node:qa-1 or ModuleVersion:netfilter@1.2.0` });
const VertexParams = z.object({
  type: VertexTypeSchema.openapi({ param: { name: "type", in: "path" } }),
  id: z.string().min(1).max(1000).openapi({ param: { name: "id", in: "path" }, description: "the vertex id: node id, module name, name@version, digest, fingerprint256, executionId, username, secret or environment name" }),
});
const Answer = z.object({ asOf: z.string().nullable(), position: z.number() }).passthrough();
const ok = (description: string) => ({ 200: { description, content: { "application/json": { schema: Answer } } } });

function route<R extends Parameters<typeof createRoute>[0]>(r: R) {
  return createRoute({ tags, security, middleware: readers, ...r });
}

const vertexRoute = route({
  method: "get",
  path: "/api/v1/graph/vertices/{type}/{id}",
  summary: "A vertex and its edges (?edge=RUNS,UPDATED&direction=out|in|both&limit&history=true)",
  request: {
    params: VertexParams,
    query: ConsistencyQuery.extend({
      at: At,
      edge: Edge,
      direction: DirectionParam,
      limit: z.coerce.number().int().min(1).max(LIMITS.maxResults).default(1000),
      history: z.enum(["true", "false"]).optional().openapi({ description: "also the edges that had closed by then" }),
    }),
  },
  responses: { ...ok("The vertex (properties as of the instant where they change over time) and its edges"), ...problemResponses(400, 401, 403, 404, 429) },
});

const neighborsRoute = route({
  method: "get",
  path: "/api/v1/graph/neighbors/{type}/{id}",
  summary: "Every vertex within depth 1..5 of a vertex, each at its shortest distance, and the edges walked",
  request: {
    params: VertexParams,
    query: ConsistencyQuery.extend({
      at: At,
      edge: Edge,
      direction: DirectionParam,
      depth: z.coerce.number().int().min(1).max(LIMITS.neighborsDepth).default(1),
      limit: z.coerce.number().int().min(1).max(LIMITS.maxResults).default(1000),
    }),
  },
  responses: { ...ok("The neighbourhood"), ...problemResponses(400, 401, 403, 404, 429) },
});

const pathsRoute = route({
  method: "get",
  path: "/api/v1/graph/paths",
  summary: "Shortest typed paths between two vertices (breadth-first, maxDepth <= 6)",
  request: {
    query: ConsistencyQuery.extend({
      from: VertexKeyParam("where the path starts"),
      to: VertexKeyParam("where it ends"),
      maxDepth: z.coerce.number().int().min(1).max(LIMITS.maxDepth).default(LIMITS.maxDepth),
      edge: Edge,
      direction: DirectionParam,
      limit: z.coerce.number().int().min(1).max(100).default(10).openapi({ description: "at most this many shortest paths" }),
      at: At,
    }),
  },
  responses: { ...ok("The shortest paths (empty when none within maxDepth)"), ...problemResponses(400, 401, 403, 404, 429) },
});

const impactRoute = route({
  method: "get",
  path: "/api/v1/graph/impact",
  summary: "Blast radius of a module (or versions of it): nodes and environments running it, in-flight deployments, dependents (transitive), signing certificates",
  request: {
    query: ConsistencyQuery.extend({
      module: z.string().min(1).max(128),
      version: z.string().min(1).max(256).optional().openapi({ description: "a version (1.2.0) or a semver range (>=2.0.0-0, ^1.4.0)" }),
      maxDepth: z.coerce.number().int().min(1).max(LIMITS.maxDepth).default(LIMITS.maxDepth).openapi({ description: "how far to follow dependents" }),
      at: At,
    }),
  },
  responses: { ...ok("The blast radius"), ...problemResponses(400, 401, 403, 404, 429) },
});

const matrixRoute = route({
  method: "get",
  path: "/api/v1/graph/matrix",
  summary: "What runs where: module x environment -> versions and node counts",
  request: { query: ConsistencyQuery.extend({ module: z.string().min(1).max(128).optional(), environment: z.string().min(1).max(32).optional(), at: At }) },
  responses: { ...ok("The matrix"), ...problemResponses(400, 401, 403, 429) },
});

const queryRoute = route({
  method: "post",
  path: "/api/v1/graph/query",
  summary: "A declarative JSON pattern: start selector, steps over typed edges, filters, limit, return (bounded: depth <= 6, results <= 10,000, a time budget)",
  request: {
    query: ConsistencyQuery.extend({ at: At }),
    body: { required: true, content: { "application/json": { schema: PatternSchema } } },
  },
  responses: { ...ok("The matching rows"), ...problemResponses(400, 401, 403, 429, 503) },
});

const exportRoute = route({
  method: "get",
  path: "/api/v1/graph/export",
  summary: "The whole graph, or the neighbourhood of a vertex, as JSON or GraphML (Gephi, yEd, Neo4j APOC import)",
  request: {
    query: ConsistencyQuery.extend({
      format: z.enum(["json", "graphml"]).default("json"),
      around: VertexKeyParam("the centre of the neighbourhood").optional(),
      depth: z.coerce.number().int().min(1).max(LIMITS.neighborsDepth).default(2),
      at: At,
    }),
  },
  responses: {
    200: {
      description: "The graph",
      content: { "application/json": { schema: Answer }, "application/graphml+xml": { schema: z.string() } },
    },
    ...problemResponses(400, 401, 403, 404, 429),
  },
});

/** The position a request reads at: the read model's, or the last event at or before ?at=. */
async function readPoint(deps: AppDeps, at: string | undefined): Promise<{ at: number; asOf: string | null; position: number }> {
  if (at === undefined) return { at: NOW, asOf: null, position: deps.projections.position() };
  const asOf = resolveInstant(at, deps.clock.now());
  const position = await positionAt(deps.log, asOf);
  if (deps.projections.position() < position && !(await deps.projections.waitFor(position, deps.config.readWaitTimeoutMs))) {
    throw new DomainError("unavailable", `the graph has not reached position ${position} (as of ${asOf}) yet`);
  }
  return { at: position, asOf, position };
}

function edgeNames(raw: string | undefined): string[] | null {
  if (raw === undefined || raw.trim() === "") return null;
  const names = raw.split(",").map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !resolveEdgeName(n));
  if (unknown.length) {
    throw invalid(`unknown edge type ${unknown.join(", ")}`, { errors: [{ path: "query.edge", message: `unknown: ${unknown.join(", ")}; known: ${EDGE_NAMES.join(", ")}` }] });
  }
  return names;
}

function keyParam(raw: string, field: string): VertexKey {
  const parsed = parseVertexKey(raw);
  if (!parsed) throw invalid(`${field} must be Type:id with a known vertex type`, { errors: [{ path: `query.${field}`, message: "not Type:id with a known vertex type" }] });
  return vertexKey(parsed.type, parsed.id);
}

async function existing(reader: GraphReader, key: VertexKey, point: { at: number; asOf: string | null }) {
  const v = await reader.vertex(key, point.at);
  if (!v) throw notFound(point.asOf ? `${key} as of ${point.asOf}` : key);
  return v;
}

/** 422 / 409 problem for a refused deployment or rollback (src/graph/dependencies.ts). */
export function dependencyRefusal(c: Context<AppEnv>, r: Refusal): Response {
  return problem(c, r.status, r.detail, { errors: r.errors, ...r.extra });
}

export function registerGraphRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps) {
  const reader = new GraphReader(deps.readStore);

  app.openapi(vertexRoute, async (c) => {
    const { type, id } = c.req.valid("param");
    const q = c.req.valid("query");
    const names = edgeNames(q.edge);
    const point = await readPoint(deps, q.at);
    const vertex = await existing(reader, vertexKey(type, id), point);
    const hops = await reader.hops(vertex.key, selectEdges(names, q.direction as Direction), { at: point.at, history: q.history === "true" });
    hops.sort((a, b) => a.edge.open - b.edge.open || (a.edge.id < b.edge.id ? -1 : 1));
    const edges = hops.slice(0, q.limit).map((h) => ({ ...h.edge, as: h.as, direction: h.direction, other: h.other }));
    return c.json({ asOf: point.asOf, position: point.position, vertex, edges, total: hops.length, truncated: hops.length > q.limit }, 200);
  });

  app.openapi(neighborsRoute, async (c) => {
    const { type, id } = c.req.valid("param");
    const q = c.req.valid("query");
    const names = edgeNames(q.edge);
    const point = await readPoint(deps, q.at);
    const start = await existing(reader, vertexKey(type, id), point);
    const n = await neighbourhood(reader, start.key, { sel: selectEdges(names, q.direction as Direction), depth: q.depth, limit: q.limit, o: { at: point.at }, budget: new Budget("query.depth") });
    return c.json({ asOf: point.asOf, position: point.position, start, ...n }, 200);
  });

  app.openapi(pathsRoute, async (c) => {
    const q = c.req.valid("query");
    const from = keyParam(q.from, "from");
    const to = keyParam(q.to, "to");
    const names = edgeNames(q.edge);
    const point = await readPoint(deps, q.at);
    await existing(reader, from, point);
    await existing(reader, to, point);
    const paths = await shortestPaths(reader, from, to, { sel: selectEdges(names, q.direction as Direction), maxDepth: q.maxDepth, maxPaths: q.limit, o: { at: point.at }, budget: new Budget("query.maxDepth") });
    const vertices = await reader.vertices([...new Set(paths.flatMap((p) => p.vertices))], point.at);
    return c.json({ asOf: point.asOf, position: point.position, from, to, length: paths[0]?.length ?? null, paths, vertices: [...vertices.values()] }, 200);
  });

  app.openapi(impactRoute, async (c) => {
    const q = c.req.valid("query");
    const point = await readPoint(deps, q.at);
    const answer = await impact(reader, { module: q.module, version: q.version, maxDepth: q.maxDepth }, { at: point.at }, new Budget("query.maxDepth"));
    return c.json({ asOf: point.asOf, position: point.position, ...answer }, 200);
  });

  app.openapi(matrixRoute, async (c) => {
    const q = c.req.valid("query");
    const point = await readPoint(deps, q.at);
    const modules = await matrix(reader, point.at, { module: q.module, environment: q.environment });
    const environments = [...new Set(modules.flatMap((m) => m.environments.map((e) => e.environment)))].sort();
    return c.json({ asOf: point.asOf, position: point.position, environments, modules }, 200);
  });

  app.openapi(queryRoute, async (c) => {
    const q = c.req.valid("query");
    const pattern = c.req.valid("json");
    // a read over POST: the consistency middleware only looks at GETs
    if (q.minPosition !== undefined && !(await deps.projections.waitFor(q.minPosition, deps.config.readWaitTimeoutMs))) {
      const res = problem(c, 503, `read model has not reached position ${q.minPosition} yet`, { readPosition: deps.projections.position() });
      res.headers.set("Retry-After", "1");
      return res as never;
    }
    c.header("X-Read-Position", String(deps.projections.position()));
    const point = await readPoint(deps, q.at);
    const result = await runPattern(reader, pattern, { at: point.at }, new Budget("json", pattern.timeoutMs));
    return c.json({ asOf: point.asOf, position: point.position, ...result }, 200);
  });

  app.openapi(exportRoute, async (c) => {
    const q = c.req.valid("query");
    const around = q.around === undefined ? undefined : { key: keyParam(q.around, "around"), depth: q.depth };
    const point = await readPoint(deps, q.at);
    if (around) await existing(reader, around.key, point);
    const graph = await exportGraph(reader, point.at, around, new Budget("query.depth"));
    if (q.format === "graphml") {
      return c.body(toGraphML(graph), 200, { "Content-Type": "application/graphml+xml; charset=utf-8", "Content-Disposition": 'attachment; filename="graph.graphml"' }) as never;
    }
    return c.json({ asOf: point.asOf, position: point.position, ...graph }, 200);
  });
}
