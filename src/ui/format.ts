import { html, none, type Html } from "./html.js";

/** 2026-03-01 14:05:09 UTC: one unambiguous zone for everyone reading the same page */
export function utc(iso: string | null | undefined): string {
  if (!iso) return "";
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  return new Date(ms).toISOString().replace("T", " ").replace(/\.\d{3}Z$/, " UTC");
}

export function time(iso: string | null | undefined): Html {
  return iso ? html`<time datetime="${iso}">${utc(iso)}</time>` : none;
}

/** "42 s", "5 min", "3 h", "2 d" */
export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 90) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 90) return `${m} min`;
  const h = Math.round(m / 60);
  if (h < 36) return `${h} h`;
  return `${Math.round(h / 24)} d`;
}

export function age(iso: string | null | undefined, nowMs: number): Html {
  if (!iso) return none;
  return html`<time datetime="${iso}" title="${utc(iso)}">${duration(nowMs - Date.parse(iso))} ago</time>`;
}

export function took(from: string | null | undefined, to: string | null | undefined, nowMs: number): string {
  if (!from) return "";
  const end = to ? Date.parse(to) : nowMs;
  return `${duration(end - Date.parse(from))}${to ? "" : " so far"}`;
}

/** a class name from a status word: lower case letters and dashes only, so it can never break out of the attribute */
export const cls = (word: string | null | undefined) => (word ?? "unknown").replace(/([a-z])([A-Z])/g, "$1-$2").toLowerCase().replace(/_/g, "-").replace(/[^a-z-]/g, "");

export function badge(status: string): Html {
  return html`<span class="badge s-${cls(status)}">${status}</span>`;
}

export function percent(n: number): string {
  return `${Math.round(n)} %`;
}

export function progressBar(progress: number, label: string): Html {
  return html`<progress max="100" value="${Math.round(progress)}" aria-label="${label}">${percent(progress)}</progress> <span class="num">${percent(progress)}</span>`;
}

export const round = (x: number, digits = 3) => {
  const f = 10 ** digits;
  return String(Math.round(x * f) / f);
};
