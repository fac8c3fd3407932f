import type { OpenAPIHono } from "@hono/zod-openapi";
import semver from "semver";
import { notFound } from "../../commands/errors.js";
import type { AppDeps, AppEnv } from "../../http/env.js";
import { MODULE_VERSIONS, moduleVersionId, type ModuleVersionDoc } from "../../projections/modules.js";
import { NODES, type NodeDoc } from "../../projections/nodes.js";
import { time } from "../format.js";
import { html, none, type Html } from "../html.js";
import { render, viewerOf } from "../page.js";
import { impactHref } from "./impact.js";

const bySemverDesc = (a: ModuleVersionDoc, b: ModuleVersionDoc) =>
  a.name !== b.name ? (a.name < b.name ? -1 : 1) : semver.valid(a.version) && semver.valid(b.version) ? semver.rcompare(a.version, b.version) : a.version < b.version ? 1 : -1;
const shortDigest = (d: string) => d.replace(/^sha256:/, "").slice(0, 12);
const versionHref = (d: Pick<ModuleVersionDoc, "name" | "version">) => `/ui/modules/${encodeURIComponent(d.name)}/${encodeURIComponent(d.version)}`;

/** verification statuses in the words of the badge classes: verified good, unsigned so-so, the rest bad */
const VERIFY_CLASS: Record<string, string> = { verified: "Succeeded", unsigned: "Paused" };
const verification = (status: string) => html`<span class="badge s-${(VERIFY_CLASS[status] ?? "Failed").toLowerCase()}">${status}</span>`;

function list(docs: ModuleVersionDoc[]): Html {
  if (!docs.length) return html`<p class="empty">No module is registered. Upload one with <code>POST /api/v1/modules</code> or <code>npm run modules</code>.</p>`;
  return html`<table class="list">
    <caption class="sr-only">Registered module versions</caption>
    <thead><tr><th scope="col">Module</th><th scope="col">Verification</th><th scope="col">Signer</th><th scope="col">Digest</th><th scope="col">Registered</th></tr></thead>
    <tbody>${docs.map(
      (d) => html`<tr data-module="${d.name}" data-version="${d.version}">
        <td data-label="Module"><a href="${versionHref(d)}">${d.name} ${d.version}</a></td>
        <td data-label="Verification">${verification(d.verification.status)}</td>
        <td data-label="Signer">${d.verification.signer?.subject ?? html`<span class="muted">none</span>`}</td>
        <td data-label="Digest"><code title="${d.digest}">${shortDigest(d.digest)}</code></td>
        <td data-label="Registered">${time(d.registeredAt)} <span class="muted">by ${d.registeredBy}</span></td>
      </tr>`,
    )}</tbody>
  </table>`;
}

function detail(d: ModuleVersionDoc, nodes: NodeDoc[]): Html {
  const v = d.verification;
  return html`<div class="columns">
      <section class="card" aria-labelledby="v-h"><h2 id="v-h">Verification</h2>
        <dl class="facts">
          <dt>Status</dt><dd>${verification(v.status)}</dd>
          ${v.reason ? html`<dt>Reason</dt><dd>${v.reason}</dd>` : none}
          <dt>Checks</dt><dd>${Object.entries(v.checks).map(([check, outcome]) => html`<span class="check">${check}: <strong>${outcome}</strong></span> `)}</dd>
          <dt>Signer</dt><dd>${v.signer ? html`${v.signer.subject}<br><span class="muted">valid until ${time(v.signer.notAfter)}</span>` : "none"}</dd>
          <dt>Chain</dt><dd>${v.chain.length ? html`<ol class="chain">${v.chain.map((s) => html`<li>${s}</li>`)}</ol>` : "none"}</dd>
          <dt>Digest</dt><dd><code>${d.digest}</code> (${d.size} bytes)</dd>
          ${d.dependencies.length ? html`<dt>Depends on</dt><dd>${d.dependencies.map((x) => html`${x.name} ${x.range} `)}</dd>` : none}
        </dl>
      </section>
      <section class="card" aria-labelledby="h-h"><h2 id="h-h">Verdicts</h2>
        <ol class="verdicts">${[...d.verdicts].reverse().map((x) => html`<li>${verification(x.status)} ${time(x.at)} <span class="muted">(${x.trigger})</span>${x.reason ? html` ${x.reason}` : none}</li>`)}</ol>
      </section>
    </div>
    ${v.failures.length ? html`<section aria-labelledby="f-h"><h2 id="f-h">Failed checks</h2><ul>${v.failures.map((f) => html`<li><strong>${f.check}</strong> (${f.code}): ${f.reason}</li>`)}</ul></section>` : none}
    <section aria-labelledby="r-h"><h2 id="r-h">Where it runs</h2>
      ${nodes.length
        ? html`<ul class="node-grid">${nodes.map((n) => html`<li class="node h-${n.status.toLowerCase()}"><span class="host">${n.hostname}</span><span class="phase">${n.status}</span><span class="muted">${n.environment}</span></li>`)}</ul>`
        : html`<p class="empty">No node runs this version now.</p>`}
    </section>`;
}

export function registerModulePages(app: OpenAPIHono<AppEnv>, deps: AppDeps): void {
  const versions = () => deps.readStore.collection<ModuleVersionDoc>(MODULE_VERSIONS);

  app.get("/ui/modules", async (c) => {
    viewerOf(c);
    const docs = (await versions().find({}, { sort: { name: 1 } })).sort(bySemverDesc);
    const body = html`<h1>Modules</h1><p class="muted">Registered module versions and how their signatures verify against the trust store.</p>${list(docs)}`;
    return render(c, deps, { title: "Modules", section: "modules", body });
  });

  app.get("/ui/modules/:name/:version", async (c) => {
    viewerOf(c);
    const name = c.req.param("name");
    const version = c.req.param("version");
    const doc = await versions().get(moduleVersionId(name, version));
    if (!doc) throw notFound(`module ${name}@${version}`);
    // where it runs now, as GET /api/v1/modules/{name}/versions/{version} reads it (the name is a registered one: safe as a path)
    const nodes = await deps.readStore.collection<NodeDoc>(NODES).find({ [`modules.${doc.name}`]: doc.version }, { sort: { _id: 1 } });
    const body = html`<p class="crumbs"><a href="/ui/modules">Modules</a> ›</p><h1>${doc.name} ${doc.version}</h1>${doc.description ? html`<p>${doc.description}</p>` : none}<p><a href="${impactHref(doc.name)}?version=${encodeURIComponent(doc.version)}">Blast radius of ${doc.name} ${doc.version}</a></p>${detail(doc, nodes)}`;
    return render(c, deps, { title: `${doc.name} ${doc.version}`, section: "modules", body });
  });
}

