import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { notFound } from "../../commands/errors.js";
import { streamPrefixes } from "../../events/streams.js";
import { ENVIRONMENTS, matchEnvironment } from "../../fleet/environments.js";
import { clusterDetail, clusterDetailAt, clusterMetrics, listClusters } from "../../fleet/queries.js";
import type { AppDeps, AppEnv } from "../../http/env.js";
import type { Environment } from "../../strategies/settings.js";
import { assetUrl } from "../assets.js";
import { asOfFrom, asOfPicker, pastBanner, type AsOf } from "../as-of.js";
import { age, badge, cls, progressBar, round, time } from "../format.js";
import { html, none, type Html } from "../html.js";
import { liveFragments } from "../live.js";
import { navCountFragment, render, viewerOf } from "../page.js";

type Summary = Awaited<ReturnType<typeof listClusters>>[number];
type Detail = Awaited<ReturnType<typeof clusterDetail>>;
type DetailAt = Awaited<ReturnType<typeof clusterDetailAt>>;
type AnyNode = DetailAt["nodes"][number] & Partial<Pick<Detail["nodes"][number], "lastHeartbeatAt" | "metrics">>;

/** the metrics window the charts show, ending now or at the instant asked for */
const WINDOW_MS = 15 * 60_000;
const MAX_WINDOW_MS = 24 * 3600_000;

const environmentOf = (raw: string): Environment => {
  const env = matchEnvironment(raw);
  if (!env) throw notFound(`environment ${raw} (one of ${ENVIRONMENTS.join(", ")})`);
  return env;
};

function versions(modules: Summary["modules"]): Html {
  if (!modules.length) return html`<span class="muted">no modules</span>`;
  return html`<ul class="versions">${modules.map(
    (m) => html`<li><strong>${m.moduleName}</strong> ${m.versions.map((v, i) => html`${i ? ", " : ""}${v.version} <span class="muted">×${v.nodeCount}</span>`)}</li>`,
  )}</ul>`;
}

function activeDeployment(a: Summary["activeDeployment"]): Html {
  if (!a) return none;
  return html`<p class="active">Active: <a href="/ui/deployments/${a.executionId}">${a.moduleName} ${a.version}</a> ${badge(a.status)} ${a.progress === null ? none : progressBar(a.progress, `Progress of ${a.moduleName} ${a.version}`)}</p>`;
}

function overview(clusters: Summary[]): Html {
  return html`<ul class="cards">${clusters.map(
    (c) => html`<li class="card cluster">
      <h2><a href="/ui/clusters/${c.environment}">${c.environment}</a> ${badge(c.health)}</h2>
      <p class="counts"><span class="h-healthy">${c.healthyCount} healthy</span> · <span class="h-unhealthy">${c.unhealthyCount} unhealthy</span> · <span class="h-offline">${c.offlineCount} offline</span> <span class="muted">of ${c.nodeCount}</span></p>
      <p class="muted">Strategy: ${c.strategy ?? "default"}</p>
      ${versions(c.modules)}
      ${activeDeployment(c.activeDeployment)}
    </li>`,
  )}</ul>`;
}

function metricLine(m: Detail["nodes"][number]["metrics"]): Html {
  if (!m) return none;
  return html`<span class="metrics num"><span>CPU ${round(m.cpu, 1)} %</span> <span>mem ${round(m.memory, 1)} %</span> <span>p95 ${round(m.latencyP95Ms, 0)} ms</span> <span>err ${round(m.errorRate * 100, 2)} %</span></span>`;
}

/** nodes drawn per page: a 10,000-node cluster is counted whole but drawn a page at a time */
const NODES_PER_PAGE = 200;

