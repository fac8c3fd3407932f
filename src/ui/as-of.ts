import type { Context } from "hono";
import { DomainError } from "../commands/errors.js";
import { positionAt } from "../graph/instant.js";
import { NOW } from "../graph/reader.js";
import type { AppDeps } from "../http/env.js";
import { resolveInstant } from "../http/routes/time-travel.js";
import { html, none, type Html } from "./html.js";
import { utc } from "./format.js";

export interface AsOf {
  iso: string;
  ms: number;
}

const LOCAL_INPUT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?$/;

/**
 * The instant the "As of" picker asked for, validated like the API's `?at=` (parseable, not in
 * the future), or null for now. ui.js turns the picker's local time into `at` (ISO, UTC) before
 * the form is sent; without scripts the picker's value is read as UTC, which the page says.
 */
export function asOfFrom(c: Context, nowMs: number): AsOf | null {
  const at = c.req.query("at")?.trim();
  const local = c.req.query("asOf")?.trim();
  let raw: string | undefined;
  if (at) raw = at;
  else if (local && LOCAL_INPUT.test(local)) raw = `${local}Z`;
  else if (local) raw = local;
  if (!raw) return null;
  const iso = resolveInstant(raw, nowMs);
  return { iso, ms: Date.parse(iso) };
}

/** the knowledge graph at an instant, as the API's ?at= reads it: the last event at or before it */
export async function graphPoint(deps: Pick<AppDeps, "log" | "projections" | "config">, asOf: AsOf | null): Promise<number> {
  if (!asOf) return NOW;
  const position = await positionAt(deps.log, asOf.iso);
  if (deps.projections.position() < position && !(await deps.projections.waitFor(position, deps.config.readWaitTimeoutMs))) {
    throw new DomainError("unavailable", `the graph has not reached position ${position} (as of ${asOf.iso}) yet`);
  }
  return position;
}

/** a GET form with the "As of" datetime-local picker; `keep` are other query values to carry along */
export function asOfPicker(action: string, asOf: AsOf | null, keep: Record<string, string | undefined> = {}): Html {
  const value = asOf ? asOf.iso.slice(0, 19) : "";
  const hidden = Object.entries(keep)
    .filter((e): e is [string, string] => typeof e[1] === "string" && e[1] !== "")
    .map(([name, v]) => html`<input type="hidden" name="${name}" value="${v}">`);
  return html`<form class="as-of" method="get" action="${action}" role="search" aria-label="Time travel">
    ${hidden}
    <label for="as-of">As of</label>
    <input type="datetime-local" id="as-of" name="asOf" step="1" value="${value}" data-utc="${asOf?.iso ?? ""}" data-iso-target="at" aria-describedby="as-of-hint">
    <input type="hidden" name="at" value="">
    <button type="submit">Show</button>
    ${asOf ? html`<a class="button" href="${action}">Back to now</a>` : none}
    <small id="as-of-hint">your browser's local time</small>
  </form>`;
}

/** the banner a page in the past carries */
export function pastBanner(asOf: AsOf | null): Html {
  return asOf
    ? html`<p class="notice past" role="status">Showing the state as of <time datetime="${asOf.iso}">${utc(asOf.iso)}</time>. It does not update live and offers no actions.</p>`
    : none;
}
