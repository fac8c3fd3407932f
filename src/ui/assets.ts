import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../http/env.js";

const fromPackage = createRequire(import.meta.url).resolve;
const own = (name: string) => fileURLToPath(new URL(`./static/${name}`, import.meta.url));

/** Everything the dashboard loads: from node_modules and src/ui/static, never from a CDN. */
const SOURCES: Record<string, { file: () => string; type: string }> = {
  "htmx.min.js": { file: () => fromPackage("htmx.org/dist/htmx.min.js"), type: "text/javascript; charset=utf-8" },
  "sse.min.js": { file: () => fromPackage("htmx-ext-sse/dist/sse.min.js"), type: "text/javascript; charset=utf-8" },
  "uPlot.iife.min.js": { file: () => fromPackage("uplot/dist/uPlot.iife.min.js"), type: "text/javascript; charset=utf-8" },
  "uPlot.min.css": { file: () => fromPackage("uplot/dist/uPlot.min.css"), type: "text/css; charset=utf-8" },
  "ui.css": { file: () => own("ui.css"), type: "text/css; charset=utf-8" },
  "ui.js": { file: () => own("ui.js"), type: "text/javascript; charset=utf-8" },
  "charts.js": { file: () => own("charts.js"), type: "text/javascript; charset=utf-8" },
};
export type AssetName = keyof typeof SOURCES & string;

interface Asset {
  body: Buffer;
  type: string;
  /** a digest of the bytes: part of the URL, so a changed file is a new URL and the old one may be cached for ever */
  version: string;
}

/** read once, on first use; a Map because the name comes from the URL */
const loaded = new Map<string, Asset>();
function asset(name: string): Asset | undefined {
  const known = loaded.get(name);
  if (known) return known;
  if (!Object.hasOwn(SOURCES, name)) return undefined;
  const source = SOURCES[name]!;
  const body = readFileSync(source.file());
  const loadedAsset = { body, type: source.type, version: createHash("sha256").update(body).digest("base64url").slice(0, 12) };
  loaded.set(name, loadedAsset);
  return loadedAsset;
}

/** the URL of an asset, versioned by its content */
export function assetUrl(name: AssetName): string {
  return `/ui/assets/${asset(name)!.version}/${name}`;
}

const YEAR_SECONDS = 365 * 24 * 3600;

export function registerAssets(app: OpenAPIHono<AppEnv>): void {
  app.get("/ui/assets/:version/:name", (c) => {
    const found = asset(c.req.param("name"));
    if (!found) return c.text("no such asset", 404);
    // an old version's URL still answers (a page rendered before a restart), just not cached long
    const current = c.req.param("version") === found.version;
    return c.body(new Uint8Array(found.body), 200, {
      "content-type": found.type,
      "cache-control": current ? `public, max-age=${YEAR_SECONDS}, immutable` : "no-cache",
      "x-content-type-options": "nosniff",
    });
  });
}
