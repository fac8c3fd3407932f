import { randomUUID } from "node:crypto";
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { DeploymentStatusSchema } from "../../commands/deployment.js";
import { loadDeployment } from "../../commands/deployments.js";
import { streamPrefixes } from "../../events/streams.js";
import { ENVIRONMENTS } from "../../fleet/environments.js";
import type { AppDeps, AppEnv } from "../../http/env.js";
import { toDeploymentView, type DeploymentDoc, type DeploymentView } from "../../projections/deployments.js";
import { StrategyNameSchema } from "../../strategies/settings.js";
import { asOfFrom, asOfPicker, pastBanner, type AsOf } from "../as-of.js";
import { callApi, problemText, readYourWrite, type ApiApp } from "../dispatch.js";
import { age, badge, progressBar } from "../format.js";
import { html, none, type Html } from "../html.js";
import { csrfField, mayDeploy, notice } from "../layout.js";
import { liveFragments } from "../live.js";
import { forbidden, navCountFragment, render, see303, viewerOf } from "../page.js";
import type { Viewer } from "../session.js";

const LIST_LIMIT = 50;
/** time travel folds each candidate's stream: bounded */
const PAST_CANDIDATES = 200;

interface Filters {
  environment?: string;
  status?: string;
  module?: string;
}

const oneOf = (value: string | undefined, options: readonly string[]) => (value && options.includes(value) ? value : undefined);

function filtersOf(c: Context): Filters {
  const module = c.req.query("module")?.trim();
  return {
    environment: oneOf(c.req.query("environment"), ENVIRONMENTS),
    status: oneOf(c.req.query("status"), DeploymentStatusSchema.options),
    module: module && module.length <= 64 ? module : undefined,
  };
}

type Row = Pick<DeploymentView, "executionId" | "moduleName" | "version" | "targetEnvironment" | "status" | "progress" | "requesterEmail" | "requestedBy" | "createdAt">;

/** the query of GET /api/v1/deployments (newest first), with the same filters */
export async function currentDeployments(deps: AppDeps, f: Filters): Promise<Row[]> {
  const filter: Record<string, unknown> = {};
  if (f.environment) filter.targetEnvironment = f.environment;
  if (f.status) filter.status = f.status;
  if (f.module) filter.moduleName = f.module;
  return deps.readStore.collection<DeploymentDoc>("deployments").find(filter, { sort: { createdAt: -1, _id: -1 }, limit: LIST_LIMIT, projection: { state: 0 } });
}

/** the list as it was: every deployment requested by then, folded to that instant (as GET /api/v1/deployments/{id}?at= does) */
export async function deploymentsAt(deps: AppDeps, f: Filters, asOf: AsOf): Promise<Row[]> {
  const filter: Record<string, unknown> = { createdAt: { $lte: asOf.iso } };
  if (f.environment) filter.targetEnvironment = f.environment;
  if (f.module) filter.moduleName = f.module;
  const candidates = await deps.readStore
    .collection<DeploymentDoc>("deployments")
    .find(filter, { sort: { createdAt: -1, _id: -1 }, limit: PAST_CANDIDATES, projection: { _id: 1 } });
  const rows: Row[] = [];
  for (const { _id } of candidates) {
    const { state } = await loadDeployment(deps.log, _id, asOf.iso, deps.readStore);
    if (!state.exists || (f.status && state.status !== f.status)) continue;
    // a row shows no nodes: one is the least a view can be asked for
    rows.push(toDeploymentView(state, { limit: 1 }));
    if (rows.length === LIST_LIMIT) break;
  }
  return rows;
}

const detailHref = (id: string, asOf: AsOf | null) => `/ui/deployments/${id}${asOf ? `?at=${encodeURIComponent(asOf.iso)}` : ""}`;

