// A module's blast radius from the knowledge graph (issue 16): where matching versions run, what is
// on its way to more nodes, what depends on it, and which certificates vouched for its bytes. The
// same query as GET /api/v1/graph/impact?module=&version=&at=.
import type { OpenAPIHono } from "@hono/zod-openapi";
import { DomainError } from "../../commands/errors.js";
import { Budget, LIMITS } from "../../graph/budget.js";
import { impact, versionMatcher } from "../../graph/impact.js";
import { GraphReader } from "../../graph/reader.js";
import type { AppDeps, AppEnv } from "../../http/env.js";
import { asOfFrom, asOfPicker, graphPoint, pastBanner, type AsOf } from "../as-of.js";
import { badge } from "../format.js";
import { html, none, type Html } from "../html.js";
import { notice } from "../layout.js";
import { render, viewerOf } from "../page.js";

type Impact = Awaited<ReturnType<typeof impact>>;

export const impactHref = (module: string) => `/ui/modules/${encodeURIComponent(module)}/impact`;
const text = (v: unknown) => (v === null || v === undefined ? "" : String(v));

function versionForm(action: string, version: string, asOf: AsOf | null): Html {
  return html`<form class="filters" method="get" action="${action}" role="search" aria-label="Versions">
    <label for="impact-version">Version</label>
    <input type="text" id="impact-version" name="version" value="${version}" maxlength="256" placeholder="1.2.0 or ^1.0.0" aria-describedby="impact-version-hint">
    ${asOf ? html`<input type="hidden" name="at" value="${asOf.iso}">` : none}
    <button type="submit">Show</button>
    <small id="impact-version-hint">a version or a semver range; empty for every version</small>
  </form>`;
}

function where(r: Impact, past: boolean): Html {
  if (!r.environments.length) return html`<p class="empty">${past ? "No node ran a matching version then." : "No node runs a matching version."}</p>`;
  return html`<table class="list">
      <caption class="sr-only">Environments running matching versions</caption>
      <thead><tr><th scope="col">Environment</th><th scope="col">Nodes</th><th scope="col">Versions</th></tr></thead>
      <tbody>${r.environments.map(
        (e) => html`<tr data-environment="${e.environment}"><th scope="row" data-label="Environment">${e.environment}</th><td data-label="Nodes">${e.nodes}</td>
          <td data-label="Versions">${e.versions.map((v, i) => html`${i ? ", " : ""}<strong>${v.version}</strong> <span class="muted">×${v.nodes}</span>`)}</td></tr>`,
      )}</tbody>
    </table>
    <table class="list">
      <caption class="sr-only">Nodes running matching versions</caption>
      <thead><tr><th scope="col">Node</th><th scope="col">Environment</th><th scope="col">Version</th></tr></thead>
      <tbody>${r.nodes.map((n) => html`<tr><td data-label="Node">${n.nodeId}</td><td data-label="Environment">${n.environment}</td><td data-label="Version">${n.version}</td></tr>`)}</tbody>
    </table>`;
}

function deployments(r: Impact, past: boolean): Html {
  if (!r.deployments.length) return html`<p class="empty">${past ? "No deployment of a matching version was in flight then." : "No deployment of a matching version is in flight."}</p>`;
  return html`<table class="list">
    <caption class="sr-only">In-flight deployments of matching versions</caption>
    <thead><tr><th scope="col">Deployment</th><th scope="col">Version</th><th scope="col">Environment</th><th scope="col">Status</th></tr></thead>
    <tbody>${r.deployments.map(
      (d) => html`<tr><td data-label="Deployment"><a href="/ui/deployments/${encodeURIComponent(d.executionId)}">${d.executionId}</a></td>
        <td data-label="Version">${text(d.version)}</td><td data-label="Environment">${text(d.targetEnvironment)}</td><td data-label="Status">${badge(text(d.status))}</td></tr>`,
    )}</tbody>
  </table>`;
}