function nodeGrid(d: Detail | DetailAt, now: number, past: boolean, more: string | null): Html {
  const nodes = d.nodes as AnyNode[];
  if (!d.nodeCount) return html`<p class="empty">No nodes ${past ? "were registered then" : "are registered"} in this environment.</p>`;
  return html`<p class="counts"><span class="h-healthy">${d.healthyCount} Healthy</span> · <span class="h-unhealthy">${d.unhealthyCount} Unhealthy</span> · <span class="h-offline">${d.offlineCount} Offline</span>${
    d.nodeCount > nodes.length ? html` · <span class="muted">${nodes.length} of ${d.nodeCount} shown</span>` : none
  }</p>
  <ul class="node-grid" aria-label="Nodes by health">${nodes.map(
    (n) => html`<li class="node h-${cls(n.status)}" data-status="${n.status}" data-node="${n.nodeId}">
      <span class="host">${n.hostname}</span>
      <span class="phase">${n.status}</span>
      <span class="mods">${Object.entries(n.modules).map(([name, v]) => html`<span class="mod" data-module="${name}">${name} <strong>${v}</strong></span> `)}</span>
      ${n.color ? html`<span class="muted">${n.color}</span>` : none}
      ${past ? none : html`<span class="muted">heartbeat ${n.lastHeartbeatAt ? age(n.lastHeartbeatAt, now) : "never"}</span>`}
      ${metricLine(n.metrics ?? null)}
    </li>`,
  )}</ul>${more ? html`<p><a href="${more}">Next ${NODES_PER_PAGE} nodes ›</a></p>` : none}`;
}

function detailSummary(d: Detail | DetailAt): Html {
  return html`<dl class="facts">
    <dt>Health</dt><dd>${badge(d.health)}</dd>
    <dt>Strategy</dt><dd>${d.strategy ?? "default"}</dd>
    <dt>Modules</dt><dd>${versions(d.modules)}</dd>
  </dl>${"activeDeployment" in d ? activeDeployment(d.activeDeployment ?? null) : none}`;
}

function charts(env: Environment, asOf: AsOf | null, now: number): Html {
  const to = asOf?.ms ?? now;
  const src = `/ui/clusters/${env}/metrics.json?minutes=15${asOf ? `&to=${to}` : ""}`;
  const chart = (key: string, title: string) =>
    html`<figure class="chart"><figcaption id="chart-${key}-cap">${title}</figcaption><div class="plot" data-series="${key}" role="img" aria-labelledby="chart-${key}-cap"></div></figure>`;
  return html`<div id="charts" class="charts" data-src="${src}" data-live="${asOf ? "false" : "true"}">
    ${chart("cpu", "CPU % (average and max)")}
    ${chart("memory", "Memory % (average and max)")}
    ${chart("latency", "p95 latency, ms")}
    ${chart("errors", "Error rate % (average and max)")}
    <p class="empty chart-empty" hidden>No metrics were reported in this window.</p>
  </div>`;
}

async function clusterFragments(deps: AppDeps, env: Environment, asOf: AsOf | null, cursor: string | undefined) {
  const now = deps.clock.now();
  const page = { limit: NODES_PER_PAGE, ...(cursor !== undefined && { cursor }) };
  const d = asOf ? await clusterDetailAt(deps.log, deps.readStore, env, asOf.ms, page) : await clusterDetail(deps.readStore, env, page);
  const more = d.nextCursor ? `/ui/clusters/${env}?cursor=${encodeURIComponent(d.nextCursor)}${asOf ? `&at=${encodeURIComponent(asOf.iso)}` : ""}` : null;
  return { summary: detailSummary(d), nodes: nodeGrid(d, now, !!asOf, more) };
}

/** node, cluster and deployment streams change what a cluster page shows */
const clusterRelevant = (e: { streamId: string }) =>
  e.streamId.startsWith(streamPrefixes.node) || e.streamId.startsWith(streamPrefixes.cluster) || e.streamId.startsWith(streamPrefixes.deployment);

