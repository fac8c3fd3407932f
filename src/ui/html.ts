import { html as honoHtml, raw } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";

/** Markup whose every interpolated value has been escaped (or was itself Html). */
export type Html = HtmlEscapedString;

/**
 * Hono's `html` tag, always synchronous: it answers a Promise only when a value is one, and every
 * page here awaits its data before rendering. Strings and numbers are escaped; Html nests as is.
 */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  const out = honoHtml(strings, ...values);
  if (out instanceof Promise) throw new TypeError("ui: a Promise was interpolated; await it before rendering");
  return out;
}

/** nothing, as markup (for conditionals) */
export const none: Html = raw("");

export const join = (parts: Html[]): Html => html`${parts}`;
