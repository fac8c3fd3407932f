// What every answer carries and counts, whoever answered it: the route, requireRoles, the rate
// limiter, the body-size check or no route at all (src/http/edge.ts and the identity layer in
// app.ts, which replaced five middleware of their own).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";

const SECURITY_HEADERS = [
  "cross-origin-resource-policy",
  "cross-origin-opener-policy",
  "origin-agent-cluster",
  "referrer-policy",
  "strict-transport-security",
  "x-content-type-options",
  "x-dns-prefetch-control",
  "x-download-options",
  "x-frame-options",
  "x-permitted-cross-domain-policies",
  "x-xss-protection",
];

const t = suite<{ s: TestServer }>("edge: request id, security headers, duration metric");
t.before(async (ctx) => {
  ctx.s = await startTestServer({ RATE_LIMIT_ENABLED: "true", RATE_LIMITS: JSON.stringify({ queries: 3 }) });
});
t.after(async (ctx) => ctx.s.stop());

/** count of http_request_duration_seconds observations per "method route status" */
async function counts(s: TestServer): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const v of (await s.deps.metrics.httpRequestDuration.get()).values) {
    if (!v.metricName?.endsWith("_count")) continue;
    out.set(`${v.labels.method} ${v.labels.route} ${v.labels.status}`, v.value);
  }
  return out;
}

function assertEdgeHeaders(res: Response, what: string): void {
  assert.match(res.headers.get("x-request-id") ?? "", /^[\w-]+$/, `${what}: X-Request-Id`);
  for (const h of SECURITY_HEADERS) assert.ok(res.headers.get(h), `${what}: ${h}`);
}

t("every answer has the headers and is counted under its route pattern, or unmatched", async ({ s }) => {
  const token = await s.login(...DEMO.viewer);
  const before = await counts(s);
  const ok = await s.call("/api/v1/authentication/me", { token, headers: { "x-request-id": "edge-1" } });
  assert.is(ok.status, 200);
  assert.is(ok.headers.get("x-request-id"), "edge-1");
  assert.ok(ok.headers.get("ratelimit"), "the rate limiter's headers");
  assert.ok(ok.headers.get("x-read-position"), "read consistency's header");
  const noToken = await s.call("/api/v1/authentication/me");
  assert.is(noToken.status, 401);
  const missing = await s.call("/api/v1/nope", { token });
  assert.is(missing.status, 404);
  const big = await s.call("/api/v1/authentication/login", { method: "POST", json: { username: "a", password: "x".repeat(200_000) } });
  assert.is(big.status, 413);
  assert.is(big.headers.get("connection"), "close");
  let limited: Response | undefined;
  for (let i = 0; i < 5 && limited === undefined; i++) {
    const res = await s.call("/api/v1/deployments", { token });
    if (res.status === 429) limited = res;
    else await res.arrayBuffer();
  }
  assert.ok(limited, "the queries limit of 3 answers 429");
  for (const [what, res] of [["200", ok], ["401", noToken], ["404", missing], ["413", big], ["429", limited!]] as const) {
    assertEdgeHeaders(res, what);
    await res.arrayBuffer();
  }
  const after = await counts(s);
  const added = (key: string) => (after.get(key) ?? 0) - (before.get(key) ?? 0);
  assert.is(added("GET /api/v1/authentication/me 200"), 1);
  assert.is(added("GET /api/v1/authentication/me 401"), 1);
  // (the last layer the request passed under /api was read consistency's, registered on /api/*)
  assert.is(added("GET /api/* 404"), 1);
  assert.is(added("POST unmatched 413"), 1);
  assert.is(added("GET unmatched 429"), 1);
});

t("a chunked body (no Content-Length) is counted as it arrives: 413 over BODY_LIMIT_BYTES, the route's answer under it", async ({ s }) => {
  const chunked = (text: string) =>
    fetch(`${s.url}/api/v1/authentication/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: new Response(text).body,
      duplex: "half",
    } as RequestInit);
  const before = await counts(s);
  const big = await chunked(JSON.stringify({ username: "a", password: "x".repeat(200_000) }));
  assert.is(big.status, 413);
  assert.is(big.headers.get("connection"), "close");
  assertEdgeHeaders(big, "chunked 413");
  await big.arrayBuffer();
  const small = await chunked(JSON.stringify({ username: "nobody", password: "wrong-password" }));
  assert.is(small.status, 401, "under the limit the body reaches the route");
  await small.arrayBuffer();
  const after = await counts(s);
  assert.is((after.get("POST unmatched 413") ?? 0) - (before.get("POST unmatched 413") ?? 0), 1);
});

t("a route that throws (a read store failing) answers 500 and is still counted and given the headers", async ({ s }) => {
  const token = await s.login(...DEMO.deployer);
  const store = s.deps.readStore;
  const collection = store.collection.bind(store);
  store.collection = ((name: string) => {
    const c = collection(name);
    if (name !== "deployments") return c;
    return new Proxy(c, { get: (target, key, receiver) => (key === "get" ? async () => Promise.reject(new Error("read store down")) : Reflect.get(target, key, receiver)) });
  }) as typeof store.collection;
  const before = await counts(s);
  let res: Response;
  try {
    res = await s.call("/api/v1/deployments/8d7c2f59-7b8e-4f7a-9c55-0e6c1a2b3c4d", { token, headers: { "x-request-id": "edge-500" } });
  } finally {
    store.collection = collection;
  }
  assert.is(res.status, 500);
  assert.is(res.headers.get("x-request-id"), "edge-500");
  assertEdgeHeaders(res, "500");
  await res.arrayBuffer();
  const after = await counts(s);
  const key = "GET /api/v1/deployments/:id 500";
  assert.is((after.get(key) ?? 0) - (before.get(key) ?? 0), 1);
});

t.run();
