import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { invalid } from "../../commands/errors.js";
import { environmentOrThrow } from "../../fleet/agent-service.js";
import { clusterDetail, clusterDetailAt, clusterMetrics, listClusters } from "../../fleet/queries.js";
import { ANY_USER, requireRoles } from "../auth.js";
import type { AppDeps, AppEnv } from "../env.js";
import { NodePageQuery } from "../node-page.js";
import { problemResponses } from "../problem.js";
import { resolveInstant } from "./time-travel.js";

const tags = ["Clusters"];
const readers = [requireRoles(...ANY_USER)];
const EnvParam = z.object({ environment: z.string().min(1).max(32).openapi({ description: "Development, QA, Staging or Production (any case)", example: "QA" }) });

const Pair = z.object({ avg: z.number(), max: z.number() }).nullable();
const ModuleVersions = z.array(z.object({ moduleName: z.string(), versions: z.array(z.object({ version: z.string(), nodeCount: z.number() })) }));
const ActiveDeployment = z
  .object({ executionId: z.string(), moduleName: z.string(), version: z.string(), strategy: z.string(), status: z.string(), progress: z.number().nullable() })
  .nullable();
const ClusterSummary = z
  .object({
    environment: z.string(),
    strategy: z.string().nullable(),
    thresholds: z.record(z.string(), z.number()).nullable(),
    nodeCount: z.number(),
    healthyCount: z.number(),
    unhealthyCount: z.number(),
    offlineCount: z.number(),
    health: z.enum(["Healthy", "Degraded", "Down", "Empty"]),
    modules: ModuleVersions,
    activeDeployment: ActiveDeployment.optional(),
  })
  .openapi("ClusterSummary");
const NodeView = z
  .object({
    nodeId: z.string(),
    hostname: z.string(),
    status: z.enum(["Healthy", "Unhealthy", "Offline"]),
    statusSince: z.string(),
    registeredAt: z.string(),
    modules: z.record(z.string(), z.string()),
    lastHeartbeatAt: z.string().nullable(),
    metrics: z.object({ cpu: z.number(), memory: z.number(), latencyP95Ms: z.number(), errorRate: z.number(), requestRate: z.number() }).nullable(),
    reportedModules: z.record(z.string(), z.string()).nullable(),
    labels: z.record(z.string(), z.string()),
    color: z.enum(["blue", "green"]).nullable(),
    capacity: z.object({ cpuCores: z.number(), memoryMb: z.number() }),
  })
  .openapi("ClusterNode");
const NextCursor = z.string().nullable().openapi({ description: "pass as ?cursor= for the next page of nodes; null on the last page" });
const ClusterDetail = ClusterSummary.extend({ nodes: z.array(NodeView), nextCursor: NextCursor }).openapi("ClusterDetail");
/** Time travel answers from the log alone: node telemetry (heartbeats, metrics) is not in it. */
const ClusterDetailAt = ClusterSummary.extend({
  asOf: z.string(),
  at: z.string().openapi({ description: "the same as asOf (kept for older clients)" }),
  position: z.number().nullable().openapi({ description: "global position of the newest event the answer folded; null when none" }),
  nodes: z.array(NodeView.omit({ lastHeartbeatAt: true, metrics: true, reportedModules: true })),
  nextCursor: NextCursor,
}).openapi("ClusterDetailAt");
const MetricPoint = z
  .object({
    from: z.string(),
    to: z.string(),
    nodeCount: z.number(),
    sampleCount: z.number(),
    cpu: Pair,
    memory: Pair,
    latencyP95Ms: z.object({ p95: z.number(), avg: z.number() }).nullable(),
    errorRate: Pair,
    requestRate: z.object({ avg: z.number() }).nullable(),
  })
  .openapi("ClusterMetricPoint");
const ClusterMetrics = z.object({ environment: z.string(), from: z.string(), to: z.string(), stepMs: z.number(), points: z.array(MetricPoint) }).openapi("ClusterMetrics");

const Instant = z
  .string()
  .refine((v) => /^\d{1,15}$/.test(v) || !Number.isNaN(Date.parse(v)), "an ISO-8601 time or epoch milliseconds")
  .transform((v) => (/^\d{1,15}$/.test(v) ? Number(v) : Date.parse(v)));
