// openapiSyncParams (src/http/routes/sync-params.ts) against the plain definition, app.openapi with
// @hono/zod-openapi's validators: the same answers, validated data and OpenAPI document for the
// same route over valid and invalid queries and paths.
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { AppEnv } from "../../src/http/env.js";
import { fieldErrors, problem } from "../../src/http/problem.js";
import { openapiSyncParams } from "../../src/http/routes/sync-params.js";

const route = createRoute({
  method: "get",
  path: "/things/{id}",
  middleware: [
    async (c, next) => {
      if (c.req.header("x-deny")) return c.text("denied", 403);
      await next();
    },
  ],
  request: {
    params: z.object({ id: z.string().uuid() }),
    query: z.object({
      limit: z.coerce.number().int().min(1).max(200).default(50),
      at: z.iso.datetime({ offset: true }).optional(),
      tag: z.string().max(3).optional(),
    }),
  },
  responses: { 200: { description: "ok", content: { "application/json": { schema: z.object({}) } } } },
});

function app(sync: boolean) {
  const a = new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (!result.success) return problem(c, 400, `request ${result.target} is invalid`, { errors: fieldErrors(result.error.issues, result.target) });
    },
  });
  if (sync) openapiSyncParams(a, route, (c) => c.json({ param: c.req.valid("param"), query: c.req.valid("query") }, 200));
  else a.openapi(route, (c) => c.json({ param: c.req.valid("param"), query: c.req.valid("query") }, 200));
  a.doc31("/doc", { openapi: "3.1.0", info: { title: "t", version: "1" } });
  return a;
}

const id = "8d7c2f59-7b8e-4f7a-9c55-0e6c1a2b3c4d";
const requests: [string, Record<string, string>?][] = [
  [`/things/${id}`],
  [`/things/${id}?limit=7`],
  [`/things/${id}?limit=0`],
  [`/things/${id}?limit=abc&at=nope`],
  [`/things/${id}?limit=1&limit=2`],
  [`/things/${id}?at=2026-01-01T00:00:00Z&tag=ab`],
  [`/things/${id}?tag=toolong`],
  [`/things/${id}?tag=a%20b&extra=1`],
  [`/things/not-a-uuid`],
  [`/things/not-a-uuid?limit=0`],
  [`/things/${id}`, { "x-deny": "1" }],
];

test("the same status, body and validated data as app.openapi, and the same document", async () => {
  const plain = app(false);
  const sync = app(true);
  for (const [path, headers] of requests) {
    const [a, b] = await Promise.all([plain.request(path, { headers }), sync.request(path, { headers })]);
    assert.is(b.status, a.status, path);
    assert.is(b.headers.get("content-type"), a.headers.get("content-type"), path);
    const strip = (s: string) => s.replace(/"instance":"[^"]*",?/g, "");
    assert.is(strip(await b.text()), strip(await a.text()), path);
  }
  assert.is(await (await sync.request("/doc")).text(), await (await plain.request("/doc")).text());
});

test.run();
