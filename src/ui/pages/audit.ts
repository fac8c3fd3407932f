import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { queryAuditLog, type AuditQuery, type AuditView } from "../../audit/query.js";
import { verifyAuditChain } from "../../audit/verify.js";
import { ENVIRONMENTS } from "../../fleet/environments.js";
import { resolveInstant } from "../../http/routes/time-travel.js";
import type { AppDeps, AppEnv } from "../../http/env.js";
import { AUDIT_COLLECTION, AUDIT_STREAMS_COLLECTION, auditProjection, type AuditEntryDoc, type AuditStreamDoc } from "../../projections/audit.js";
import { time } from "../format.js";
import { html, none, type Html } from "../html.js";
import { isAdmin, notice } from "../layout.js";
import { forbidden, render, viewerOf } from "../page.js";

const PAGE = 50;

interface Filters {
  type?: string;
  actor?: string;
  stream?: string;
  environment?: string;
  from?: string;
  to?: string;
  cursor?: string;
}

const text = (raw: string | undefined, max: number) => {
  const v = raw?.trim();
  return v && v.length <= max ? v : undefined;
};

/** the instant of a From/To field: ISO from ui.js, or the picker's value read as UTC without scripts */
function instant(c: Context, name: string, now: number): string | undefined {
  const iso = text(c.req.query(name), 40);
  const local = text(c.req.query(`${name}Local`), 40);
  const raw = iso ?? (local ? (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(local) ? `${local}Z` : local) : undefined);
  return raw ? resolveInstant(raw, now) : undefined;
}

function filtersOf(c: Context, now: number): Filters {
  const env = c.req.query("environment");
  return {
    type: text(c.req.query("type"), 500),
    actor: text(c.req.query("actor"), 200),
    stream: text(c.req.query("stream"), 300),
    environment: env && (ENVIRONMENTS as readonly string[]).includes(env) ? env : undefined,
    from: instant(c, "from", now),
    to: instant(c, "to", now),
    cursor: text(c.req.query("cursor"), 200),
  };
}

function filterForm(f: Filters): Html {
  const local = (iso: string | undefined) => (iso ? iso.slice(0, 19) : "");
  const option = (value: string, label: string) => html`<option value="${value}"${f.environment === value ? html` selected` : none}>${label}</option>`;
  return html`<form class="filters" method="get" action="/ui/audit" role="search" aria-label="Filter the audit log">
    <div><label for="a-type">Event type</label><input id="a-type" name="type" maxlength="500" value="${f.type ?? ""}" placeholder="DeploymentRequested,ApprovalGranted"></div>
    <div><label for="a-actor">Actor</label><input id="a-actor" name="actor" maxlength="200" value="${f.actor ?? ""}"></div>
    <div><label for="a-stream">Stream</label><input id="a-stream" name="stream" maxlength="300" value="${f.stream ?? ""}" placeholder="deployment-*"></div>
    <div><label for="a-env">Environment</label><select id="a-env" name="environment">${option("", "Any")}${ENVIRONMENTS.map((e) => option(e, e))}</select></div>
    <div><label for="a-from">From</label><input id="a-from" type="datetime-local" step="1" name="fromLocal" data-iso-target="from" data-utc="${f.from ?? ""}" value="${local(f.from)}"><input type="hidden" name="from" value=""></div>
    <div><label for="a-to">To</label><input id="a-to" type="datetime-local" step="1" name="toLocal" data-iso-target="to" data-utc="${f.to ?? ""}" value="${local(f.to)}"><input type="hidden" name="to" value=""></div>
    <div class="actions"><button type="submit">Filter</button> <a class="button" href="/ui/audit">Clear</a></div>
  </form>`;
}

function entries(items: AuditView[]): Html {
  if (!items.length) return html`<p class="empty">No audit entry matches these filters.</p>`;
  return html`<ol class="timeline">${items.map(
    (e) => html`<li>
      <span class="pos num">#${e.position}</span>
      ${time(e.occurredAt)}
      <strong>${e.type}</strong>
      <span>${e.summary}</span>
      <span class="muted">by ${e.actor.kind} ${e.actor.id} · ${e.streamId}${e.environment ? ` · ${e.environment}` : ""}${e.sourceIp ? ` · from ${e.sourceIp}` : ""}</span>
    </li>`,
  )}</ol>`;
}

