// The client library's knowledge graph methods against a real in-process server with a simulated
// fleet: every read (vertex, neighbors, paths, impact, matrix, query, export as JSON and GraphML)
// with `at` and `minPosition`, errors as ApiError, and `korch graph`.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ApiError, OrchestratorClient } from "../../src/client/index.js";
import { FAST_FLEET_ENV } from "../helpers/deployments.js";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";

interface Ctx {
  s: TestServer;
  viewer: OrchestratorClient;
  deployer: OrchestratorClient;
  /** the Development nodes */
  nodes: string[];
  /** an instant after nfcore 1.0.0 ran everywhere in Development and before 1.1.0 did */
  between: string;
  /** the position of the second deployment's request */
  position: number;
}

const t = suite<Ctx>("client: knowledge graph");

async function until(deployer: OrchestratorClient, id: string): Promise<string> {
  for (const deadline = Date.now() + 45_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
    const d = await deployer.getDeployment(id).catch((err: unknown) => (err instanceof ApiError && err.status === 404 ? undefined : Promise.reject(err)));
    if (d && ["Succeeded", "Failed", "RolledBack", "Cancelled", "Rejected"].includes(d.status)) return d.status;
  }
  throw new Error(`deployment ${id} did not end`);
}

t.before(async (ctx) => {
  ctx.s = await startTestServer(FAST_FLEET_ENV);
  ctx.viewer = new OrchestratorClient({ baseUrl: ctx.s.url });
  await ctx.viewer.login(...DEMO.viewer);
  ctx.deployer = new OrchestratorClient({ baseUrl: ctx.s.url });
  await ctx.deployer.login(...DEMO.deployer);
  for (const deadline = Date.now() + 15_000; ; await new Promise((r) => setTimeout(r, 100))) {
    const dev = (await ctx.viewer.clusters()).find((c) => c.environment === "Development");
    if (dev?.healthyCount === 2) break;
    if (Date.now() > deadline) throw new Error("simulated fleet did not come up");
  }
  const first = await ctx.deployer.requestDeployment({ moduleName: "nfcore", version: "1.0.0", targetEnvironment: "Development", requesterEmail: "d@x.co" });
  assert.is(await until(ctx.deployer, first.executionId), "Succeeded");
  await new Promise((r) => setTimeout(r, 20));
  ctx.between = new Date().toISOString();
  await new Promise((r) => setTimeout(r, 20));
  const second = await ctx.deployer.requestDeployment({ moduleName: "nfcore", version: "1.1.0", targetEnvironment: "Development", requesterEmail: "d@x.co" });
  ctx.position = second.position;
  assert.is(await until(ctx.deployer, second.executionId), "Succeeded");
  const detail = await ctx.viewer.cluster("Development");
  ctx.nodes = detail.nodes.map((n) => String(n.nodeId)).sort();
});
t.after(async (ctx) => ctx.s.stop());

t("impact and matrix, now and at an earlier instant; minPosition reads one's own write", async ({ viewer, nodes, between, position }) => {
  const now = await viewer.graphImpact("nfcore", { minPosition: position });
  assert.is(now.asOf, null);
  assert.ok(now.position >= position);
  assert.equal(now.nodes.map((n) => n.nodeId).sort(), nodes);
  assert.ok(now.nodes.every((n) => n.version === "1.1.0"));
  const then = await viewer.graphImpact("nfcore", { at: between });
  assert.ok(then.asOf !== null && then.asOf <= between);
  assert.ok(then.nodes.every((n) => n.version === "1.0.0"), JSON.stringify(then.nodes));
  const onlyOld = await viewer.graphImpact("nfcore", { version: "<1.1.0" });
  assert.equal(onlyOld.nodes, []);

  const matrix = await viewer.graphMatrix({ module: "nfcore" });
  assert.equal(matrix.modules.map((m) => m.module), ["nfcore"]);
  assert.equal(matrix.modules[0]!.environments.map((e) => [e.environment, e.versions]), [["Development", [{ version: "1.1.0", nodes: 2 }]]]);
  const earlier = await viewer.graphMatrix({ module: "nfcore", environment: "Development", at: between });
  assert.equal(earlier.modules[0]!.environments[0]!.versions, [{ version: "1.0.0", nodes: 2 }]);
});

