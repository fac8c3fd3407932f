// Hostile input against every route family: whatever arrives, the answer is never a 5xx, and every
// refusal is problem+json (RFC 9457) without a stack trace. Table-driven: add a row (or a route
// template, or a hostile value) to cover more; each row names what it sends.
import { connect } from "node:net";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";

type Who = "anonymous" | "admin" | "viewer" | "node";
interface Case {
  name: string;
  method: string;
  path: string;
  who: Who;
  headers?: Record<string, string>;
  body?: string;
  /** the exact status when it is certain; otherwise any 2xx-4xx passes */
  status?: number;
}

/** Path parameters that have broken lookups, decoders or logs elsewhere. */
const HOSTILE_PARAMS = [
  "constructor",
  "__proto__",
  "toString",
  "hasOwnProperty",
  "%00",
  "a%00b",
  "%E0%A4%A", // broken percent-encoding
  "%25",
  "..%2F..%2Fadmin",
  "%F0%9F%98%80",
  "%20",
  "-1",
  "1e400",
  "99999999999999999999999",
  "x".repeat(6000),
];

/** Route templates per family; `{p}` is replaced by each hostile value (for the other params a sane one). */
const TEMPLATES: { family: string; method: string; path: string; who: Who; body?: string }[] = [
  { family: "deployments", method: "GET", path: "/api/v1/deployments/{p}", who: "viewer" },
  { family: "deployments", method: "GET", path: "/api/v1/deployments/{p}?at=2020-01-01T00:00:00Z", who: "viewer" },
  { family: "deployments", method: "GET", path: "/api/v1/deployments/{p}/history", who: "viewer" },
  { family: "deployments", method: "GET", path: "/api/v1/deployments/{p}/events", who: "viewer" },
  { family: "deployments", method: "POST", path: "/api/v1/deployments/{p}/pause", who: "admin" },
  { family: "deployments", method: "POST", path: "/api/v1/deployments/{p}/rollback", who: "admin", body: '{"reason":"r"}' },
  { family: "approvals", method: "GET", path: "/api/v1/approvals/deployments/{p}", who: "viewer" },
  { family: "approvals", method: "POST", path: "/api/v1/approvals/deployments/{p}/approve", who: "admin", body: "{}" },
  { family: "approvals", method: "POST", path: "/api/v1/approvals/deployments/{p}/reject", who: "admin", body: '{"reason":"no"}' },
  { family: "clusters", method: "GET", path: "/api/v1/clusters/{p}", who: "viewer" },
  { family: "clusters", method: "GET", path: "/api/v1/clusters/{p}/metrics", who: "viewer" },
  { family: "clusters", method: "POST", path: "/api/v1/clusters/QA/nodes/{p}/reset-credential", who: "admin" },
  { family: "clusters", method: "POST", path: "/api/v1/clusters/{p}/nodes/n1/reset-credential", who: "admin" },
  { family: "audit", method: "GET", path: "/api/v1/audit-logs/{p}", who: "admin" },
  { family: "users", method: "POST", path: "/api/v1/users/{p}/disable", who: "admin" },
  { family: "users", method: "POST", path: "/api/v1/users/{p}/enable", who: "admin" },
  { family: "users", method: "PUT", path: "/api/v1/users/{p}/roles", who: "admin", body: '{"roles":["Viewer"]}' },
  { family: "users", method: "PUT", path: "/api/v1/users/{p}/password", who: "admin", body: '{"password":"A-long-enough-passphrase-1"}' },
  { family: "agents", method: "POST", path: "/api/v1/agents/{p}/heartbeat", who: "node", body: '{"metrics":{"cpu":1,"memory":1,"latencyP95Ms":1,"errorRate":0,"requestRate":1}}' },
  { family: "agents", method: "GET", path: "/api/v1/agents/{p}/desired-state?after=0&waitSeconds=0", who: "node" },
  { family: "agents", method: "GET", path: "/api/v1/agents/{p}/desired-state/stream", who: "node" },
  { family: "agents", method: "POST", path: "/api/v1/agents/{p}/reports", who: "node", body: '{"assignmentId":"x","outcome":"succeeded","durationMs":1}' },
  { family: "agents", method: "DELETE", path: "/api/v1/agents/{p}", who: "admin" },
];