const Step = z
  .string()
  .regex(/^\d{1,9}(ms|s|m|h)?$/, 'a duration such as "30s", "5m", "1h", "500ms" (plain numbers are seconds)')
  .transform((v) => {
    const [, n, unit] = /^(\d+)(ms|s|m|h)?$/.exec(v)!;
    return Number(n) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(unit ?? "s") as "ms" | "s" | "m" | "h"];
  });
const MAX_POINTS = 1440;

const listRoute = createRoute({
  method: "get",
  path: "/api/v1/clusters",
  tags,
  summary: "One entry per environment: node counts, health, module versions, active deployment",
  security: [{ bearerAuth: [] }],
  middleware: readers,
  responses: { 200: { description: "Clusters", content: { "application/json": { schema: z.array(ClusterSummary) } } }, ...problemResponses(401, 403) },
});

const detailRoute = createRoute({
  method: "get",
  path: "/api/v1/clusters/{environment}",
  tags,
  summary:
    "A cluster's counts and one page of its nodes by hostname (?limit, default 100, max 1000; ?cursor=nextCursor for the next): status, module versions, last heartbeat, latest metrics, labels (?at=<ISO> for the past, from the log: no telemetry)",
  security: [{ bearerAuth: [] }],
  middleware: readers,
  request: {
    params: EnvParam,
    // node pages: a 10,000-node cluster is 4 MB as one answer
    query: NodePageQuery.extend({
      at: Instant.optional().openapi({ type: "string", description: "ISO-8601 time or epoch ms, not in the future: the cluster as it was then" }),
    }),
  },
  responses: {
    200: { description: "The cluster; with ?at= as of that instant", content: { "application/json": { schema: z.union([ClusterDetail, ClusterDetailAt]) } } },
    ...problemResponses(400, 401, 403, 404),
  },
});

const metricsRoute = createRoute({
  method: "get",
  path: "/api/v1/clusters/{environment}/metrics",
  tags,
  summary: "Aggregated metrics per step: avg/max cpu and memory, p95 latency, error rate, node count",
  security: [{ bearerAuth: [] }],
  middleware: readers,
  request: {
    params: EnvParam,
    query: z.object({
      from: Instant.optional().openapi({ type: "string", description: "ISO time or epoch ms; default to - 15 min" }),
      to: Instant.optional().openapi({ type: "string", description: "ISO time or epoch ms; default now" }),
      step: Step.optional().openapi({ type: "string", description: 'bucket size: "30s", "1m", ...; default (to-from)/60' }),
    }),
  },
  responses: { 200: { description: "Series", content: { "application/json": { schema: ClusterMetrics } } }, ...problemResponses(400, 401, 403, 404) },
});

export function registerClusterRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps) {
  // the node order and counts are kept between requests, brought forward from the log
  const live = { progress: deps.projections, log: deps.log };
  app.openapi(listRoute, async (c) => c.json(await listClusters(deps.readStore, live), 200));

  app.openapi(detailRoute, async (c) => {
    const environment = environmentOrThrow(c.req.valid("param").environment);
    const { at, limit, cursor } = c.req.valid("query");
    const page = { limit, ...(cursor !== undefined && { cursor }) };
    if (at !== undefined) {
      const asOf = Date.parse(resolveInstant(at, deps.clock.now()));
      return c.json(await clusterDetailAt(deps.log, deps.readStore, environment, asOf, page), 200);
    }
    return c.json(await clusterDetail(deps.readStore, environment, { ...page, live }), 200);
  });

  app.openapi(metricsRoute, async (c) => {
    const environment = environmentOrThrow(c.req.valid("param").environment);
    const q = c.req.valid("query");
    const to = q.to ?? deps.clock.now();
    const from = q.from ?? to - 15 * 60_000;
    if (from >= to) throw invalid("from must be before to", { errors: [{ path: "query.from", message: "must be before to" }] });
    const step = q.step ?? Math.max(1000, Math.ceil((to - from) / 60 / 1000) * 1000);
    if (step <= 0) throw invalid("step must be positive", { errors: [{ path: "query.step", message: "must be positive" }] });
    if ((to - from) / step > MAX_POINTS) {
      throw invalid(`at most ${MAX_POINTS} points per query: use a larger step`, { errors: [{ path: "query.step", message: "too small for the range" }] });
    }
    return c.json(await clusterMetrics(deps.readStore, environment, from, to, step), 200);
  });
}