export function deploymentTable(rows: Row[], nowMs: number, asOf: AsOf | null, filtered: boolean): Html {
  if (!rows.length) {
    return html`<p class="empty">${filtered ? "No deployment matches these filters." : asOf ? "No deployments had been requested by then." : "No deployments yet. Request one with the form above."}</p>`;
  }
  const since = asOf ? asOf.ms : nowMs;
  return html`<table class="list">
    <caption class="sr-only">Deployments, newest first</caption>
    <thead><tr><th scope="col">Module</th><th scope="col">Environment</th><th scope="col">Status</th><th scope="col">Progress</th><th scope="col">Requester</th><th scope="col">Age</th></tr></thead>
    <tbody>
      ${rows.map(
        (d) => html`<tr data-id="${d.executionId}">
          <td data-label="Module"><a href="${detailHref(d.executionId, asOf)}">${d.moduleName} ${d.version}</a></td>
          <td data-label="Environment">${d.targetEnvironment ?? ""}</td>
          <td data-label="Status">${badge(d.status)}</td>
          <td data-label="Progress">${progressBar(d.progress, `Progress of ${d.moduleName} ${d.version}`)}</td>
          <td data-label="Requester">${d.requesterEmail}${d.requestedBy ? html` <span class="muted">(${d.requestedBy})</span>` : none}</td>
          <td data-label="Age">${age(d.createdAt, since)}</td>
        </tr>`,
      )}
    </tbody>
  </table>`;
}

interface FormValues {
  moduleName?: string;
  version?: string;
  targetEnvironment?: string;
  requesterEmail?: string;
  strategy?: string;
  description?: string;
}

function newDeploymentForm(viewer: Viewer, v: FormValues, error?: string): Html {
  const option = (value: string, label: string, selected: string | undefined) => html`<option value="${value}"${selected === value ? html` selected` : none}>${label}</option>`;
  return html`<section class="card" aria-labelledby="new-h">
    <h2 id="new-h">New deployment</h2>
    ${error ? notice("error", error) : none}
    <form method="post" action="/ui/deployments" class="grid-form">
      ${csrfField(viewer)}
      <input type="hidden" name="requestKey" value="${randomUUID()}">
      <div><label for="nd-module">Module</label><input id="nd-module" name="moduleName" required maxlength="64" value="${v.moduleName ?? ""}" aria-describedby="nd-module-hint"><small id="nd-module-hint">lowercase, e.g. netfilter</small></div>
      <div><label for="nd-version">Version</label><input id="nd-version" name="version" required maxlength="64" value="${v.version ?? ""}" aria-describedby="nd-version-hint"><small id="nd-version-hint">semver, e.g. 1.4.0</small></div>
      <div><label for="nd-env">Environment</label><select id="nd-env" name="targetEnvironment" required>${ENVIRONMENTS.map((e) => option(e, e, v.targetEnvironment))}</select></div>
      <div><label for="nd-email">E-mail</label><input id="nd-email" name="requesterEmail" type="email" required maxlength="254" autocomplete="email" value="${v.requesterEmail ?? ""}"></div>
      <div><label for="nd-strategy">Strategy</label><select id="nd-strategy" name="strategy">${option("", "Environment default", v.strategy)}${StrategyNameSchema.options.map((s) => option(s, s, v.strategy))}</select></div>
      <div class="wide"><label for="nd-description">Description</label><input id="nd-description" name="description" maxlength="2000" value="${v.description ?? ""}"></div>
      <div class="actions"><button type="submit" class="primary">Deploy</button></div>
    </form>
  </section>`;
}

function filterForm(f: Filters, asOf: AsOf | null): Html {
  const option = (value: string, label: string, selected: string | undefined) => html`<option value="${value}"${selected === value ? html` selected` : none}>${label}</option>`;
  return html`<form class="filters" method="get" action="/ui/deployments" role="search" aria-label="Filter deployments">
    ${asOf ? html`<input type="hidden" name="at" value="${asOf.iso}">` : none}
    <div><label for="f-env">Filter by environment</label><select id="f-env" name="environment">${option("", "All environments", f.environment)}${ENVIRONMENTS.map((e) => option(e, e, f.environment))}</select></div>
    <div><label for="f-status">Filter by status</label><select id="f-status" name="status">${option("", "Any status", f.status)}${DeploymentStatusSchema.options.map((s) => option(s, s, f.status))}</select></div>
    <div><label for="f-module">Filter by module</label><input id="f-module" name="module" maxlength="64" value="${f.module ?? ""}"></div>
    <div class="actions"><button type="submit">Filter</button> <a class="button" href="/ui/deployments">Clear</a></div>
  </form>`;
}