function nextLink(f: Filters, cursor: string | null): Html {
  if (!cursor) return none;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries({ ...f, cursor })) if (v) q.set(k, v);
  return html`<p><a class="button" href="/ui/audit?${q.toString()}" rel="next">Older entries</a></p>`;
}

export function registerAuditPages(app: OpenAPIHono<AppEnv>, deps: AppDeps): void {
  const entriesOf = () => deps.readStore.collection<AuditEntryDoc>(AUDIT_COLLECTION);
  const streamsOf = () => deps.readStore.collection<AuditStreamDoc>(AUDIT_STREAMS_COLLECTION);

  app.get("/ui/audit", async (c) => {
    if (!isAdmin(viewerOf(c).principal)) return forbidden(c, deps, "The audit log", ["Admin"], "audit");
    const f = filtersOf(c, deps.clock.now());
    const query: AuditQuery = {
      types: f.type?.split(",").map((t) => t.trim()).filter(Boolean),
      actor: f.actor,
      stream: f.stream,
      environment: f.environment,
      from: f.from ? new Date(f.from) : undefined,
      to: f.to ? new Date(f.to) : undefined,
      order: "desc",
      limit: PAGE,
      cursor: f.cursor,
    };
    const page = await queryAuditLog(entriesOf(), query, streamsOf());
    const body = html`<h1>Audit log</h1>
      <section class="card" aria-labelledby="verify-h"><h2 id="verify-h">Hash chain</h2>
        <div id="verify" hx-get="/ui/audit/verify" hx-trigger="load" aria-live="polite"><p class="muted">Verifying the log against its anchors…</p></div>
      </section>
      ${filterForm(f)}
      <section aria-labelledby="tl-h"><h2 id="tl-h">Timeline, newest first</h2>${entries(page.items)}${nextLink(f, page.nextCursor)}</section>`;
    return render(c, deps, { title: "Audit", section: "audit", body });
  });

  // the check of GET /api/v1/audit-logs/verify over everything the audit read model has applied
  app.get("/ui/audit/verify", async (c) => {
    if (!isAdmin(viewerOf(c).principal)) return c.html(notice("error", "Verifying the audit log needs the Admin role."), 403);
    const applied = deps.projections.positionOf(auditProjection.name) ?? deps.projections.position();
    const r = await verifyAuditChain(deps.log, entriesOf(), { to: applied });
    const anchored =
      r.anchors.anchoredTo === null
        ? "No anchor covers this range yet: entries are vouched for by the read model only."
        : `${r.anchors.checked} anchor(s) checked; the chain is anchored in the log up to position ${r.anchors.anchoredTo}, later entries are vouched for by the read model only.`;
    if (r.ok) {
      return c.html(html`<p class="verify ok" role="status"><strong>Verified.</strong> ${r.checked} entries from position ${r.from} to ${r.to} match their events. ${anchored}</p>`);
    }
    const mismatch = r.firstMismatch ? html`<li>The entry at position ${r.firstMismatch.position} no longer matches its event in the log.</li>` : none;
    const bad = r.anchors.firstBad
      ? html`<li>The anchor at position ${r.anchors.firstBad.anchorPosition}${r.anchors.firstBad.fromPosition !== null ? html` (range ${r.anchors.firstBad.fromPosition}–${r.anchors.firstBad.position ?? "?"})` : none} disagrees with the log: ${r.anchors.firstBad.reason === "hash" ? "an event in its range changed, appeared or vanished" : r.anchors.firstBad.reason === "link" ? "an anchor or the events between two anchors were removed" : "it cannot be read"}.</li>`
      : none;
    return c.html(html`<div class="verify bad" role="alert"><p><strong>Verification failed.</strong> ${r.checked} entries checked.</p><ul>${mismatch}${bad}</ul></div>`);
  });
}
