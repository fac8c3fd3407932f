import type { OpenAPIHono } from "@hono/zod-openapi";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { Context } from "hono";
import type { AppDeps, AppEnv } from "../../http/env.js";
import { SECRET_NAME } from "../../secrets/service.js";
import { toSecretView, type SecretView } from "../../secrets/view.js";
import { callApi, problemText, type ApiApp } from "../dispatch.js";
import { badge, time } from "../format.js";
import { html, none, type Html } from "../html.js";
import { csrfField, isAdmin, notice } from "../layout.js";
import { forbidden, render, see303, viewerOf } from "../page.js";
import type { Viewer } from "../session.js";

const labels = (l: SecretView["versions"][number]["labels"]) => (l.length ? l.join(", ") : "");

function secretCard(s: SecretView, viewer: Viewer): Html {
  const live = s.versions.filter((v) => !v.destroyed);
  return html`<li class="card secret" id="secret-${s.name}" aria-labelledby="secret-h-${s.name}">
    <h2 id="secret-h-${s.name}">${s.name} ${badge(s.status)}</h2>
    <dl class="facts">
      <dt>Kind</dt><dd>${s.kind}</dd>
      <dt>Current version</dt><dd>${s.currentVersion ?? "none"}</dd>
      <dt>Last rotated</dt><dd>${s.lastRotatedAt ? time(s.lastRotatedAt) : "never"}</dd>
      <dt>Next rotation</dt><dd>${s.nextRotationAt ? time(s.nextRotationAt) : "not scheduled"}</dd>
      ${s.expiresAt ? html`<dt>Expires</dt><dd>${time(s.expiresAt)}</dd>` : none}
      <dt>Versions</dt><dd>${live.map((v) => html`<span class="ver">v${v.version}${v.labels.length ? html` <span class="muted">(${labels(v.labels)})</span>` : none}</span> `)}</dd>
      ${s.rotation ? html`<dt>Rotation</dt><dd>${badge(s.rotation.status)} ${s.rotation.steps.map((x) => x.step).join(" → ") || "starting"}${s.rotation.waitingUntil ? html`; waits until ${time(s.rotation.waitingUntil.dueAt)} (${s.rotation.waitingUntil.purpose})` : none}</dd>` : none}
    </dl>
    <form method="post" action="/ui/secrets/${s.name}/rotate" class="buttons">
      ${csrfField(viewer)}
      <button type="submit"${s.rotation ? html` disabled aria-describedby="rot-busy-${s.name}"` : none}>Rotate</button>
      ${s.rotation ? html`<small id="rot-busy-${s.name}">a rotation is in progress</small>` : none}
    </form>
  </li>`;
}

async function secretsPage(c: Context<AppEnv>, deps: AppDeps, message?: Html, status: ContentfulStatusCode = 200): Promise<Response> {
  const viewer = viewerOf(c);
  if (!isAdmin(viewer.principal)) return forbidden(c, deps, "Secrets", ["Admin"], "secrets");
  const settings = deps.config.secrets.rotation;
  const items = deps.secrets.directory.list().map((s) => toSecretView(s, settings));
  const done = c.req.query("rotated");
  const body = html`<h1>Secrets</h1>
    ${done && SECRET_NAME.test(done) ? notice("ok", `Rotation of ${done} requested.`) : none}${message ?? none}
    <p class="muted">Metadata only: values never appear here.</p>
    ${items.length ? html`<ul class="cards secrets">${items.map((s) => secretCard(s, viewer))}</ul>` : html`<p class="empty">No secrets yet.</p>`}`;
  return render(c, deps, { title: "Secrets", section: "secrets", body }, status);
}

export function registerSecretPages(app: OpenAPIHono<AppEnv>, deps: AppDeps, api: ApiApp): void {
  app.get("/ui/secrets", (c) => secretsPage(c, deps));

  // the same command as POST /api/v1/secrets/{name}/rotate
  app.post("/ui/secrets/:name/rotate", async (c) => {
    const viewer = viewerOf(c);
    if (!isAdmin(viewer.principal)) return forbidden(c, deps, "Rotating a secret", ["Admin"], "secrets");
    const name = c.req.param("name");
    if (!SECRET_NAME.test(name)) return secretsPage(c, deps, notice("error", "There is no secret by that name."), 404);
    const answer = await callApi(c, api, "POST", `/api/v1/secrets/${name}/rotate`, {});
    if (answer.status === 202) return see303(c, `/ui/secrets?rotated=${encodeURIComponent(name)}`);
    const status = (answer.status >= 400 && answer.status < 600 ? answer.status : 500) as ContentfulStatusCode;
    return secretsPage(c, deps, notice("error", `Rotate was refused: ${problemText(answer)}`), status);
  });
}