const big = "9".repeat(5000);
// long, but within Node's 16 KiB header limit, so the app itself must cope (beyond it, see RAW)
const long = "q".repeat(8000);
const QUERIES: { family: string; path: string; who: Who }[] = [
  ...["limit=99999999999999999999", "limit=-1", "limit=1e400", "limit=0x10", `limit=${big}`, `cursor=${long}`, "cursor=%00", "cursor=__proto__", `environment=${long}`, "environment=constructor", "status=__proto__", `moduleName=${long}`, "limit=1&limit=2", "minPosition=99999999999999999999", "minPosition=-5", `minPosition=${big}`].map(
    (q) => ({ family: "deployments", path: `/api/v1/deployments?${q}`, who: "viewer" as Who }),
  ),
  ...["environment=__proto__", `environment=${long}`, "lastEventId=99999999999999999999999"].map((q) => ({ family: "deployments", path: `/api/v1/deployments/events?${q}`, who: "viewer" as Who })),
  ...["at=", "at=%00", `at=${long}`, `at=${big}`, "at=-1", "at=1e400", "at=2020-13-45T99:99:99Z", "at=0"].map((q) => ({ family: "clusters", path: `/api/v1/clusters/QA?${q}`, who: "viewer" as Who })),
  ...["at=%00", `at=${long}`, "at=2020-13-45T99:99:99Z"].map((q) => ({ family: "deployments", path: `/api/v1/deployments/00000000-0000-4000-8000-000000000000?${q}`, who: "viewer" as Who })),
  ...[`from=${big}`, "from=-1&to=1", `step=${big}`, "step=0", "step=1ms&from=0&to=99999999999999", `from=${long}`, "from=__proto__"].map((q) => ({ family: "clusters", path: `/api/v1/clusters/QA/metrics?${q}`, who: "viewer" as Who })),
  ...["limit=99999999999999999999", `type=${long}`, "type=__proto__,constructor", `actor=${long}`, "stream=*", `stream=${"*".repeat(5000)}`, "from=garbage", `to=${big}`, "order=sideways", `cursor=${long}`, "environment=toString"].map(
    (q) => ({ family: "audit", path: `/api/v1/audit-logs?${q}`, who: "admin" as Who }),
  ),
  ...[`from=${big}`, "from=-1", "from=__proto__", `to=${big}`].map((q) => ({ family: "audit", path: `/api/v1/audit-logs/verify?${q}`, who: "admin" as Who })),
  ...["after=-1", `after=${big}`, "waitSeconds=99999999", "waitSeconds=-1", `after=${long}`].map((q) => ({ family: "agents", path: `/api/v1/agents/{self}/desired-state?${q}`, who: "node" as Who })),
];

const MALFORMED_BODIES = ['{"moduleName":', "[", "null", "42", '"string"', "{}", '{"__proto__":{"roles":["Admin"]}}', "[".repeat(20_000) + "]".repeat(20_000), '{"a":' + "1".repeat(5000) + "}", "\u0000", "\ufeff{}"];
const BODY_ROUTES: { family: string; method: string; path: string; who: Who }[] = [
  { family: "deployments", method: "POST", path: "/api/v1/deployments", who: "admin" },
  { family: "deployments", method: "POST", path: "/api/v1/deployments/00000000-0000-4000-8000-000000000000/abort", who: "admin" },
  { family: "approvals", method: "POST", path: "/api/v1/approvals/deployments/00000000-0000-4000-8000-000000000000/approve", who: "admin" },
  { family: "users", method: "POST", path: "/api/v1/users", who: "admin" },
  { family: "users", method: "PUT", path: "/api/v1/users/viewer/roles", who: "admin" },
  { family: "users", method: "PUT", path: "/api/v1/users/nobody/password", who: "admin" },
  { family: "agents", method: "POST", path: "/api/v1/agents/register", who: "anonymous" },
  { family: "agents", method: "POST", path: "/api/v1/agents/{self}/heartbeat", who: "node" },
  { family: "agents", method: "POST", path: "/api/v1/agents/{self}/reports", who: "node" },
  { family: "auth", method: "POST", path: "/api/v1/authentication/login", who: "anonymous" },
  { family: "auth", method: "POST", path: "/api/v1/authentication/password", who: "viewer" },
];
const WRONG_TYPES = ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json; charset=utf-16", "application/xml", "", "application/json, text/plain"];

