import type { Role } from "../events/catalog/user.js";
import type { Principal } from "../http/auth.js";
import { assetUrl } from "./assets.js";
import { CSRF_FIELD } from "./csrf.js";
import { html, none, type Html } from "./html.js";
import type { Viewer } from "./session.js";

/** No inline scripts or styles anywhere: every script and style sheet is a file served by /ui/assets. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

export type Section = "deployments" | "approvals" | "clusters" | "audit" | "modules" | "secrets" | "matrix" | "none";

export interface PageOptions {
  title: string;
  section: Section;
  viewer: Viewer | null;
  /** pending approvals, shown in the navigation to Admins */
  pendingCount?: number | null;
  /** the page's live fragment feed (an SSE endpoint under /ui), if it updates itself */
  live?: string | null;
  /** extra style sheets and scripts (files only) */
  head?: Html;
  body: Html;
}

export const hasRole = (p: Principal | null | undefined, ...roles: Role[]) => !!p && p.roles.some((r) => roles.includes(r));
export const isAdmin = (p: Principal | null | undefined) => hasRole(p, "Admin");
export const mayDeploy = (p: Principal | null | undefined) => hasRole(p, "Deployer", "Admin");

/** the hidden field that proves a form comes from a page of this session */
export const csrfField = (viewer: Viewer) => html`<input type="hidden" name="${CSRF_FIELD}" value="${viewer.csrf}">`;

export function pendingBadge(count: number): Html {
  return count > 0 ? html`<span class="count" aria-label="${count} pending">${count}</span>` : none;
}

function nav(o: PageOptions): Html {
  const p = o.viewer?.principal;
  if (!p) return none;
  const link = (section: Section, href: string, label: string, extra: Html = none) =>
    html`<li><a href="${href}"${o.section === section ? html` aria-current="page"` : none}>${label}${extra}</a></li>`;
  const admin = isAdmin(p);
  // the count updates live on pages with a feed: the span is a target of the feed's "approvals-count" event
  const count = admin ? html` <span id="pending-count" sse-swap="approvals-count">${pendingBadge(o.pendingCount ?? 0)}</span>` : none;
  return html`<nav aria-label="Main">
      <ul>
        ${link("deployments", "/ui/deployments", "Deployments")}
        ${link("approvals", "/ui/approvals", "Approvals", count)}
        ${link("clusters", "/ui/clusters", "Clusters")}
        ${link("matrix", "/ui/matrix", "What runs where")}
        ${link("modules", "/ui/modules", "Modules")}
        ${admin ? link("secrets", "/ui/secrets", "Secrets") : none}
        ${admin ? link("audit", "/ui/audit", "Audit") : none}
      </ul>
    </nav>
    <form class="signout" method="post" action="/ui/logout">
      ${csrfField(o.viewer!)}
      <span class="who">Signed in as <strong>${p.sub}</strong> <span class="roles">(${p.roles.join(", ")})</span></span>
      <button type="submit">Sign out</button>
    </form>`;
}

export function layout(o: PageOptions): Html {
  const live = o.live ? html` hx-ext="sse" sse-connect="${o.live}"` : none;
  return html`<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta name="referrer" content="same-origin">
    <meta name="htmx-config" content='{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"historyCacheSize":0}'>
    <title>${o.title} · Kernel Orchestrator</title>
    <link rel="icon" href="data:,">
    <link rel="stylesheet" href="${assetUrl("ui.css")}">
    ${o.head ?? none}
    <script src="${assetUrl("htmx.min.js")}" defer></script>
    <script src="${assetUrl("sse.min.js")}" defer></script>
    <script src="${assetUrl("ui.js")}" defer></script>
  </head>
  <body>
    <a class="skip" href="#main">Skip to content</a>
    <div class="page"${live}>
      <header class="top">
        <a class="brand" href="/ui">Kernel Orchestrator</a>
        ${nav(o)}
      </header>
      <main id="main" tabindex="-1">
        ${o.body}
      </main>
    </div>
  </body>
</html>`;
}

/** a notice in words: role="status" for outcomes, role="alert" for errors */
export function notice(kind: "ok" | "error" | "info", text: string | Html): Html {
  return html`<p class="notice ${kind}" role="${kind === "error" ? "alert" : "status"}">${text}</p>`;
}
