import type { OpenAPIHono } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import type { AppDeps, AppEnv } from "../http/env.js";
import { registerAssets } from "./assets.js";
import { CSRF_FIELD, sameOrigin, validCsrf } from "./csrf.js";
import type { ApiApp } from "./dispatch.js";
import { CONTENT_SECURITY_POLICY } from "./layout.js";
import { errorPage, pageErrors, see303 } from "./page.js";
import { registerApprovalPages } from "./pages/approvals.js";
import { registerAuditPages } from "./pages/audit.js";
import { registerClusterPages } from "./pages/clusters.js";
import { registerDeploymentPages } from "./pages/deployment.js";
import { registerDeploymentListPages } from "./pages/deployments.js";
import { registerImpactPages } from "./pages/impact.js";
import { registerLoginPages } from "./pages/login.js";
import { registerMatrixPages } from "./pages/matrix.js";
import { registerModulePages } from "./pages/modules.js";
import { registerSecretPages } from "./pages/secrets.js";

const isPublic = (path: string) => path === "/ui/login" || path.startsWith("/ui/assets/");
const isFeed = (path: string) => path.endsWith("/events");

/** CSP without inline scripts or styles on every page; pages are per user and never cached */
function uiHeaders(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    await next();
    // assets carry their own caching; a live feed's headers are already on the wire (and
    // RESPONSE_ALREADY_SENT is one shared object); a feed refused before streaming is a page
    if (c.req.path.startsWith("/ui/assets/") || c.res === RESPONSE_ALREADY_SENT) return;
    c.header("Content-Security-Policy", CONTENT_SECURITY_POLICY);
    c.header("Cache-Control", "no-store");
  };
}

/**
 * A state-changing request must come from a page of this site: its Origin (or Referer) must be
 * ours, and, past the sign-in form, it must carry the session's CSRF token. Pages need a session:
 * without one, the browser goes to the sign-in form and comes back.
 */
function guard(deps: AppDeps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const path = c.req.path;
    if (c.req.method === "POST" && !sameOrigin(c, deps)) {
      return errorPage(c, deps, 403, "This form was not sent from a page of this site, so it was refused (cross-site request).");
    }
    if (isPublic(path)) return next();
    const principal = c.get("principal");
    if (!principal) {
      if (isFeed(path) || c.req.header("hx-request")) return c.text(c.get("authError") ?? "sign in first", 401);
      const back = c.req.method === "GET" ? `?next=${encodeURIComponent(path + (new URL(c.req.url).search || ""))}` : "";
      return see303(c, `/ui/login${back}`);
    }
    if (c.req.method === "POST") {
      const form = await c.req.parseBody();
      if (!validCsrf(c, principal, form[CSRF_FIELD])) {
        return errorPage(c, deps, 403, "This form is out of date or did not come from this session (CSRF token missing or wrong). Reload the page and try again.");
      }
    }
    return next();
  };
}

/**
 * The operator dashboard at /ui: server-rendered pages, htmx for live fragments over SSE, assets
 * from the project and node_modules. `api` is the app the API routes live in: the dashboard's
 * forms run their commands through it (src/ui/dispatch.ts).
 */
export function registerUiRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps, api: ApiApp = app): void {
  app.get("/", (c) => c.redirect("/ui", 302));
  registerAssets(app);
  // "/ui/*" covers "/ui" too
  app.use("/ui/*", uiHeaders());
  app.use("/ui/*", pageErrors(deps));
  app.use("/ui/*", guard(deps));
  registerLoginPages(app, deps);
  registerDeploymentListPages(app, deps, api);
  registerDeploymentPages(app, deps, api);
  registerApprovalPages(app, deps, api);
  registerClusterPages(app, deps);
  registerMatrixPages(app, deps);
  // before the module pages: /ui/modules/{name}/impact is not a version
  registerImpactPages(app, deps);
  registerModulePages(app, deps);
  registerSecretPages(app, deps, api);
  registerAuditPages(app, deps);
  app.all("/ui/*", (c) => errorPage(c, deps, 404, `There is no dashboard page at ${c.req.path}.`));
}