const num = (raw: string | undefined, fallback: number, min: number, max: number) => {
  const n = raw === undefined || !/^\d{1,15}$/.test(raw) ? fallback : Number(raw);
  return Math.min(max, Math.max(min, n));
};

export function registerClusterPages(app: OpenAPIHono<AppEnv>, deps: AppDeps): void {
  app.get("/ui/clusters", async (c) => {
    viewerOf(c);
    const body = html`<h1>Clusters</h1><div id="clusters" sse-swap="clusters">${overview(await listClusters(deps.readStore))}</div>`;
    return render(c, deps, { title: "Clusters", section: "clusters", live: "/ui/clusters/events", body });
  });

  app.get("/ui/clusters/events", (c) => {
    const viewer = viewerOf(c);
    return liveFragments(c, deps, {
      throttleMs: 500,
      relevant: clusterRelevant,
      render: async () => ({
        clusters: overview(await listClusters(deps.readStore)),
        ...(await navCountFragment(deps, viewer)),
      }),
    });
  });

  app.get("/ui/clusters/:env", async (c) => {
    viewerOf(c);
    const env = environmentOf(c.req.param("env"));
    const now = deps.clock.now();
    const asOf = asOfFrom(c, now);
    const cursor = c.req.query("cursor");
    const f = await clusterFragments(deps, env, asOf, cursor);
    const head = html`<link rel="stylesheet" href="${assetUrl("uPlot.min.css")}"><script src="${assetUrl("uPlot.iife.min.js")}" defer></script><script src="${assetUrl("charts.js")}" defer></script>`;
    const body = html`<p class="crumbs"><a href="/ui/clusters">Clusters</a> ›</p>
      <h1>${env}</h1>
      ${pastBanner(asOf)}
      ${asOf ? html`<p class="muted">Node status and module versions are folded from the log up to that instant; heartbeats and live metrics are telemetry, not history, so they are not shown for the past.</p>` : none}
      <section aria-labelledby="tt-h"><h2 id="tt-h" class="sr-only">Time travel</h2>${asOfPicker(`/ui/clusters/${env}`, asOf)}</section>
      <section class="card" aria-labelledby="cs-h"><h2 id="cs-h">Summary</h2><div id="cluster-summary" sse-swap="summary">${f.summary}</div></section>
      <section aria-labelledby="cn-h"><h2 id="cn-h">Nodes</h2><div id="cluster-nodes" sse-swap="nodes">${f.nodes}</div></section>
      <section aria-labelledby="cm-h"><h2 id="cm-h">Metrics, ${asOf ? "the 15 minutes before then" : "last 15 minutes"}</h2>${charts(env, asOf, now)}</section>`;
    return render(c, deps, { title: env, section: "clusters", live: asOf ? null : `/ui/clusters/${env}/events${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ""}`, head, body });
  });

  app.get("/ui/clusters/:env/events", (c) => {
    const viewer = viewerOf(c);
    const env = environmentOf(c.req.param("env"));
    const cursor = c.req.query("cursor");
    return liveFragments(c, deps, {
      throttleMs: 250,
      relevant: clusterRelevant,
      render: async () => ({
        ...(await clusterFragments(deps, env, null, cursor)),
        ...(await navCountFragment(deps, viewer)),
      }),
    });
  });

  // the data of GET /api/v1/clusters/{env}/metrics for the charts, by the same query
  app.get("/ui/clusters/:env/metrics.json", async (c) => {
    viewerOf(c);
    const env = environmentOf(c.req.param("env"));
    const now = deps.clock.now();
    const to = num(c.req.query("to"), now, 0, now);
    const span = num(c.req.query("minutes"), WINDOW_MS / 60_000, 1, MAX_WINDOW_MS / 60_000) * 60_000;
    const from = to - span;
    const step = Math.max(1000, Math.ceil(span / 90 / 1000) * 1000);
    c.header("cache-control", "no-store");
    return c.json(await clusterMetrics(deps.readStore, env, from, to, step));
  });
}
