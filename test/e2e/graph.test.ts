// The knowledge graph over HTTP against the simulator: impact and the matrix after a canary in
// Production and a rollback in QA (now and at an instant in between), dependency refusals, the
// JSON pattern, export, and bad input.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { streams } from "../../src/events/streams.js";
import { FAST_FLEET_ENV, requestDeployment, waitForHealthyNodes, waitForStatus } from "../helpers/deployments.js";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";

interface Ctx {
  s: TestServer;
  admin: string;
  deployer: string;
  viewer: string;
  /** an instant after QA moved to 1.1.0 and before it was rolled back */
  between: string;
}

const t = suite<Ctx>("knowledge graph over HTTP");
t.before(async (ctx) => {
  ctx.s = await startTestServer(FAST_FLEET_ENV);
  ctx.admin = await ctx.s.login(...DEMO.admin);
  ctx.deployer = await ctx.s.login(...DEMO.deployer);
  ctx.viewer = await ctx.s.login(...DEMO.viewer);
  await waitForHealthyNodes(ctx.s, ctx.viewer, 14);
});
t.after(async (ctx) => ctx.s.stop());

const get = async <T = Record<string, unknown>>(s: TestServer, token: string, path: string, status = 200): Promise<T> => {
  const res = await s.call(path, { token });
  const text = await res.text();
  assert.is(res.status, status, `${path}: ${text.slice(0, 500)}`);
  return JSON.parse(text) as T;
};

/** node id -> version of a module, from the clusters API (the nodes read model) */
async function running(s: TestServer, token: string, env: string, module: string): Promise<Record<string, string>> {
  const body = await get<{ nodes: { nodeId: string; modules: Record<string, string> }[] }>(s, token, `/api/v1/clusters/${env}`);
  return Object.fromEntries(body.nodes.filter((n) => Object.hasOwn(n.modules, module)).map((n) => [n.nodeId, n.modules[module]!]));
}

interface Impact {
  position: number;
  environments: { environment: string; nodes: number; nodeIds: string[]; versions: { version: string; nodes: number }[] }[];
  nodes: { nodeId: string; environment: string; version: string; via: string | null }[];
  deployments: { executionId: string }[];
  versions: { version: string; nodes: number }[];
  dependents: { module: string; version: string; range: string; depth: number }[];
}
interface Matrix {
  modules: { module: string; environments: { environment: string; nodes: number; versions: { version: string; nodes: number }[] }[] }[];
}
const cell = (m: Matrix, module: string, env: string) => m.modules.find((r) => r.module === module)?.environments.find((e) => e.environment === env);

