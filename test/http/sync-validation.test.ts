// openapiSync (src/http/routes/sync-validation.ts) against the plain definition, app.openapi with
// @hono/zod-openapi's validators: the same answers, validated data and OpenAPI document for the
// same route over valid and invalid queries, paths, media types and JSON bodies.
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { AppEnv } from "../../src/http/env.js";
import { fieldErrors, problem } from "../../src/http/problem.js";
import { openapiSync } from "../../src/http/routes/sync-validation.js";

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

/** an app with the route registered one way or the other, and its OpenAPI document at /doc */
function appWith(register: (a: OpenAPIHono<AppEnv>) => void) {
  const a = new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (!result.success) return problem(c, 400, `request ${result.target} is invalid`, { errors: fieldErrors(result.error.issues, result.target) });
    },
  });
  register(a);
  a.doc31("/doc", { openapi: "3.1.0", info: { title: "t", version: "1" } });
  return a;
}

/** The same status, content type and body (but the problem's instance, a request id) from both apps, and the same document. */
async function sameAnswers(plain: OpenAPIHono<AppEnv>, sync: OpenAPIHono<AppEnv>, requests: [string, RequestInit][]) {
  const strip = (s: string) => s.replace(/"instance":"[^"]*",?/g, "");
  for (const [path, init] of requests) {
    const what = `${init.method ?? "GET"} ${path} ${JSON.stringify(init.headers ?? {})} ${String(init.body)}`;
    const [a, b] = await Promise.all([plain.request(path, init), sync.request(path, init)]);
    assert.is(b.status, a.status, what);
    assert.is(b.headers.get("content-type"), a.headers.get("content-type"), what);
    assert.is(strip(await b.text()), strip(await a.text()), what);
  }
  assert.is(await (await sync.request("/doc")).text(), await (await plain.request("/doc")).text());
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
  const plain = appWith((a) => a.openapi(route, (c) => c.json({ param: c.req.valid("param"), query: c.req.valid("query") }, 200)));
  const sync = appWith((a) => openapiSync(a, route, (c) => c.json({ param: c.req.valid("param"), query: c.req.valid("query") }, 200)));
  await sameAnswers(plain, sync, requests.map(([path, headers]) => [path, { headers }]));
});

const postRoute = createRoute({
  method: "post",
  path: "/things/{id}/report",
  request: {
    params: z.object({ id: z.string().uuid() }),
    body: {
      required: true,
      content: {
        "application/json": {
          schema: z.strictObject({ outcome: z.enum(["ok", "failed"]), durationMs: z.number().min(0), note: z.string().max(5).optional(), tags: z.record(z.string(), z.string()).optional() }),
        },
      },
    },
  },
  responses: { 200: { description: "ok", content: { "application/json": { schema: z.object({}) } } } },
});

const JSON_TYPE = { "content-type": "application/json" };
const posts: [string, Record<string, string>, string | undefined][] = [
  [`/things/${id}/report`, JSON_TYPE, `{"outcome":"ok","durationMs":5}`],
  [`/things/${id}/report`, { "content-type": "application/json; charset=utf-8" }, `{"outcome":"failed","durationMs":0,"note":"abc","tags":{"constructor":"x","__proto__":"y"}}`],
  [`/things/${id}/report`, { "content-type": "APPLICATION/JSON" }, `{"outcome":"ok","durationMs":1}`],
  [`/things/${id}/report`, { "content-type": "application/vnd.api+json" }, `{"outcome":"ok","durationMs":1}`],
  [`/things/${id}/report`, { "content-type": "application/json;charset" }, `{"outcome":"ok","durationMs":1}`],
  [`/things/${id}/report`, JSON_TYPE, `{"outcome":"ok","durationMs":-1,"extra":1}`],
  [`/things/${id}/report`, JSON_TYPE, `{"outcome":`],
  [`/things/${id}/report`, JSON_TYPE, ``],
  [`/things/${id}/report`, JSON_TYPE, `[]`],
  [`/things/${id}/report`, JSON_TYPE, `null`],
  [`/things/${id}/report`, { "content-type": "text/plain" }, `{"outcome":"ok","durationMs":1}`],
  [`/things/${id}/report`, { "content-type": "application/x_y+json" }, `{"outcome":"ok","durationMs":1}`],
  [`/things/${id}/report`, {}, `{"outcome":"ok","durationMs":1}`],
  [`/things/${id}/report`, {}, undefined],
  [`/things/not-a-uuid/report`, JSON_TYPE, `{"outcome":"nope"}`],
  [`/things/not-a-uuid/report`, { "content-type": "text/plain" }, `x`],
];

test("a JSON body: the same status, body and validated data as app.openapi for each media type and body, and the same document", async () => {
  const plain = appWith((a) => a.openapi(postRoute, (c) => c.json({ param: c.req.valid("param"), json: c.req.valid("json") }, 200)));
  const sync = appWith((a) => openapiSync(a, postRoute, (c) => c.json({ param: c.req.valid("param"), json: c.req.valid("json") }, 200)));
  await sameAnswers(plain, sync, posts.map(([path, headers, body]) => [path, { method: "POST", headers, body }]));
});

test.run();
