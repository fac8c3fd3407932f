import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { loadDeployment } from "../../commands/deployments.js";
import { badCursor, notFound } from "../../commands/errors.js";
import { streamPrefixes, streams } from "../../events/streams.js";
import type { AppDeps, AppEnv } from "../../http/env.js";
import { findDeploymentView, findDeploymentViewOfState, NODE_PHASES, type DeploymentDoc, type DeploymentView } from "../../projections/deployments.js";
import type { NodePhase } from "../../commands/deployment.js";
import { NODES, type NodeDoc } from "../../projections/nodes.js";
import { asOfFrom, asOfPicker, pastBanner, type AsOf } from "../as-of.js";
import { callApi, problemText, readYourWrite, type ApiApp } from "../dispatch.js";
import { badge, cls, progressBar, round, time, took } from "../format.js";
import { html, none, type Html } from "../html.js";
import { csrfField, isAdmin, mayDeploy, notice } from "../layout.js";
import { liveFragments } from "../live.js";
import { forbidden, navCountFragment, render, see303, viewerOf } from "../page.js";
import type { Viewer } from "../session.js";

export const UUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";
const ACTIONS = ["pause", "resume", "abort", "rollback"] as const;
type Action = (typeof ACTIONS)[number];
const ACTION_LABEL: Record<Action, string> = { pause: "Pause", resume: "Resume", abort: "Abort", rollback: "Roll back" };
const DONE: Record<Action | "approved", string> = {
  approved: "Approved. The deployment starts now.",
  pause: "Pause requested: no new node updates start.",
  resume: "Resumed.",
  abort: "Abort requested: touched nodes are being rolled back.",
  rollback: "Rollback requested: every touched node returns to its previous version.",
};

/** which actions the deployment's state allows (the decider has the final word; this only decides what to offer) */
export function applicableActions(d: Pick<DeploymentView, "status" | "nodeCounts">): Action[] {
  // every node counts, not only the page drawn
  const touched = d.nodeCounts.total > d.nodeCounts.pending;
  const out: Action[] = [];
  if (d.status === "Running") out.push("pause");
  if (d.status === "Paused") out.push("resume");
  if (["Pending", "PendingApproval", "Running", "Paused"].includes(d.status)) out.push("abort");
  if (["Succeeded", "Running", "Paused"].includes(d.status) && touched) out.push("rollback");
  return out;
}

type Hostnames = Map<string, string>;
async function hostnames(deps: AppDeps, nodeIds: string[]): Promise<Hostnames> {
  if (!nodeIds.length) return new Map();
  const docs = await deps.readStore.collection<NodeDoc>(NODES).find({ nodeId: { $in: nodeIds } }, { projection: { nodeId: 1, hostname: 1 } });
  return new Map(docs.map((n) => [n.nodeId, n.hostname]));
}

function summary(d: DeploymentView, now: number): Html {
  const a = d.approval;
  const approval =
    a.status === "NotRequired"
      ? none
      : html`<dt>Approval</dt><dd>${badge(a.status)}${a.decidedBy ? html` by ${a.decidedBy}` : none}${a.decidedAt ? html` at ${time(a.decidedAt)}` : none}${a.reason ? html` — “${a.reason}”` : none}${a.status === "Pending" && a.expiresAt ? html` (expires ${time(a.expiresAt)})` : none}</dd>`;
  return html`<dl class="facts">
    <dt>Status</dt><dd>${badge(d.status)}</dd>
    <dt>Progress</dt><dd>${progressBar(d.progress, "Deployment progress")}</dd>
    <dt>Environment</dt><dd>${d.targetEnvironment ?? ""}</dd>
    <dt>Strategy</dt><dd>${d.strategy ?? "not planned yet"}</dd>
    <dt>Requester</dt><dd>${d.requesterEmail}${d.requestedBy ? html` (${d.requestedBy})` : none}</dd>
    <dt>Requested</dt><dd>${time(d.createdAt)}</dd>
    ${d.endedAt ? html`<dt>Ended</dt><dd>${time(d.endedAt)} (took ${took(d.createdAt, d.endedAt, now)})</dd>` : html`<dt>Running for</dt><dd>${took(d.createdAt, null, now)}</dd>`}
    ${approval}
    ${d.description ? html`<dt>Description</dt><dd>${d.description}</dd>` : none}
  </dl>`;
}

