import type { Context, MiddlewareHandler } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { DomainError } from "../commands/errors.js";
import type { AppDeps, AppEnv } from "../http/env.js";
import { STATUS_BY_CODE } from "../http/problem.js";
import type { DeploymentDoc } from "../projections/deployments.js";
import { csrfOf } from "./csrf.js";
import { html, type Html } from "./html.js";
import { isAdmin, layout, notice, pendingBadge, type PageOptions, type Section } from "./layout.js";
import type { Viewer } from "./session.js";
import type { Role } from "../events/catalog/user.js";

/** the signed-in viewer; pages are only reached with one (requireSession) */
export function viewerOf(c: Context<AppEnv>): Viewer {
  const principal = c.get("principal");
  if (!principal) throw new DomainError("unauthorized", "sign in first");
  return { principal, csrf: csrfOf(c, principal) };
}

export async function pendingApprovals(deps: AppDeps): Promise<DeploymentDoc[]> {
  return deps.readStore
    .collection<DeploymentDoc>("deployments")
    .find({ status: "PendingApproval" }, { sort: { createdAt: 1 }, projection: { state: 0 } });
}

/** the pending count for the navigation: Admins only (the only ones who can act on it) */
export async function navCount(deps: AppDeps, viewer: Viewer): Promise<number | null> {
  return isAdmin(viewer.principal) ? deps.readStore.collection<DeploymentDoc>("deployments").count({ status: "PendingApproval" }) : null;
}

/** the navigation's count as a live fragment (its "approvals-count" target), for Admins; nothing for others */
export async function navCountFragment(deps: AppDeps, viewer: Viewer): Promise<Record<string, string>> {
  const count = await navCount(deps, viewer);
  return count === null ? {} : { "approvals-count": pendingBadge(count) };
}

export async function render(
  c: Context<AppEnv>,
  deps: AppDeps,
  options: Omit<PageOptions, "viewer" | "pendingCount">,
  status: ContentfulStatusCode = 200,
): Promise<Response> {
  const viewer = c.get("principal") ? viewerOf(c) : null;
  const pendingCount = viewer ? await navCount(deps, viewer) : null;
  return c.html(layout({ ...options, viewer, pendingCount }), status);
}

const TITLES: Partial<Record<number, string>> = {
  400: "That request was not valid",
  401: "Please sign in",
  403: "Not allowed",
  404: "Not found",
  409: "Not possible now",
  423: "Account locked",
  429: "Too many requests",
  503: "Unavailable",
};

export function errorPage(c: Context<AppEnv>, deps: AppDeps, status: ContentfulStatusCode, detail: string | Html, section: Section = "none"): Promise<Response> {
  const title = TITLES[status] ?? "Something went wrong";
  return render(c, deps, { title, section, body: html`<h1>${title}</h1>${notice("error", detail)}<p><a href="/ui/deployments">Back to deployments</a></p>` }, status);
}

/** a 403 that says which role the page or action needs, and which roles the viewer has */
export function forbidden(c: Context<AppEnv>, deps: AppDeps, what: string, roles: Role[], section: Section = "none"): Promise<Response> {
  const p = c.get("principal");
  const need = roles.length === 1 ? `the ${roles[0]} role` : `one of the roles ${roles.join(", ")}`;
  const have = p ? ` You are signed in as ${p.sub} with ${p.roles.join(", ") || "no roles"}.` : "";
  return errorPage(c, deps, 403, `${what} needs ${need}.${have}`, section);
}

/**
 * Domain errors thrown by a page become pages in words (404, 409, 400 ...), never a stack trace
 * or the API's JSON. Hono hands a thrown error to the app's error handler and leaves it in
 * c.error; this replaces that handler's problem+json with a page.
 */
export function pageErrors(deps: AppDeps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    await next();
    const err = c.error;
    if (!(err instanceof DomainError)) return;
    const res = await errorPage(c, deps, STATUS_BY_CODE[err.code], err.message);
    if (typeof err.details.retryAfterSeconds === "number") res.headers.set("Retry-After", String(err.details.retryAfterSeconds));
    c.res = undefined;
    c.res = res;
  };
}

export const see303 = (c: Context, location: string) => c.redirect(location, 303);