function dependents(r: Impact): Html {
  if (!r.dependents.length) return html`<p class="empty">No module depends on ${r.module}.</p>`;
  return html`<table class="list">
    <caption class="sr-only">Modules that depend on ${r.module}, directly or through others</caption>
    <thead><tr><th scope="col">Module</th><th scope="col">Depends on</th><th scope="col">Range</th><th scope="col">Depth</th></tr></thead>
    <tbody>${r.dependents.map(
      (d) => html`<tr><td data-label="Module"><a href="${impactHref(d.module)}">${d.module}</a> ${d.version}</td><td data-label="Depends on">${d.dependsOn}</td>
        <td data-label="Range"><code>${d.range}</code>${d.admits === false ? html` <span class="muted">(excludes these versions)</span>` : none}</td><td data-label="Depth">${d.depth}</td></tr>`,
    )}</tbody>
  </table>`;
}

function certificates(r: Impact): Html {
  if (!r.certificates.length) return html`<p class="empty">No certificate signed a matching version's artifact.</p>`;
  return html`<table class="list">
    <caption class="sr-only">Certificates that signed or issued matching versions</caption>
    <thead><tr><th scope="col">Subject</th><th scope="col">Role</th><th scope="col">Revoked</th><th scope="col">Versions</th><th scope="col">Fingerprint (SHA-256)</th></tr></thead>
    <tbody>${r.certificates.map(
      (c) => html`<tr><td data-label="Subject">${text(c.subject) || html`<span class="muted">unknown</span>`}</td><td data-label="Role">${c.role}</td>
        <td data-label="Revoked">${c.revoked ? "yes" : "no"}</td><td data-label="Versions">${c.versions.join(", ")}</td>
        <td data-label="Fingerprint (SHA-256)"><code title="${c.fingerprint256}">${c.fingerprint256.slice(0, 16)}</code></td></tr>`,
    )}</tbody>
  </table>`;
}

export function registerImpactPages(app: OpenAPIHono<AppEnv>, deps: AppDeps): void {
  const reader = new GraphReader(deps.readStore);
  app.get("/ui/modules/:name/impact", async (c) => {
    viewerOf(c);
    const name = c.req.param("name");
    const version = (c.req.query("version") ?? "").trim().slice(0, 256);
    const asOf = asOfFrom(c, deps.clock.now());
    const action = impactHref(name);
    let result: Impact | null = null;
    let problem: Html = none;
    let status: 200 | 400 = 200;
    try {
      versionMatcher(version || undefined); // a bad version is a 400 even for a module the graph does not know
      result = await impact(reader, { module: name, version: version || undefined, maxDepth: LIMITS.maxDepth }, { at: await graphPoint(deps, asOf) }, new Budget("query.maxDepth"));
    } catch (err) {
      if (!(err instanceof DomainError) || (err.code !== "not_found" && err.code !== "validation")) throw err;
      if (err.code === "validation") status = 400;
      problem = notice(err.code === "validation" ? "error" : "info", err.code === "not_found" ? `The knowledge graph has no module named ${name}${asOf ? " at that instant" : ""}.` : err.message);
    }
    const r: Impact = result ?? { module: name, version: version || null, versions: [], environments: [], nodes: [], deployments: [], dependents: [], certificates: [] };
    const body = html`<p class="crumbs"><a href="/ui/modules">Modules</a> › <a href="/ui/matrix">What runs where</a> ›</p>
      <h1>Blast radius of ${name}</h1>
      ${pastBanner(asOf)}
      <p class="muted">From the knowledge graph: where ${version ? html`versions matching <code>${version}</code>` : "any version"} of this module runs, what is on its way to more nodes, what depends on it and who signed it.</p>
      ${versionForm(action, version, asOf)}
      ${asOfPicker(action, asOf, { version })}
      ${problem}
      <p>${r.versions.length ? html`Matching versions: ${r.versions.map((v, i) => html`${i ? ", " : ""}<strong>${v.version}</strong> <span class="muted">(${v.nodes} nodes)</span>`)}` : html`<span class="empty">No registered version matches.</span>`}</p>
      <section aria-labelledby="i-where"><h2 id="i-where">Where it runs</h2>${where(r, !!asOf)}</section>
      <section aria-labelledby="i-deploy"><h2 id="i-deploy">In-flight deployments</h2>${deployments(r, !!asOf)}</section>
      <section aria-labelledby="i-deps"><h2 id="i-deps">Dependent modules</h2>${dependents(r)}</section>
      <section aria-labelledby="i-certs"><h2 id="i-certs">Signing certificates</h2>${certificates(r)}</section>`;
    return render(c, deps, { title: `Blast radius of ${name}`, section: "modules", body }, status);
  });
}