const filterQuery = (f: Filters) => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(f)) if (v) q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
};

async function listPage(
  c: Context<AppEnv>,
  deps: AppDeps,
  form: { values: FormValues; error?: string } = { values: {} },
  status: ContentfulStatusCode = 200,
): Promise<Response> {
  const viewer = viewerOf(c);
  const now = deps.clock.now();
  const asOf = asOfFrom(c, now);
  const f = filtersOf(c);
  const rows = asOf ? await deploymentsAt(deps, f, asOf) : await currentDeployments(deps, f);
  const filtered = !!(f.environment || f.status || f.module);
  const body = html`<h1>Deployments</h1>
    ${pastBanner(asOf)}
    ${!asOf && mayDeploy(viewer.principal) ? newDeploymentForm(viewer, form.values, form.error) : none}
    <section aria-labelledby="list-h">
      <h2 id="list-h">${asOf ? "Deployments then" : "Recent deployments"}</h2>
      <div class="toolbar">${filterForm(f, asOf)}${asOfPicker("/ui/deployments", asOf, { environment: f.environment, status: f.status, module: f.module })}</div>
      <div id="deployment-list" sse-swap="deployments" aria-live="polite">${deploymentTable(rows, now, asOf, filtered)}</div>
    </section>`;
  return render(c, deps, { title: "Deployments", section: "deployments", live: asOf ? null : `/ui/deployments/events${filterQuery(f)}`, body }, status);
}

const str = (form: Record<string, unknown>, name: string) => (typeof form[name] === "string" ? (form[name] as string).trim() : "");

export function registerDeploymentListPages(app: OpenAPIHono<AppEnv>, deps: AppDeps, api: ApiApp): void {
  app.get("/ui", (c) => see303(c, "/ui/deployments"));
  app.get("/ui/deployments", (c) => listPage(c, deps));

  // the list, redrawn when any deployment changes; the navigation's approval count with it
  app.get("/ui/deployments/events", (c) => {
    const viewer = viewerOf(c);
    const f = filtersOf(c);
    return liveFragments(c, deps, {
      throttleMs: 250,
      relevant: (e) => e.streamId.startsWith(streamPrefixes.deployment),
      render: async () => ({
        deployments: deploymentTable(await currentDeployments(deps, f), deps.clock.now(), null, !!(f.environment || f.status || f.module)),
        ...(await navCountFragment(deps, viewer)),
      }),
    });
  });

  // the same command as POST /api/v1/deployments (trust gate, queueing, idempotency, roles)
  app.post("/ui/deployments", async (c) => {
    const viewer = viewerOf(c);
    if (!mayDeploy(viewer.principal)) return forbidden(c, deps, "Requesting a deployment", ["Deployer", "Admin"], "deployments");
    const form = await c.req.parseBody();
    const values: FormValues = {
      moduleName: str(form, "moduleName"),
      version: str(form, "version"),
      targetEnvironment: str(form, "targetEnvironment"),
      requesterEmail: str(form, "requesterEmail"),
      strategy: str(form, "strategy"),
      description: str(form, "description"),
    };
    const body = Object.fromEntries(Object.entries(values).filter(([, v]) => v !== ""));
    const key = str(form, "requestKey");
    const answer = await callApi(c, api, "POST", "/api/v1/deployments", body, { idempotencyKey: /^[\w-]{1,64}$/.test(key) ? `ui-${key}` : undefined });
    if (answer.status === 202 && typeof answer.body.executionId === "string") {
      await readYourWrite(deps, answer);
      return see303(c, `/ui/deployments/${answer.body.executionId}`);
    }
    if (answer.status === 403) return forbidden(c, deps, "Requesting a deployment", ["Deployer", "Admin"], "deployments");
    const status = (answer.status >= 400 && answer.status < 600 ? answer.status : 500) as ContentfulStatusCode;
    return listPage(c, deps, { values, error: `The deployment was not requested: ${problemText(answer)}` }, status);
  });
}