t("vertex (edges by name, history), neighbors, paths", async ({ viewer, nodes }) => {
  const node = nodes[0]!;
  const v = await viewer.graphVertex("Node", node, { edge: ["RUNS"], direction: "out" });
  assert.is(v.vertex.key, `Node:${node}`);
  assert.equal(v.edges.map((e) => [e.as, e.other]), [["RUNS", "ModuleVersion:nfcore@1.1.0"]]);
  const history = await viewer.graphVertex("Node", node, { edge: "RUNS", history: true });
  assert.equal(history.edges.map((e) => e.other).sort(), ["ModuleVersion:nfcore@1.0.0", "ModuleVersion:nfcore@1.1.0"]);

  const around = await viewer.graphNeighbors("ModuleVersion", "nfcore@1.1.0", { edge: "RUN_BY", direction: "out", depth: 1 });
  assert.equal(around.vertices.map((x) => x.key).sort(), nodes.map((n) => `Node:${n}`));

  const paths = await viewer.graphPaths(`Node:${node}`, "Module:nfcore", { maxDepth: 3 });
  assert.is(paths.length, 2);
  assert.equal(paths.paths[0]!.edges.map((e) => e.as), ["RUNS", "VERSION_OF"]);
});

t("query: a JSON pattern, with at", async ({ viewer, nodes, between }) => {
  const pattern = { start: { type: "Module" as const, id: "nfcore" }, steps: [{ edge: "HAS_VERSION" as const }, { edge: "RUN_BY" as const, as: "n" }], return: ["n"] };
  const now = await viewer.graphQuery(pattern);
  assert.equal(now.columns, ["n"]);
  assert.equal(now.rows.map((r) => r.n!.id).sort(), nodes);
  const then = await viewer.graphQuery({ ...pattern, steps: [{ edge: "HAS_VERSION", where: { id: "nfcore@1.0.0" } }, { edge: "RUN_BY", as: "n" }] }, { at: between });
  assert.is(then.count, 2);
});

t("export as JSON (whole or around a vertex) and as GraphML", async ({ viewer, nodes }) => {
  const whole = await viewer.graphExport();
  assert.ok(whole.edges.some((e) => e.type === "RUNS") && whole.vertices.some((v) => v.key === `Node:${nodes[0]}`));
  const near = await viewer.graphExport({ around: "Module:nfcore", depth: 1 });
  assert.equal(near.vertices.map((v) => v.type).sort(), ["Module", "ModuleVersion", "ModuleVersion"]);
  const xml = await viewer.graphExportGraphML({ around: "Module:nfcore", depth: 2 });
  assert.match(xml, /^<\?xml/);
  assert.match(xml, /<graphml/);
  assert.match(xml, /nfcore@1\.1\.0/);
});

t("errors are ApiError with the problem: a bad field 400, an unknown vertex 404", async ({ viewer }) => {
  const bad = await viewer.graphNeighbors("Module", "nfcore", { depth: 9 }).catch((e: unknown) => e);
  assert.instance(bad, ApiError);
  assert.is((bad as ApiError).status, 400);
  assert.ok((bad as ApiError).errors?.some((e) => e.path === "query.depth"));
  const badEdge = await viewer.graphVertex("Module", "nfcore", { edge: ["RUNS", "LOVES" as "RUNS"] }).catch((e: unknown) => e);
  assert.is((badEdge as ApiError).status, 400);
  const missing = await viewer.graphVertex("Node", "nowhere").catch((e: unknown) => e);
  assert.is((missing as ApiError).status, 404);
  const future = await viewer.graphMatrix({ at: "2999-01-01T00:00:00Z" }).catch((e: unknown) => e);
  assert.is((future as ApiError).status, 400);
});

t("korch graph impact / matrix / export --graphml", async ({ s, viewer, nodes }) => {
  const dir = mkdtempSync(join(tmpdir(), "korch-graph-"));
  const korch = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ["--import", "tsx", "src/client/cli.ts", ...args], {
        env: { ...process.env, KORCH_SERVER: s.url, KORCH_CONFIG: join(dir, "credentials.json"), KORCH_TOKEN: viewer.token! },
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => (stdout += d));
      child.stderr.on("data", (d) => (stderr += d));
      child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
    });
  try {
    const impact = await korch(["graph", "impact", "nfcore"]);
    assert.is(impact.code, 0, impact.stderr);
    assert.match(impact.stdout, /impact of nfcore, now/);
    assert.match(impact.stdout, /Development: 2 node\(s\), 1\.1\.0 x2/);
    const json = await korch(["graph", "impact", "nfcore", "1.1.0", "--json"]);
    assert.equal((JSON.parse(json.stdout) as { nodes: { nodeId: string }[] }).nodes.map((n) => n.nodeId).sort(), nodes);
    const matrix = await korch(["graph", "matrix", "--module", "nfcore"]);
    assert.match(matrix.stdout, /nfcore: Development 1\.1\.0 x2/);
    const xml = await korch(["graph", "export", "--around", "Module:nfcore", "--graphml"]);
    assert.match(xml.stdout, /<graphml/);
    const bad = await korch(["graph", "export", "--around", "nfcore"]);
    assert.is(bad.code, 3);
    assert.match(bad.stderr, /400/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

t.run();