t("a canary in Production and a rollback in QA: impact lists exactly the nodes running the module; the matrix answers for the instant in between", async (ctx) => {
  const { s, admin, deployer, viewer } = ctx;
  const prod = await requestDeployment(s, deployer, { moduleName: "kmod", version: "1.0.0", targetEnvironment: "Production" });
  assert.is((await s.call(`/api/v1/approvals/deployments/${prod.executionId}/approve`, { method: "POST", token: admin, json: { reason: "graph test" } })).status, 200);
  assert.is((await waitForStatus(s, deployer, prod.executionId)).status, "Succeeded");
  const qa1 = await requestDeployment(s, deployer, { moduleName: "kmod", version: "1.0.0", targetEnvironment: "QA" });
  assert.is((await waitForStatus(s, deployer, qa1.executionId)).status, "Succeeded");
  const qa2 = await requestDeployment(s, deployer, { moduleName: "kmod", version: "1.1.0", targetEnvironment: "QA" });
  assert.is((await waitForStatus(s, deployer, qa2.executionId)).status, "Succeeded");
  await new Promise((r) => setTimeout(r, 20));
  ctx.between = new Date().toISOString();
  await new Promise((r) => setTimeout(r, 20));
  const rb = await s.call(`/api/v1/deployments/${qa2.executionId}/rollback`, { method: "POST", token: deployer, json: { reason: "graph test" } });
  assert.is(rb.status, 202, await rb.clone().text());
  const { position } = (await rb.json()) as { position: number };
  assert.is((await waitForStatus(s, deployer, qa2.executionId, ["RolledBack", "Failed"])).status, "RolledBack");
  const head = await s.deps.log.headPosition();

  // now: exactly the nodes the clusters API says run kmod, per environment
  const impact = await get<Impact>(s, viewer, `/api/v1/graph/impact?module=kmod&minPosition=${Math.max(position, head)}`);
  for (const env of ["Production", "QA"]) {
    const expected = await running(s, viewer, env.toLowerCase(), "kmod");
    const got = impact.environments.find((e) => e.environment === env)!;
    assert.equal([...got.nodeIds].sort(), Object.keys(expected).sort(), env);
    assert.ok(Object.values(expected).every((v) => v === "1.0.0"));
    assert.equal(got.versions, [{ version: "1.0.0", nodes: Object.keys(expected).length }]);
  }
  assert.is(impact.environments.find((e) => e.environment === "Production")!.nodes, 5);
  assert.is(impact.environments.find((e) => e.environment === "QA")!.nodes, 3);
  assert.ok(!impact.environments.some((e) => e.environment === "Development"));
  assert.equal(impact.deployments, [], "nothing in flight");
  // the version asked about narrows it; a range works as well
  assert.equal((await get<Impact>(s, viewer, "/api/v1/graph/impact?module=kmod&version=1.1.0")).nodes, []);
  assert.is((await get<Impact>(s, viewer, `/api/v1/graph/impact?module=kmod&version=${encodeURIComponent("^1.0.0")}`)).nodes.length, 8);

  // the instant in between: QA ran 1.1.0, Production 1.0.0
  const at = encodeURIComponent(ctx.between);
  const then = await get<Matrix & { asOf: string; position: number }>(s, viewer, `/api/v1/graph/matrix?at=${at}`);
  assert.is(then.asOf, ctx.between);
  assert.equal(cell(then, "kmod", "QA"), { environment: "QA", nodes: 3, versions: [{ version: "1.1.0", nodes: 3 }] });
  assert.equal(cell(then, "kmod", "Production"), { environment: "Production", nodes: 5, versions: [{ version: "1.0.0", nodes: 5 }] });
  const thenImpact = await get<Impact>(s, viewer, `/api/v1/graph/impact?module=kmod&version=1.1.0&at=${at}`);
  assert.equal(thenImpact.nodes.map((n) => n.environment), ["QA", "QA", "QA"]);
  assert.ok(thenImpact.nodes.every((n) => n.via === qa2.executionId), "RUNS says which deployment put it there");
  const now = await get<Matrix>(s, viewer, "/api/v1/graph/matrix");
  assert.equal(cell(now, "kmod", "QA"), { environment: "QA", nodes: 3, versions: [{ version: "1.0.0", nodes: 3 }] });
  // the matrix at the head position equals the one read from the node documents
  const headMatrix = await get<Matrix>(s, viewer, `/api/v1/graph/matrix?at=${encodeURIComponent(new Date().toISOString())}`);
  assert.equal(headMatrix.modules, now.modules);

  // the deployment vertex: who requested and approved it, what it deployed, where, which nodes it updated
  const v = await get<{ vertex: { props: { status: string } }; edges: { as: string; other: string; props: Record<string, unknown> }[] }>(
    s,
    viewer,
    `/api/v1/graph/vertices/Deployment/${prod.executionId}`,
  );
  assert.is(v.vertex.props.status, "Succeeded");
  const names = (as: string) => v.edges.filter((e) => e.as === as).map((e) => e.other);
  assert.equal(names("DEPLOYS"), ["ModuleVersion:kmod@1.0.0"]);
  assert.equal(names("TARGETS"), ["Environment:Production"]);
  assert.equal(names("REQUESTED_BY"), ["User:deployer"]);
  assert.equal(names("APPROVED_BY"), ["User:admin"]);
  assert.is(new Set(names("UPDATED")).size, 5);
  assert.ok(v.edges.filter((e) => e.as === "UPDATED").every((e) => e.props.outcome === "succeeded"));
  // the QA rollback: its UPDATED edges include the rollbacks
  const q = await get<{ edges: { props: { kind: string } }[] }>(s, viewer, `/api/v1/graph/vertices/Deployment/${qa2.executionId}?edge=UPDATED`);
  assert.is(q.edges.filter((e) => e.props.kind === "rollback").length, 3);

  // a node: RUNS now, and with history the closed edge of 1.1.0
  const qaNode = impact.environments.find((e) => e.environment === "QA")!.nodeIds[0]!;
  const node = await get<{ edges: { as: string; other: string; close: number | null }[] }>(s, viewer, `/api/v1/graph/vertices/Node/${qaNode}?edge=RUNS&history=true`);
  const runs = node.edges.map((e) => `${e.other}:${e.close === null ? "open" : "closed"}`);
  assert.equal(runs, ["ModuleVersion:kmod@1.0.0:closed", "ModuleVersion:kmod@1.1.0:closed", "ModuleVersion:kmod@1.0.0:open"]);

  // the reference system's first Cypher example, in the JSON pattern
  const q1 = await s.call("/api/v1/graph/query", {
    method: "POST",
    token: viewer,
    json: { start: { type: "Module", id: "kmod" }, steps: [{ edge: "HAS_VERSION" }, { edge: "RUN_BY", as: "n" }], return: ["n"], limit: 100 },
  });
  assert.is(q1.status, 200);
  assert.ok(q1.headers.get("x-read-position"));
  const rows = ((await q1.json()) as { rows: { n: { id: string } }[] }).rows.map((r) => r.n.id).sort();
  assert.equal(rows, impact.nodes.map((n) => n.nodeId).sort());
  // the second: deployments that reached nodes in Production
  const q2 = (await (
    await s.call("/api/v1/graph/query", {
      method: "POST",
      token: viewer,
      json: { start: { type: "Deployment", as: "d" }, steps: [{ edge: "UPDATED", as: "n", where: { type: "Node", where: { environment: "Production" } } }], return: ["d", "n"], limit: 1000 },
    })
  ).json()) as { rows: { d: { id: string }; n: { id: string } }[] };
  assert.equal([...new Set(q2.rows.map((r) => r.d.id))], [prod.executionId]);
  assert.is(q2.rows.length, 5);

  // shortest typed path from a Production node to the admin who approved its module
  const prodNode = impact.environments.find((e) => e.environment === "Production")!.nodeIds[0]!;
  const paths = await get<{ length: number; paths: { edges: { as: string }[] }[] }>(s, viewer, `/api/v1/graph/paths?from=Node:${prodNode}&to=User:admin&maxDepth=4`);
  assert.is(paths.length, 2);
  assert.equal(paths.paths[0]!.edges.map((e) => e.as), ["UPDATED_BY", "APPROVED_BY"]);

  // neighbours and export
  const n = await get<{ vertices: { key: string; depth: number }[] }>(s, viewer, "/api/v1/graph/neighbors/Module/kmod?depth=2");
  assert.ok(n.vertices.some((x) => x.key === "ModuleVersion:kmod@1.1.0" && x.depth === 1));
  assert.ok(n.vertices.some((x) => x.key === `Deployment:${qa2.executionId}` && x.depth === 2));
  const graphml = await s.call(`/api/v1/graph/export?format=graphml&around=Module:kmod&depth=2`, { token: viewer });
  assert.is(graphml.status, 200);
  assert.match(graphml.headers.get("content-type") ?? "", /graphml/);
  assert.match(await graphml.text(), /<graphml[\s\S]*label">VERSION_OF</);
  const whole = await get<{ vertices: unknown[]; edges: { type: string }[] }>(s, viewer, "/api/v1/graph/export");
  assert.ok(whole.edges.some((e) => e.type === "MEMBER_OF") && whole.edges.some((e) => e.type === "RUNS"));
});

t("dependencies: refusals name the node, the module and the range; dependents block a deployment and a rollback unless an Admin forces it", async ({ s, admin, deployer, viewer }) => {
  const base = await requestDeployment(s, deployer, { moduleName: "nfcore", version: "1.2.0", targetEnvironment: "Development" });
  assert.is((await waitForStatus(s, deployer, base.executionId)).status, "Succeeded");
  const devNodes = Object.keys(await running(s, viewer, "development", "nfcore")).sort();

  // 422: the version needs what the nodes do not run
  const missing = await s.call("/api/v1/deployments", {
    method: "POST",
    token: deployer,
    json: { moduleName: "fwall", version: "1.0.0", targetEnvironment: "Development", requesterEmail: "a@b.co", dependencies: [{ name: "nfcore", range: "^2.0.0" }] },
  });
  assert.is(missing.status, 422);
  const problem = (await missing.json()) as { detail: string; errors: { nodeId: string; module: string; range: string }[] };
  for (const node of devNodes) assert.match(problem.detail, new RegExp(`node ${node} runs nfcore 1\\.2\\.0, fwall@1\\.0\\.0 needs nfcore \\^2\\.0\\.0`));
  assert.equal(problem.errors.map((e) => [e.nodeId, e.module, e.range]), devNodes.map((n) => [n, "nfcore", "^2.0.0"]));
  const noModule = await s.call("/api/v1/deployments", {
    method: "POST",
    token: deployer,
    json: { moduleName: "fwall", version: "0.9.0", targetEnvironment: "Development", requesterEmail: "a@b.co", dependencies: [{ name: "ghost", range: ">=1.0.0" }] },
  });
  assert.is(noModule.status, 422);
  assert.match(((await noModule.json()) as { detail: string }).detail, /runs no ghost/);
  const badRange = await s.call("/api/v1/deployments", {
    method: "POST",
    token: deployer,
    json: { moduleName: "fwall", version: "1.0.0", targetEnvironment: "Development", requesterEmail: "a@b.co", dependencies: [{ name: "nfcore", range: "not a range" }] },
  });
  assert.is(badRange.status, 400);
  assert.ok(((await badRange.json()) as { errors: { path: string }[] }).errors.some((e) => e.path === "json.dependencies.0.range"));

  // satisfied: deployed, and the graph learns the dependency
  const fwall = await requestDeployment(s, deployer, { moduleName: "fwall", version: "1.0.0", targetEnvironment: "Development", dependencies: [{ name: "nfcore", range: "^1.0.0" }] } as never);
  assert.is((await waitForStatus(s, deployer, fwall.executionId)).status, "Succeeded");
  const nfImpact = await get<Impact>(s, viewer, "/api/v1/graph/impact?module=nfcore");
  assert.equal(nfImpact.dependents.map((d) => [d.module, d.version, d.range, d.depth]), [["fwall", "1.0.0", "^1.0.0", 1]]);
  // declaring other dependencies for the same version later is a conflict
  const other = await s.call("/api/v1/deployments", {
    method: "POST",
    token: deployer,
    json: { moduleName: "fwall", version: "1.0.0", targetEnvironment: "Development", requesterEmail: "a@b.co", dependencies: [{ name: "nfcore", range: ">=1.0.0" }] },
  });
  assert.is(other.status, 409);

  // 409: nfcore 2.0.0 would leave fwall unsatisfied on every node
  const upgrade = { moduleName: "nfcore", version: "2.0.0", targetEnvironment: "Development", requesterEmail: "a@b.co" };
  const blocked = await s.call("/api/v1/deployments", { method: "POST", token: deployer, json: upgrade });
  assert.is(blocked.status, 409);
  const body = (await blocked.json()) as { detail: string; dependents: { nodeId: string; module: string; range: string }[] };
  assert.match(body.detail, /fwall@1\.0\.0 on node .* needs nfcore \^1\.0\.0/);
  assert.equal(body.dependents.map((d) => d.nodeId).sort(), devNodes);
  // rolling back what fwall needs is refused too
  const rb = await s.call(`/api/v1/deployments/${base.executionId}/rollback`, { method: "POST", token: deployer });
  assert.is(rb.status, 409);
  assert.match(((await rb.json()) as { detail: string }).detail, /rolling back nfcore would leave 2 dependent module\(s\) unsatisfied: fwall@1\.0\.0/);
  // force: not for a Deployer; an Admin's is recorded in the event
  assert.is((await s.call("/api/v1/deployments", { method: "POST", token: deployer, json: { ...upgrade, force: true } })).status, 403);
  const forced = await s.call("/api/v1/deployments", { method: "POST", token: admin, json: { ...upgrade, force: true } });
  assert.is(forced.status, 202);
  const { executionId } = (await forced.json()) as { executionId: string };
  const [requested] = await s.deps.log.readStream(streams.deployment(executionId), { maxCount: 1 });
  const override = (requested!.data as { dependencyOverride?: { by: string; dependents: { module: string }[] } }).dependencyOverride;
  assert.is(override?.by, "admin");
  assert.equal(override?.dependents.map((d) => d.module), ["fwall", "fwall"]);
  assert.is((await waitForStatus(s, deployer, executionId)).status, "Succeeded");
});

t("bad input answers 400 naming the field; unknown ids 404; Viewer may read, nobody unauthenticated", async ({ s, viewer }) => {
  const field = async (path: string, init: RequestInit & { json?: unknown } = {}) => {
    const res = await s.call(path, { token: viewer, ...init });
    assert.is(res.status, 400, path);
    assert.match(res.headers.get("content-type") ?? "", /problem\+json/);
    return ((await res.json()) as { errors: { path: string }[] }).errors.map((e) => e.path);
  };
  assert.ok((await field("/api/v1/graph/vertices/Planet/x")).includes("param.type"));
  assert.ok((await field("/api/v1/graph/vertices/Module/kmod?edge=RUNS,LOVES")).includes("query.edge"));
  assert.ok((await field("/api/v1/graph/neighbors/Module/kmod?depth=9")).includes("query.depth"));
  assert.ok((await field("/api/v1/graph/paths?from=Module:kmod&to=User:admin&maxDepth=7")).includes("query.maxDepth"));
  assert.ok((await field("/api/v1/graph/paths?from=kmod&to=User:admin")).includes("query.from"));
  assert.ok((await field("/api/v1/graph/matrix?at=2999-01-01T00:00:00Z")).includes("query.at"));
  assert.ok((await field("/api/v1/graph/impact?module=kmod&at=yesterday")).includes("query.at"));
  assert.ok((await field("/api/v1/graph/impact?module=kmod&version=not..a..range")).includes("query.version"));
  assert.ok((await field("/api/v1/graph/export?format=pdf")).includes("query.format"));
  const pattern = (json: unknown) => field("/api/v1/graph/query", { method: "POST", json });
  assert.ok((await pattern({ start: { type: "Module" }, steps: [{ edge: "LOVES" }] })).some((p) => p.startsWith("json.steps.0.edge")));
  assert.ok((await pattern({ start: { type: "Module" }, steps: [{ depth: 4 }, { depth: 3 }] })).includes("json.steps"));
  assert.ok((await pattern({ start: { type: "Module" }, limit: 10_001 })).includes("json.limit"));
  assert.ok((await pattern({ start: { type: "Module" }, return: ["nobody"] })).includes("json.return.0"));
  assert.ok((await pattern({ start: { kind: "Module" } })).some((p) => p.startsWith("json.start")));
  assert.ok((await pattern({ start: { type: "Module" }, steps: [], at: "x" })).length > 0, "unknown fields are refused");

  assert.is((await s.call("/api/v1/graph/vertices/Node/no-such-node", { token: viewer })).status, 404);
  assert.is((await s.call("/api/v1/graph/impact?module=no-such-module", { token: viewer })).status, 404);
  assert.is((await s.call("/api/v1/graph/paths?from=Module:kmod&to=User:nobody", { token: viewer })).status, 404);
  // hostile ids: prototype names, NUL, very long, broken encoding: never a 5xx
  for (const path of [
    "/api/v1/graph/vertices/Node/__proto__",
    "/api/v1/graph/vertices/Module/constructor?edge=HAS_VERSION",
    "/api/v1/graph/impact?module=__proto__",
    "/api/v1/graph/matrix?module=hasOwnProperty",
    "/api/v1/graph/paths?from=Node:%00&to=User:admin",
    `/api/v1/graph/neighbors/Node/${"x".repeat(6000)}`,
    "/api/v1/graph/vertices/Node/%E0%A4%A",
    "/api/v1/graph/export?around=Module:__proto__",
  ]) {
    const res = await s.call(path, { token: viewer });
    assert.ok(res.status < 500, `${path}: ${res.status}`);
    // nothing has those names: only the matrix answers (empty)
    if (!path.includes("matrix")) assert.is.not(res.status, 200, path);
  }
  // before the first event nothing existed
  assert.is((await s.call("/api/v1/graph/vertices/Module/kmod?at=2000-01-01T00:00:00Z", { token: viewer })).status, 404);
  assert.is((await s.call("/api/v1/graph/matrix")).status, 401);
  const openapi = (await (await s.call("/openapi.json")).json()) as { paths: Record<string, unknown> };
  for (const p of ["/api/v1/graph/vertices/{type}/{id}", "/api/v1/graph/neighbors/{type}/{id}", "/api/v1/graph/paths", "/api/v1/graph/impact", "/api/v1/graph/matrix", "/api/v1/graph/query", "/api/v1/graph/export"]) {
    assert.ok(Object.hasOwn(openapi.paths, p), `${p} in the OpenAPI document`);
  }
  const ok = await s.call("/api/v1/graph/matrix", { token: viewer });
  assert.is(ok.status, 200);
  assert.ok(ok.headers.get("x-read-position"));
});

t.run();
