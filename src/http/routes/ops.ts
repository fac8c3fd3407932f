import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { secretsEqual } from "../../platform/secrets-equal.js";
import { bearerToken } from "../auth.js";
import type { AppDeps, AppEnv } from "../env.js";
import { problem } from "../problem.js";
import { secretAlerts } from "../../secrets/monitoring.js";

const Check = z.object({
  /** degraded: working, but behind (the read models while a store call is being retried); still ready */
  status: z.enum(["up", "degraded", "down"]),
  kind: z.string(),
  /** adapter error text (host names, connection strings): only an authenticated Admin sees it */
  error: z.string().optional(),
});
const Health = z
  .object({
    status: z.enum(["ok", "degraded"]),
    live: z.boolean(),
    ready: z.boolean(),
    readPosition: z.number(),
    checks: z.record(z.string(), Check),
    /** authenticated callers only: secrets past expiry, and secrets whose rotation keeps failing */
    secrets: z
      .object({
        expired: z.array(z.object({ name: z.string(), kind: z.string(), version: z.number(), expiresAt: z.string() })),
        failing: z.array(z.object({ name: z.string(), kind: z.string(), reason: z.string(), since: z.string() })),
      })
      .optional(),
  })
  .openapi("Health");

const healthRoute = createRoute({
  method: "get",
  path: "/health",
  tags: ["Operations"],
  summary: "Liveness and each adapter's readiness",
  description: "Open to anyone, for load balancers. Error text of a failed check is shown only to an Admin's token.",
  responses: {
    200: { description: "Ready", content: { "application/json": { schema: Health } } },
    503: { description: "Live but not ready", content: { "application/json": { schema: Health } } },
  },
});

async function probe(kind: string, ping: () => Promise<void>): Promise<z.infer<typeof Check>> {
  try {
    await Promise.race([ping(), new Promise((_, reject) => setTimeout(() => reject(new Error("timed out after 2 s")), 2000).unref())]);
    return { status: "up", kind };
  } catch (err) {
    return { status: "down", kind, error: err instanceof Error ? err.message : String(err) };
  }
}

/** What anyone may see of the checks: up or down, not why (the why names hosts and connection strings). */
function withoutErrors(checks: Record<string, z.infer<typeof Check>>): Record<string, z.infer<typeof Check>> {
  return Object.fromEntries(Object.entries(checks).map(([name, { error: _hidden, ...rest }]) => [name, rest]));
}

export function registerOpsRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps) {
  app.openapi(healthRoute, async (c) => {
    const [eventStore, readStore, coordination] = await Promise.all([
      probe(deps.log.store.kind, () => deps.log.store.ping()),
      probe(deps.readStore.kind, () => deps.readStore.ping()),
      probe(deps.coordination.kind, () => deps.coordination.ping()),
    ]);
    const failed = deps.projections.failures().map((f) => f.projection);
    const retrying = deps.projections.retrying().map((r) => `${r.projection} ${r.op} (${r.attempts} failed: ${r.error})`);
    const projections: z.infer<typeof Check> = failed.length
      ? { status: "down", kind: "projections", error: `failed: ${failed.join(", ")}` }
      : retrying.length
        ? { status: "degraded", kind: "projections", error: `retrying: ${retrying.join("; ")}` }
        : { status: "up", kind: "projections" };
    // the secret backend down: keys already loaded keep signing, so degraded, not out of service
    const backend = await probe(deps.secrets.backend.kind, () => deps.secrets.backend.check());
    const secretBackend: z.infer<typeof Check> = backend.status === "down" ? { ...backend, status: "degraded" } : backend;
    const checks = { eventStore, readStore, coordination, projections, secretBackend };
    // stale read models still answer (and ?minPosition waits): an instance is taken out of service only for what is down
    const ready = Object.values(checks).every((x) => x.status !== "down");
    const admin = c.get("principal")?.roles.includes("Admin") ?? false;
    const shown = admin ? checks : withoutErrors(checks);
    const allUp = Object.values(checks).every((x) => x.status === "up");
    const body = { status: allUp ? ("ok" as const) : ("degraded" as const), live: true, ready, readPosition: deps.projections.position(), checks: shown };
    if (c.get("principal")) Object.assign(body, { secrets: secretAlerts(deps.secrets.directory, deps.clock.now()) });
    return ready ? c.json(body, 200) : c.json(body, 503);
  });

  // Prometheus text: not JSON, so a plain route (still listed in the OpenAPI document below)
  const metricsToken = deps.config.metricsToken;
  app.get("/metrics", async (c) => {
    // only the header: a token in the query string ends up in access logs and proxies
    if (metricsToken !== undefined) {
      const given = bearerToken(c.req.header("authorization"));
      if (given === null || !secretsEqual(given, metricsToken)) {
        const res = problem(c, 401, "/metrics needs Authorization: Bearer <METRICS_TOKEN>");
        res.headers.set("WWW-Authenticate", 'Bearer realm="metrics"');
        return res;
      }
    }
    return c.body(await deps.metrics.registry.metrics(), 200, { "Content-Type": deps.metrics.registry.contentType });
  });
  app.openAPIRegistry.registerPath({
    method: "get",
    path: "/metrics",
    tags: ["Operations"],
    summary: "Prometheus metrics",
    description: "When METRICS_TOKEN is set, requires Authorization: Bearer <METRICS_TOKEN>.",
    responses: {
      200: { description: "Prometheus text format", content: { "text/plain": { schema: z.string() } } },
      401: { description: "METRICS_TOKEN is set and the request does not carry it" },
    },
  });
}