function actions(d: DeploymentView, viewer: Viewer, asOf: AsOf | null): Html {
  if (asOf) return none;
  const pendingForAdmin = d.status === "PendingApproval" && isAdmin(viewer.principal) ? html`<p><a href="/ui/approvals#approval-${d.executionId}">Decide on this deployment in the Approvals inbox</a></p>` : none;
  if (!mayDeploy(viewer.principal)) return html`<p class="muted">Pause, resume, abort and roll back need the Deployer or Admin role.</p>`;
  const offered = applicableActions(d);
  if (!offered.length) return html`${pendingForAdmin}<p class="muted">No action applies to a deployment that is ${d.status}.</p>`;
  const reason = offered.includes("abort") || offered.includes("rollback");
  return html`${pendingForAdmin}<form method="post" action="/ui/deployments/${d.executionId}/actions" class="actions-form">
    ${csrfField(viewer)}
    ${reason ? html`<div><label for="action-reason">Reason</label><input id="action-reason" name="reason" maxlength="1000" aria-describedby="action-reason-hint"><small id="action-reason-hint">recorded with Abort and Roll back</small></div>` : none}
    <div class="buttons">${offered.map((a) => html`<button type="submit" name="action" value="${a}"${a === "abort" || a === "rollback" ? html` class="danger"` : none}>${ACTION_LABEL[a]}</button>`)}</div>
  </form>`;
}

function stages(d: DeploymentView, now: number): Html {
  if (!d.stages.length) return html`<p class="empty">No stage has started yet.</p>`;
  return html`<table class="list">
    <thead><tr><th scope="col">Stage</th><th scope="col">Status</th><th scope="col">Started</th><th scope="col">Took</th><th scope="col">Message</th></tr></thead>
    <tbody>${d.stages.map(
      (s) => html`<tr><td data-label="Stage">${s.name}</td><td data-label="Status">${badge(s.status)}</td><td data-label="Started">${time(s.startedAt)}</td><td data-label="Took">${took(s.startedAt, s.completedAt, now)}</td><td data-label="Message">${s.message}</td></tr>`,
    )}</tbody>
  </table>`;
}

function verdict(v: DeploymentView["waves"][number]["verdict"]): Html {
  if (!v) return html`<span class="muted">no verdict yet</span>`;
  const numbers = v.kind === "degraded" ? html` <span class="num">${v.metric} ${round(v.value, 4)} &gt; ${round(v.threshold, 4)}</span>` : none;
  return html`<span class="verdict v-${cls(v.kind)}">${v.kind.replace("_", " ")}</span>${numbers} <span class="muted">${v.reason}</span>`;
}

function waves(d: DeploymentView, now: number): Html {
  if (!d.waves.length) return html`<p class="empty">${d.status === "PendingApproval" ? "Waves are planned once the deployment is approved." : "No waves planned yet."}</p>`;
  return html`<ol class="waves">${d.waves.map(
    (w) => html`<li class="wave w-${cls(w.status)}" data-status="${w.status}">
      <div class="wave-head"><strong>Wave ${w.index + 1}</strong> <span>${w.label}</span> ${badge(w.status)} <span class="muted">${w.updated}/${w.nodeCount} node${w.nodeCount === 1 ? "" : "s"} updated</span></div>
      <div class="wave-body">
        <span>Checks <span class="num">${w.checks}</span></span>
        <span>Stable in a row <span class="num">${w.consecutiveStable}</span></span>
        ${w.startedAt ? html`<span>Took ${took(w.startedAt, w.completedAt, now)}</span>` : none}
        <span class="wave-verdict">Verdict: ${verdict(w.verdict)}</span>
      </div>
    </li>`,
  )}</ol>`;
}

/** nodes drawn per page: a 10,000-node deployment is counted whole but drawn a page at a time (as a cluster's nodes are) */
const NODES_DRAWN = 200;

/** Which page of the nodes the page shows: ?cursor= (the API's nodesNextCursor) and ?phase= */
interface NodesShown {
  cursor?: string;
  phase?: NodePhase;
}
function nodesShownOf(c: Context<AppEnv>): NodesShown {
  const cursor = c.req.query("cursor");
  const phase = c.req.query("phase");
  return { ...(cursor && { cursor }), ...(phase && (NODE_PHASES as readonly string[]).includes(phase) && { phase: phase as NodePhase }) };
}
const shownQuery = (shown: NodesShown, asOf: AsOf | null) => {
  const q = new URLSearchParams();
  if (shown.phase) q.set("phase", shown.phase);
  if (shown.cursor) q.set("cursor", shown.cursor);
  if (asOf) q.set("at", asOf.iso);
  const text = q.toString();
  return text ? `?${text}` : "";
};

