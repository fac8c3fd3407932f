import type { OpenAPIHono } from "@hono/zod-openapi";
import { ENVIRONMENTS } from "../../fleet/environments.js";
import { matrix, type MatrixRow } from "../../graph/matrix.js";
import { GraphReader } from "../../graph/reader.js";
import type { AppDeps, AppEnv } from "../../http/env.js";
import { asOfFrom, asOfPicker, graphPoint, pastBanner, type AsOf } from "../as-of.js";
import { html, none, type Html } from "../html.js";
import { render, viewerOf } from "../page.js";
import { impactHref } from "./impact.js";

function table(rows: MatrixRow[], asOf: AsOf | null): Html {
  if (!rows.length) return html`<p class="empty">${asOf ? "No module ran on any node then." : "No module runs on any node yet."}</p>`;
  const seen = new Set(rows.flatMap((r) => r.environments.map((e) => e.environment)));
  // the fixed order people know, then anything else the graph holds
  const environments = [...ENVIRONMENTS.filter((e) => seen.has(e)), ...[...seen].filter((e) => !(ENVIRONMENTS as readonly string[]).includes(e)).sort()];
  return html`<table class="list matrix">
    <caption class="sr-only">Module versions per environment, with node counts</caption>
    <thead><tr><th scope="col">Module</th>${environments.map((e) => html`<th scope="col">${e}</th>`)}</tr></thead>
    <tbody>${rows.map(
      (r) => html`<tr data-module="${r.module}"><th scope="row"><a href="${impactHref(r.module)}" title="Blast radius of ${r.module}">${r.module}</a></th>${environments.map((env) => {
        const cell = r.environments.find((c) => c.environment === env);
        return html`<td data-label="${env}">${cell ? cell.versions.map((v, i) => html`${i ? html`<br>` : none}<strong>${v.version}</strong> <span class="muted">×${v.nodes}</span>`) : html`<span class="muted">–</span>`}</td>`;
      })}</tr>`,
    )}</tbody>
  </table>`;
}

export function registerMatrixPages(app: OpenAPIHono<AppEnv>, deps: AppDeps): void {
  const reader = new GraphReader(deps.readStore);
  app.get("/ui/matrix", async (c) => {
    viewerOf(c);
    const asOf = asOfFrom(c, deps.clock.now());
    const rows = await matrix(reader, await graphPoint(deps, asOf));
    const body = html`<h1>What runs where</h1>
      ${pastBanner(asOf)}
      <p class="muted">Each module's versions per environment and on how many nodes, from the knowledge graph.</p>
      ${asOfPicker("/ui/matrix", asOf)}
      ${table(rows, asOf)}`;
    return render(c, deps, { title: "What runs where", section: "matrix", body });
  });
}
