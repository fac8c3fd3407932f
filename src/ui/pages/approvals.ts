import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { streamPrefixes } from "../../events/streams.js";
import type { AppDeps, AppEnv } from "../../http/env.js";
import type { DeploymentDoc } from "../../projections/deployments.js";
import { callApi, problemText, readYourWrite, type ApiApp } from "../dispatch.js";
import { age, time } from "../format.js";
import { html, none, type Html } from "../html.js";
import { csrfField, isAdmin, notice, pendingBadge } from "../layout.js";
import { liveFragments } from "../live.js";
import { forbidden, pendingApprovals, render, see303, viewerOf } from "../page.js";
import type { Viewer } from "../session.js";
import { UUID } from "./deployment.js";

function inbox(items: DeploymentDoc[], viewer: Viewer, now: number): Html {
  if (!items.length) return html`<p class="empty">Nothing waits for an approval.</p>`;
  const admin = isAdmin(viewer.principal);
  return html`<ul class="inbox">${items.map((d) => {
    const id = d.executionId;
    const decide = admin
      ? html`<form method="post" action="/ui/approvals/${id}" class="decide">
          ${csrfField(viewer)}
          <label for="reason-${id}">Reason</label>
          <input id="reason-${id}" name="reason" maxlength="1000" aria-describedby="reason-hint-${id}">
          <small id="reason-hint-${id}">required to reject; recorded with either decision</small>
          <div class="buttons"><button type="submit" name="decision" value="approve" class="primary">Approve</button> <button type="submit" name="decision" value="reject" class="danger">Reject</button></div>
        </form>`
      : html`<p class="muted">Approving or rejecting needs the Admin role.</p>`;
    return html`<li class="card approval" id="approval-${id}" aria-labelledby="approval-h-${id}">
      <h2 id="approval-h-${id}"><a href="/ui/deployments/${id}">${d.moduleName} ${d.version}</a> <span class="muted">to</span> ${d.targetEnvironment ?? ""}</h2>
      <p>Requested by ${d.requestedBy} (${d.requesterEmail}) ${age(d.approval.requestedAt ?? d.createdAt, now)}${d.approval.expiresAt ? html`; expires ${time(d.approval.expiresAt)}` : none}.</p>
      ${d.description ? html`<p>${d.description}</p>` : none}
      ${decide}
    </li>`;
  })}</ul>`;
}

async function inboxPage(c: Context<AppEnv>, deps: AppDeps, message?: Html, status: ContentfulStatusCode = 200): Promise<Response> {
  const viewer = viewerOf(c);
  const items = await pendingApprovals(deps);
  const done = c.req.query("done");
  const body = html`<h1>Approvals</h1>
    ${done === "rejected" ? notice("ok", "Rejected. The deployment will not run.") : none}${message ?? none}
    <p class="muted">Staging and Production deployments wait here for an Admin's decision, oldest first.</p>
    <div id="inbox" sse-swap="inbox">${inbox(items, viewer, deps.clock.now())}</div>`;
  return render(c, deps, { title: "Approvals", section: "approvals", live: "/ui/approvals/events", body }, status);
}

export function registerApprovalPages(app: OpenAPIHono<AppEnv>, deps: AppDeps, api: ApiApp): void {
  app.get("/ui/approvals", (c) => inboxPage(c, deps));

  app.get("/ui/approvals/events", (c) => {
    const viewer = viewerOf(c);
    const admin = isAdmin(viewer.principal);
    // redrawn only when the set of pending approvals changes, so a reason being typed survives other activity
    let shown = "";
    return liveFragments(c, deps, {
      throttleMs: 250,
      relevant: (e) => e.streamId.startsWith(streamPrefixes.deployment),
      render: async () => {
        const items = await pendingApprovals(deps);
        const ids = items.map((d) => d.executionId).join(",");
        const out: Record<string, string> = admin ? { "approvals-count": pendingBadge(items.length) } : {};
        if (ids !== shown) {
          shown = ids;
          out.inbox = inbox(items, viewer, deps.clock.now());
        }
        return out;
      },
    });
  });

  // the same commands as POST /api/v1/approvals/deployments/{id}/approve|reject
  app.post(`/ui/approvals/:id{${UUID}}`, async (c) => {
    const viewer = viewerOf(c);
    if (!isAdmin(viewer.principal)) return forbidden(c, deps, "Approving or rejecting a deployment", ["Admin"], "approvals");
    const id = c.req.param("id").toLowerCase();
    const form = await c.req.parseBody();
    const decision = form.decision === "approve" || form.decision === "reject" ? form.decision : null;
    const reason = typeof form.reason === "string" ? form.reason.trim() : "";
    if (!decision) return inboxPage(c, deps, notice("error", "Choose Approve or Reject."), 400);
    if (decision === "reject" && !reason) return inboxPage(c, deps, notice("error", "Rejecting needs a reason: write it in the Reason field."), 400);
    const answer = await callApi(c, api, "POST", `/api/v1/approvals/deployments/${id}/${decision}`, reason ? { reason } : {});
    if (answer.status === 200) await readYourWrite(deps, answer);
    if (answer.status === 200) return decision === "approve" ? see303(c, `/ui/deployments/${id}?done=approved`) : see303(c, "/ui/approvals?done=rejected");
    if (answer.status === 403) return forbidden(c, deps, "Approving or rejecting a deployment", ["Admin"], "approvals");
    const status = (answer.status >= 400 && answer.status < 600 ? answer.status : 500) as ContentfulStatusCode;
    return inboxPage(c, deps, notice("error", `${decision === "approve" ? "Approve" : "Reject"} was refused: ${problemText(answer)}`), status);
  });
}