function nodeGrid(d: DeploymentView, names: Hostnames, shown: NodesShown, asOf: AsOf | null): Html {
  const counts = d.nodeCounts;
  if (!counts.total) return html`<p class="empty">No nodes planned yet.</p>`;
  const base = `/ui/deployments/${d.executionId}`;
  // each phase's count, a link to its nodes (failed ones are what an operator looks for)
  const legend = html`<ul class="legend" aria-label="Phases">${NODE_PHASES.map((p) => {
    const label = html`<span class="swatch p-${cls(p)}"></span>${p} <span class="num" data-count="${p}">${counts[p]}</span>`;
    return html`<li>${counts[p] && shown.phase !== p ? html`<a href="${base}${shownQuery({ phase: p }, asOf)}">${label}</a>` : label}</li>`;
  })}</ul>`;
  const filter = shown.phase ? html` of ${counts[shown.phase]} ${shown.phase} · <a href="${base}${shownQuery({}, asOf)}">all nodes</a>` : html` of ${counts.total}`;
  const more = d.nodesNextCursor ? `${base}${shownQuery({ ...shown, cursor: d.nodesNextCursor }, asOf)}` : null;
  return html`${legend}
  <p class="counts"><span class="muted">${d.nodes.length} shown${filter}</span>${shown.cursor ? html` · <a href="${base}${shownQuery({ ...(shown.phase && { phase: shown.phase }) }, asOf)}">first page</a>` : none}</p>
  <ul class="node-grid" aria-label="Nodes by phase">${d.nodes.map(
    (n) => html`<li class="node p-${cls(n.phase)}" data-phase="${n.phase}" data-node="${n.nodeId}">
      <span class="host">${names.get(n.nodeId) ?? n.nodeId}</span>
      <span class="phase">${n.phase}</span>
      <span class="muted">wave ${n.wave + 1}${n.color ? ` · ${n.color}` : ""}${n.previousVersion ? ` · was ${n.previousVersion}` : ""}</span>
      ${n.error ? html`<span class="error">${n.error}</span>` : none}
    </li>`,
  )}</ul>${more ? html`<p><a href="${more}">Next ${NODES_DRAWN} nodes ›</a></p>` : none}`;
}

function outcome(d: DeploymentView): Html {
  const parts: Html[] = [];
  if (d.rollback) {
    parts.push(html`<section class="card warn" aria-labelledby="rb-h"><h2 id="rb-h">Rollback</h2>
      <p><strong>Reason:</strong> ${d.rollback.reason}</p>
      <p class="muted">Triggered by ${d.rollback.trigger}; ${d.rollback.nodeCount} node(s) returned to their previous version; started ${time(d.rollback.startedAt)}${d.rollback.completedAt ? html`, completed ${time(d.rollback.completedAt)}` : none}.</p>
    </section>`);
  }
  if (d.failureReason && d.failureReason !== d.rollback?.reason) parts.push(notice("error", `Failed: ${d.failureReason}`));
  return html`${parts}`;
}

interface Fragments {
  summary: Html;
  actions: Html;
  stages: Html;
  waves: Html;
  nodes: Html;
  outcome: Html;
}

async function fragments(deps: AppDeps, d: DeploymentView, viewer: Viewer, asOf: AsOf | null, shown: NodesShown): Promise<Fragments> {
  const now = asOf?.ms ?? deps.clock.now();
  return {
    summary: summary(d, now),
    actions: actions(d, viewer, asOf),
    stages: stages(d, now),
    waves: waves(d, now),
    nodes: nodeGrid(d, await hostnames(deps, d.nodes.map((n) => n.nodeId)), shown, asOf),
    outcome: outcome(d),
  };
}

/**
 * the deployment now (the read model GET /api/v1/deployments/{id} answers from), or as of an
 * instant (the same fold as ?at=), with the page of its nodes shown
 */
async function deploymentView(deps: AppDeps, id: string, asOf: AsOf | null, shown: NodesShown): Promise<DeploymentView> {
  const page = { limit: NODES_DRAWN, ...shown };
  let view: DeploymentView | undefined;
  if (asOf) {
    const { state } = await loadDeployment(deps.log, id, asOf.iso, deps.readStore);
    if (!state.exists) throw notFound(`deployment ${id} as of ${asOf.iso}`);
    view = findDeploymentViewOfState(state, page);
  } else {
    const doc = await deps.readStore.collection<DeploymentDoc>("deployments").get(id);
    if (!doc) throw notFound(`deployment ${id}`);
    view = findDeploymentView(doc, page);
  }
  if (!view) throw badCursor();
  return view;
}