const HEADERS: { name: string; path: string; who: Who; headers: Record<string, string> }[] = [
  { name: "huge Last-Event-ID", path: "/api/v1/deployments/events", who: "viewer", headers: { "last-event-id": big } },
  { name: "negative Last-Event-ID", path: "/api/v1/deployments/events", who: "viewer", headers: { "last-event-id": "-1" } },
  { name: "garbage bearer", path: "/api/v1/deployments", who: "anonymous", headers: { authorization: "Bearer " + "a.b.c" } },
  { name: "long bearer", path: "/api/v1/clusters", who: "anonymous", headers: { authorization: "Bearer " + "x".repeat(8000) } },
  { name: "basic auth", path: "/api/v1/audit-logs", who: "anonymous", headers: { authorization: "Basic YWRtaW46QWRtaW4xMjMh" } },
  { name: "bearer with no token", path: "/api/v1/authentication/me", who: "anonymous", headers: { authorization: "Bearer" } },
  { name: "alg none token", path: "/api/v1/users/viewer/disable", who: "anonymous", headers: { authorization: "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9." } },
];

/** Requests Node's HTTP parser refuses before the app sees them, sent as raw bytes. */
const RAW: { name: string; request: string; status: number }[] = [
  { name: "headers over 16 KiB", request: `GET /api/v1/deployments?q=${"q".repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`, status: 431 },
  { name: "one huge header", request: `GET /api/v1/clusters HTTP/1.1\r\nHost: x\r\nX-Big: ${"b".repeat(20_000)}\r\n\r\n`, status: 431 },
  { name: "space in the path", request: "GET /api/v1/deployments/a b HTTP/1.1\r\nHost: x\r\n\r\n", status: 400 },
  { name: "NUL in the path", request: "GET /api/v1/\u0000 HTTP/1.1\r\nHost: x\r\n\r\n", status: 400 },
  { name: "control character in a header", request: "GET /api/v1/clusters HTTP/1.1\r\nHost: x\r\nX-Bad: a\u0001b\r\n\r\n", status: 400 },
  { name: "invalid method", request: "G@T /api/v1/clusters HTTP/1.1\r\nHost: x\r\n\r\n", status: 400 },
  { name: "Content-Length and Transfer-Encoding", request: "POST /api/v1/deployments HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 400 },
  { name: "two Content-Lengths", request: "POST /api/v1/authentication/login HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", status: 400 },
  { name: "not HTTP at all", request: "\u0016\u0003\u0001\u0000\u00a5\u0001\u0000\u0000\u00a1\u0003\u0003\r\n\r\n", status: 400 },
];

/** Sends raw bytes and reads until the server closes: status, content type and body. */
function rawRequest(url: string, request: string): Promise<{ status: number; type: string; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let text = "";
    socket.setTimeout(30_000, () => socket.destroy(new Error("no answer within 30 s")));
    socket.on("data", (d) => (text += d.toString("latin1")));
    socket.on("error", reject);
    socket.on("close", () => {
      const [head = "", ...rest] = text.split("\r\n\r\n");
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? NaN);
      const type = /\r\ncontent-type: *([^\r]*)/i.exec(head)?.[1] ?? "";
      resolve({ status, type, body: rest.join("\r\n\r\n") });
    });
    socket.end(Buffer.from(request, "latin1"));
  });
}

function cases(nodeId: string): Case[] {
  const out: Case[] = [];
  const self = (path: string) => path.replaceAll("{self}", nodeId);
  for (const t of TEMPLATES) {
    for (const p of HOSTILE_PARAMS) {
      const headers: Record<string, string> = t.body ? { "content-type": "application/json" } : {};
      out.push({ name: `${t.family}: ${t.method} ${t.path} with {p}=${p.slice(0, 20)}`, method: t.method, path: t.path.replace("{p}", p), who: t.who, headers, body: t.body });
    }
  }
  for (const q of QUERIES) out.push({ name: `${q.family}: GET ${q.path.slice(0, 90)}`, method: "GET", path: self(q.path), who: q.who });
  for (const r of BODY_ROUTES) {
    for (const body of MALFORMED_BODIES) {
      out.push({ name: `${r.family}: ${r.method} ${r.path} with body ${JSON.stringify(body.slice(0, 30))}`, method: r.method, path: self(r.path), who: r.who, headers: { "content-type": "application/json" }, body });
    }
    for (const type of WRONG_TYPES) {
      const headers: Record<string, string> = type ? { "content-type": type } : {};
      out.push({ name: `${r.family}: ${r.method} ${r.path} as ${type || "no content type"}`, method: r.method, path: self(r.path), who: r.who, headers, body: "moduleName=x&version=1" });
    }
    out.push({ name: `${r.family}: ${r.method} ${r.path} over the body limit`, method: r.method, path: self(r.path), who: r.who, headers: { "content-type": "application/json" }, body: `{"a":"${"x".repeat(70_000)}"}`, status: 413 });
  }
  for (const h of HEADERS) out.push({ name: `header: ${h.name}`, method: "GET", path: h.path, who: h.who, headers: h.headers });
  return out;
}

