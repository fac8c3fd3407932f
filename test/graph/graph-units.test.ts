// The graph's smaller parts: instant -> position, the query budget, the pattern language, the
// dependency judge, rate-limit classification, and names that are Object.prototype's.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { z } from "zod";
import { DomainError } from "../../src/commands/errors.js";
import { defineEvent } from "../../src/events/catalog/define.js";
import { buildCatalog } from "../../src/events/catalog/index.js";
import type { RecordedEvent } from "../../src/events/envelope.js";
import { EventLog } from "../../src/events/event-log.js";
import { SqliteEventStore } from "../../src/events/store/sqlite.js";
import { Budget } from "../../src/graph/budget.js";
import { judgeDeployment, judgeRollback, satisfies } from "../../src/graph/dependencies.js";
import { impact } from "../../src/graph/impact.js";
import { matrix } from "../../src/graph/matrix.js";
import { positionAt } from "../../src/graph/instant.js";
import { PatternSchema, runPattern } from "../../src/graph/pattern.js";
import { GraphReader, NOW } from "../../src/graph/reader.js";
import { classifyRequest } from "../../src/http/rate-limit.js";
import { graphProjection } from "../../src/projections/graph.js";
import { nodesProjection } from "../../src/projections/nodes.js";
import type { Projection } from "../../src/projections/projection.js";
import { replayInto } from "../../src/projections/runner.js";
import { MemoryReadStore } from "../../src/projections/store/memory.js";
import { toEvents } from "./history.js";