async function detailPage(c: Context<AppEnv>, deps: AppDeps, id: string, message?: Html, status: ContentfulStatusCode = 200): Promise<Response> {
  const viewer = viewerOf(c);
  const asOf = asOfFrom(c, deps.clock.now());
  const shown = nodesShownOf(c);
  const d = await deploymentView(deps, id, asOf, shown);
  const f = await fragments(deps, d, viewer, asOf, shown);
  const done = c.req.query("done");
  const doneNotice = done && Object.hasOwn(DONE, done) ? notice("ok", DONE[done as keyof typeof DONE]) : none;
  const body = html`<p class="crumbs"><a href="/ui/deployments">Deployments</a> ›</p>
    <h1>${d.moduleName} ${d.version} <span class="muted">to</span> ${d.targetEnvironment ?? ""}</h1>
    ${pastBanner(asOf)}${doneNotice}${message ?? none}
    <div class="columns">
      <section class="card" aria-labelledby="sum-h"><h2 id="sum-h">Summary</h2><div id="dep-summary" sse-swap="summary">${f.summary}</div></section>
      <section class="card" aria-labelledby="act-h"><h2 id="act-h">Actions</h2><div id="dep-actions" sse-swap="actions">${f.actions}</div></section>
    </div>
    <div id="dep-outcome" sse-swap="outcome">${f.outcome}</div>
    <section aria-labelledby="nodes-h"><h2 id="nodes-h">Nodes</h2><div id="dep-nodes" sse-swap="nodes">${f.nodes}</div></section>
    <section aria-labelledby="waves-h"><h2 id="waves-h">Waves</h2><div id="dep-waves" sse-swap="waves">${f.waves}</div></section>
    <section aria-labelledby="stages-h"><h2 id="stages-h">Stages</h2><div id="dep-stages" sse-swap="stages">${f.stages}</div></section>
    <section aria-labelledby="tt-h"><h2 id="tt-h">Time travel</h2>${asOfPicker(`/ui/deployments/${id}`, asOf)}</section>`;
  // the live page keeps showing the nodes it was opened on
  return render(c, deps, { title: `${d.moduleName} ${d.version}`, section: "deployments", live: asOf ? null : `/ui/deployments/${id}/events${shownQuery(shown, null)}`, body }, status);
}

export function registerDeploymentPages(app: OpenAPIHono<AppEnv>, deps: AppDeps, api: ApiApp): void {
  app.get(`/ui/deployments/:id{${UUID}}`, (c) => detailPage(c, deps, c.req.param("id").toLowerCase()));

  app.get(`/ui/deployments/:id{${UUID}}/events`, async (c) => {
    const viewer = viewerOf(c);
    const id = c.req.param("id").toLowerCase();
    const shown = nodesShownOf(c);
    await deploymentView(deps, id, null, shown);
    const streamId = streams.deployment(id);
    const admin = isAdmin(viewer.principal);
    return liveFragments(c, deps, {
      // the approval count changes with any deployment; the page itself with this one
      relevant: (e) => e.streamId === streamId || (admin && e.streamId.startsWith(streamPrefixes.deployment)),
      render: async () => {
        const f = await fragments(deps, await deploymentView(deps, id, null, shown), viewer, null, shown);
        return { ...f, ...(await navCountFragment(deps, viewer)) };
      },
    });
  });

  // the same commands as POST /api/v1/deployments/{id}/pause|resume|abort|rollback
  app.post(`/ui/deployments/:id{${UUID}}/actions`, async (c) => {
    const viewer = viewerOf(c);
    const id = c.req.param("id").toLowerCase();
    if (!mayDeploy(viewer.principal)) return forbidden(c, deps, "Pausing, resuming, aborting or rolling back a deployment", ["Deployer", "Admin"], "deployments");
    const form = await c.req.parseBody();
    const action = typeof form.action === "string" ? form.action : "";
    if (!(ACTIONS as readonly string[]).includes(action)) return detailPage(c, deps, id, notice("error", "Choose Pause, Resume, Abort or Roll back."), 400);
    const reason = typeof form.reason === "string" ? form.reason.trim() : "";
    const body = reason && (action === "abort" || action === "rollback") ? { reason } : {};
    const answer = await callApi(c, api, "POST", `/api/v1/deployments/${id}/${action}`, body);
    if (answer.status === 202) {
      await readYourWrite(deps, answer);
      return see303(c, `/ui/deployments/${id}?done=${action}`);
    }
    if (answer.status === 403) return forbidden(c, deps, "This action", ["Deployer", "Admin"], "deployments");
    const status = (answer.status >= 400 && answer.status < 600 ? answer.status : 500) as ContentfulStatusCode;
    return detailPage(c, deps, id, notice("error", `${ACTION_LABEL[action as Action]} was refused: ${problemText(answer)}`), status);
  });
}