const t = suite<{ s: TestServer; tokens: Map<Who, string | undefined>; nodeId: string }>("hostile input: never a 5xx, always problem+json");
t.before(async (ctx) => {
  ctx.s = await startTestServer({ BODY_LIMIT_BYTES: "65536" });
  const registered = await ctx.s.call("/api/v1/agents/register", {
    method: "POST",
    json: { joinToken: ctx.s.deps.config.agentJoinToken, environment: "QA", hostname: "hostile-1", capacity: { cpuCores: 1, memoryMb: 512 }, labels: {}, modules: {} },
  });
  assert.is(registered.status, 201);
  const node = (await registered.json()) as { nodeId: string; token: string };
  ctx.nodeId = node.nodeId;
  ctx.tokens = new Map<Who, string | undefined>([
    ["anonymous", undefined],
    ["admin", await ctx.s.login(...DEMO.admin)],
    ["viewer", await ctx.s.login(...DEMO.viewer)],
    ["node", node.token],
  ]);
});
t.after(async (ctx) => ctx.s.stop());

t("every case answers below 500, refusals as problem+json without internals", async ({ s, tokens, nodeId }) => {
  const failures: string[] = [];
  for (const c of cases(nodeId)) {
    const headers = new Headers(c.headers);
    const token = tokens.get(c.who);
    if (token && !headers.has("authorization")) headers.set("authorization", `Bearer ${token}`);
    let res: Response;
    try {
      res = await fetch(s.url + c.path, { method: c.method, headers, body: c.body, signal: AbortSignal.timeout(30_000) });
    } catch (err) {
      failures.push(`${c.name}: no answer (${(err as Error).message})`);
      continue;
    }
    const type = res.headers.get("content-type") ?? "";
    if (type.startsWith("text/event-stream")) {
      // a stream that opened is not a refusal; do not hold it
      await res.body?.cancel();
      if (c.status !== undefined && c.status !== res.status) failures.push(`${c.name}: ${res.status}, wanted ${c.status}`);
      continue;
    }
    const text = await res.text();
    if (res.status >= 500) failures.push(`${c.name}: ${res.status} ${text.slice(0, 200)}`);
    else if (c.status !== undefined && res.status !== c.status) failures.push(`${c.name}: ${res.status}, wanted ${c.status}`);
    else if (res.status >= 400) {
      if (!type.startsWith("application/problem+json")) failures.push(`${c.name}: ${res.status} as ${type || "no content type"}`);
      else {
        const body = JSON.parse(text) as { status?: unknown; title?: unknown; type?: unknown };
        if (body.status !== res.status || typeof body.title !== "string" || typeof body.type !== "string") failures.push(`${c.name}: malformed problem ${text.slice(0, 200)}`);
      }
      if (/\n\s+at |node_modules|\.ts:\d+/.test(text)) failures.push(`${c.name}: internals in the answer ${text.slice(0, 200)}`);
    }
  }
  assert.equal(failures, [], `${failures.length} hostile inputs were mishandled:\n${failures.join("\n")}`);
  assert.is((await s.call("/health")).status, 200, "and the server still serves");
});

t("requests the HTTP parser refuses are answered as problem+json too", async ({ s }) => {
  const failures: string[] = [];
  for (const r of RAW) {
    const res = await rawRequest(s.url, r.request).catch((err: Error) => ({ status: NaN, type: "", body: err.message }));
    if (res.status !== r.status) failures.push(`${r.name}: ${res.status}, wanted ${r.status} ${res.body.slice(0, 100)}`);
    else if (!res.type.startsWith("application/problem+json")) failures.push(`${r.name}: ${res.status} as ${res.type || "no content type"}`);
    else if ((JSON.parse(res.body) as { status?: number }).status !== r.status) failures.push(`${r.name}: malformed problem ${res.body.slice(0, 100)}`);
  }
  assert.equal(failures, [], failures.join("\n"));
  assert.is((await s.call("/health")).status, 200, "and the server still serves");
});

t.run();