test("positionAt: the last event at or before the instant, by binary search; 0 before the first", async () => {
  const dir = mkdtempSync(join(tmpdir(), "graph-instant-"));
  const store = new SqliteEventStore({ file: join(dir, "events.db"), synchronous: "NORMAL" });
  try {
    const log = new EventLog(store, buildCatalog([defineEvent("Ticked", z.object({ n: z.number() }))]));
    const t0 = Date.parse("2026-01-01T00:00:00.000Z");
    for (let i = 0; i < 37; i++) {
      const occurredAt = new Date(t0 + i * 1000).toISOString();
      await log.append(`s-${i % 3}`, log.envelope([{ type: "Ticked", data: { n: i } }], [{ actor: { kind: "system", id: "t" }, correlationId: "c", causationId: "c", occurredAt }]), "any");
    }
    const at = (ms: number) => new Date(t0 + ms).toISOString();
    assert.is(await positionAt(log, at(-1)), 0);
    assert.is(await positionAt(log, at(0)), 1);
    assert.is(await positionAt(log, at(999)), 1);
    assert.is(await positionAt(log, at(17_000)), 18);
    assert.is(await positionAt(log, at(17_500)), 18);
    assert.is(await positionAt(log, at(36_000)), 37);
    assert.is(await positionAt(log, at(99_000)), 37);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("Budget: past its time or its visits it refuses with a 400 naming the field", () => {
  let now = 0;
  const b = new Budget("json.steps", 100, () => now);
  b.visit(10);
  now = 101;
  try {
    b.visit();
    assert.unreachable();
  } catch (e) {
    assert.instance(e, DomainError);
    assert.is((e as DomainError).code, "validation");
    assert.equal(((e as DomainError).details.errors as { path: string }[])[0]!.path, "json.steps");
  }
  assert.throws(() => new Budget("query.depth").visit(1_000_000), (e: unknown) => e instanceof DomainError && e.code === "validation");
});

test("a graph pattern is a query for rate limits; commands keep their classes", () => {
  assert.is(classifyRequest("POST", "/api/v1/graph/query"), "queries");
  assert.is(classifyRequest("GET", "/api/v1/graph/impact"), "queries");
  assert.is(classifyRequest("POST", "/api/v1/deployments"), "deployments");
  assert.is(classifyRequest("POST", "/api/v1/graph/query/x"), "global");
});

test("satisfies: semver ranges with pre-releases; anything not semver does not satisfy", () => {
  assert.ok(satisfies("1.4.0", "^1.2.0"));
  assert.ok(satisfies("2.0.0-faulty.1", ">=1.0.0"));
  assert.not.ok(satisfies("2.0.0", "^1.0.0"));
  assert.not.ok(satisfies(null, ">=0.0.0"));
  assert.not.ok(satisfies("latest", "*"));
});

async function graphWith(events: RecordedEvent[]) {
  const store = new MemoryReadStore({ ttlIntervalMs: 0, indexShare: 1 });
  await replayInto(store, events, [graphProjection as unknown as Projection, nodesProjection as unknown as Projection]);
  return { store, reader: new GraphReader(store) };
}

test("patterns: the reference system's examples; depth ranges; bounds refused at parse time", async () => {
  const events = toEvents([
    { kind: "register", node: 0, env: 1, modules: [[0, 0]] },
    { kind: "register", node: 1, env: 1, modules: [[0, 1]] },
    { kind: "register", node: 2, env: 0, modules: [[1, 0]] },
    { kind: "deploy", deployment: 0, module: 0, version: 2, env: 1, deps: [] },
    { kind: "nodeUpdated", deployment: 0, node: 0, version: 2, ok: true },
    { kind: "registerVersion", module: 1, version: 0, deps: [[0, 0]] },
  ]);
  const { reader } = await graphWith(events);
  const run = (p: unknown) => runPattern(reader, PatternSchema.parse(p), { at: NOW }, new Budget("json"));
  // MATCH (n:Node)-[:RUNS]->(m:Module {name: 'alpha'}) RETURN n
  const r1 = await run({ start: { type: "Module", id: "alpha" }, steps: [{ edge: "HAS_VERSION" }, { edge: "RUN_BY", as: "n" }], return: ["n"] });
  assert.equal(r1.rows.map((r) => r.n!.id).sort(), ["n1", "n2"]);
  // the same from the other end, with a filter on the module
  const r1b = await run({ start: { type: "Node", as: "n" }, steps: [{ edge: "RUNS" }, { edge: "VERSION_OF", where: { where: { name: "alpha" } } }], return: ["n"] });
  assert.equal(r1b.rows.map((r) => r.n!.id).sort(), ["n1", "n2"]);
  // MATCH (d:Deployment)-[:TARGETS*]->(n:Node {environment: 'Production'}) RETURN d, n
  const r2 = await run({ start: { type: "Deployment", as: "d" }, steps: [{ edge: "TARGETS" }, { edge: "HAS_MEMBER", as: "n", where: { type: "Node", where: { environment: "Production" } } }], return: ["d", "n"] });
  assert.equal(r2.rows.map((r) => `${r.d!.id}>${r.n!.id}`).sort(), ["d0>n1", "d0>n2"]);
  // a depth range: everything within two hops of n1 that is a Module
  const r3 = await run({ start: { type: "Node", id: "n1" }, steps: [{ direction: "both", depth: { min: 1, max: 2 }, as: "m", where: { type: "Module" } }], return: ["m"] });
  assert.equal(r3.rows.map((r) => r.m!.id), ["alpha"]);
  assert.is((await run({ start: { type: "Node" }, limit: 1 })).truncated, true);
  assert.not.ok(PatternSchema.safeParse({ start: { type: "Node" }, steps: [{ depth: { min: 3, max: 2 } }] }).success);
  assert.not.ok(PatternSchema.safeParse({ start: { type: "Node" }, steps: [{ depth: 6 }, { depth: 1 }] }).success);
  assert.not.ok(PatternSchema.safeParse({ start: { type: "Node" }, return: ["x"] }).success);

  // impact: who runs alpha, what depends on it
  const a = await impact(reader, { module: "alpha", maxDepth: 6 }, { at: NOW }, new Budget("q"));
  assert.equal(a.nodes.map((n) => `${n.nodeId}@${n.version}`), ["n1@1.0.0", "n2@1.1.0"]);
  assert.equal(a.dependents.map((d) => `${d.module}@${d.version} ${d.range}`), ["beta@1.0.0 ^1.0.0"]);
  assert.equal(a.deployments.map((d) => d.executionId), ["d0"]);
});

test("dependencies: 422 names node, module, range; dependents block deployments and rollbacks; force is Admin-only and recorded", async () => {
  const events = toEvents([
    { kind: "register", node: 0, env: 0, modules: [[0, 0], [1, 0]] },
    { kind: "register", node: 1, env: 0, modules: [[0, 1]] },
    // beta@1.0.0 needs alpha ^1.0.0
    { kind: "registerVersion", module: 1, version: 0, deps: [[0, 0]] },
  ]);
  const { store } = await graphWith(events);
  const deployer = { sub: "deployer", roles: ["Deployer" as const] };
  const admin = { sub: "admin", roles: ["Admin" as const] };
  // gamma needs beta ^1.0.0: n2 runs no beta
  const missing = await judgeDeployment(store, { moduleName: "gamma", version: "1.0.0", targetEnvironment: "QA", dependencies: [{ name: "beta", range: "^1.0.0" }] }, deployer);
  assert.ok(!missing.ok && missing.refusal.status === 422);
  if (!missing.ok) assert.match(missing.refusal.detail, /node n2 runs no beta, gamma@1\.0\.0 needs beta \^1\.0\.0/);
  // registered versions bring their own: declaring others is refused
  await judgeDeployment(store, { moduleName: "beta", version: "1.0.0", targetEnvironment: "QA", dependencies: [] }, deployer).then(
    () => assert.unreachable(),
    (e: DomainError) => assert.equal(e.details.errors, [{ path: "json.dependencies", message: "declared at registration for a registered module" }]),
  );
  // alpha 2.0.0 would leave beta on n1 without alpha ^1.0.0
  const blocked = await judgeDeployment(store, { moduleName: "alpha", version: "2.0.0", targetEnvironment: "QA" }, deployer);
  assert.ok(!blocked.ok && blocked.refusal.status === 409);
  await judgeDeployment(store, { moduleName: "alpha", version: "2.0.0", targetEnvironment: "QA", force: true }, deployer).then(
    () => assert.unreachable(),
    (e: DomainError) => assert.is(e.code, "forbidden"),
  );
  const forced = await judgeDeployment(store, { moduleName: "alpha", version: "2.0.0", targetEnvironment: "QA", force: true }, admin);
  assert.ok(forced.ok);
  if (forced.ok) assert.equal(forced.override, { by: "admin", dependents: [{ nodeId: "n1", module: "beta", version: "1.0.0", dependsOn: "alpha", range: "^1.0.0", after: "2.0.0" }] });
  assert.ok((await judgeDeployment(store, { moduleName: "alpha", version: "1.9.0", targetEnvironment: "QA" }, deployer)).ok, "within the range");
  // a rollback to "no alpha" on n1 breaks beta; on n2 it breaks nothing
  assert.not.ok((await judgeRollback(store, { moduleName: "alpha", environment: "QA", previous: new Map([["n1", null]]) }, deployer)).ok);
  assert.ok((await judgeRollback(store, { moduleName: "alpha", environment: "QA", previous: new Map([["n2", null]]) }, deployer)).ok);
});

test("matrix: a cell's versions in one order whatever order its nodes are met in (semver first, then the rest)", async () => {
  const orders = [
    ["1.10.0", "1.9.0", "1.2x"],
    ["1.2x", "1.9.0", "1.10.0"],
    ["1.9.0", "1.2x", "1.10.0"],
    ["1.10.0", "1.2x", "1.9.0"],
  ];
  for (const versions of orders) {
    // what matrix reads now: one document per node
    const reader = { nodeModuleDocs: async () => versions.map((v, i) => ({ node: `n${i}`, registeredIn: "QA", modules: ["m", v] })) } as unknown as GraphReader;
    const [row] = await matrix(reader, NOW);
    assert.equal(row!.environments[0]!.versions.map((v) => v.version), ["1.9.0", "1.10.0", "1.2x"], versions.join(","));
  }
});

test("names that are Object.prototype's are ids like any other", async () => {
  const events = toEvents([
    { kind: "register", node: 3, env: 0, modules: [[2, 0]] },
    { kind: "install", node: 3, module: 2, version: 1, deployment: 0 },
  ]);
  const { reader } = await graphWith(events);
  const proto = await reader.vertex("Node:__proto__", NOW);
  assert.ok(proto);
  assert.equal((await reader.edgesOut("Node:__proto__", new Set(["RUNS" as const]), { at: NOW })).map((e) => e.to), ["ModuleVersion:constructor@1.1.0"]);
  const a = await impact(reader, { module: "constructor", maxDepth: 6 }, { at: NOW }, new Budget("q"));
  assert.equal(a.nodes.map((n) => n.nodeId), ["__proto__"]);
  assert.is(({} as Record<string, unknown>).polluted, undefined);
});

test.run();
