import fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { canaryTargets, maxConcurrentUpdates, plan, type PlanNode } from "../../src/strategies/index.js";
import { resolveSettings, type StrategyName } from "../../src/strategies/settings.js";

const nodesArb = fc
  .uniqueArray(fc.stringMatching(/^[a-z][a-z0-9-]{0,11}$/), { minLength: 0, maxLength: 500 })
  .chain((ids) =>
    fc.tuple(
      fc.constant(ids),
      fc.array(fc.option(fc.constantFrom("1.0.0", "1.1.0"), { nil: null }), { minLength: ids.length, maxLength: ids.length }),
      fc.array(fc.option(fc.constantFrom("blue" as const, "green" as const), { nil: undefined }), { minLength: ids.length, maxLength: ids.length }),
    ),
  )
  .map(([ids, versions, colors]) => ids.map((nodeId, i): PlanNode => ({ nodeId, version: versions[i] ?? null, ...(colors[i] ? { color: colors[i] } : {}) })));

const percentagesArb = fc
  .uniqueArray(fc.integer({ min: 1, max: 99 }), { maxLength: 6 })
  .map((p) => [...p.sort((a, b) => a - b), 100]);

const strategies: StrategyName[] = ["Direct", "Rolling", "BlueGreen", "Canary"];

test("property: plans are deterministic and cover each node at most once", () => {
  fc.assert(
    fc.property(nodesArb, fc.constantFrom(...strategies), fc.integer({ min: 1, max: 50 }), percentagesArb, (nodes, strategy, batchSize, canaryPercentages) => {
      const settings = resolveSettings("QA", { QA: { batchSize, canaryPercentages } });
      const p = plan(strategy, nodes, settings);
      assert.equal(plan(strategy, [...nodes].reverse(), settings), p);
      const all = p.waves.flatMap((w) => w.nodeIds);
      assert.is(new Set(all).size, all.length);
      p.waves.forEach((w, i) => {
        assert.is(w.index, i);
        assert.ok(w.nodeIds.length > 0, "no empty wave");
      });
      if (strategy !== "BlueGreen") assert.is(all.length, nodes.length);
    }),
    { numRuns: 200 },
  );
});

test("property: rolling batches have batchSize nodes (the last may have fewer)", () => {
  fc.assert(
    fc.property(nodesArb, fc.integer({ min: 1, max: 50 }), (nodes, batchSize) => {
      const p = plan("Rolling", nodes, resolveSettings("QA", { QA: { batchSize } }));
      p.waves.forEach((w, i) => assert.ok(i === p.waves.length - 1 ? w.nodeIds.length <= batchSize : w.nodeIds.length === batchSize));
    }),
    { numRuns: 100 },
  );
});

test("property: canary waves are cumulative by percentage, at least one node each", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 500 }), percentagesArb, (n, percentages) => {
      const targets = canaryTargets(n, percentages);
      let previous = 0;
      for (const { percentage, total } of targets) {
        assert.ok(total > previous, "every wave adds a node");
        assert.ok(total <= Math.max(1, Math.ceil((n * percentage) / 100)), "never more than its percentage allows (rounded up, min 1)");
        previous = total;
      }
      assert.is(previous, n);
    }),
    { numRuns: 300 },
  );
  assert.equal(canaryTargets(20, [10, 30, 50, 100]).map((t) => t.total), [2, 6, 10, 20]);
  assert.equal(canaryTargets(3, [10, 30, 50, 100]).map((t) => t.total), [1, 2, 3]);
});

test("property: blue-green installs on one whole color, never the one serving", () => {
  fc.assert(
    fc.property(nodesArb.filter((n) => n.length > 0), fc.option(fc.constantFrom("blue" as const, "green" as const), { nil: undefined }), (nodes, hint) => {
      const p = plan("BlueGreen", nodes, resolveSettings("Staging", {}), { activeColor: hint });
      const bg = p.blueGreen!;
      assert.is(p.waves.length, 1);
      assert.ok(bg.activeColor !== bg.idleColor);
      const idle = Object.keys(bg.colors).filter((id) => bg.colors[id] === bg.idleColor).sort();
      assert.equal(p.waves[0]!.nodeIds, idle);
      for (const n of nodes) if (n.color) assert.is(bg.colors[n.nodeId], n.color, "known colors are kept");
      if (hint && nodes.some((n) => (bg.colors[n.nodeId] ?? n.color) !== hint)) assert.is(bg.activeColor, hint);
    }),
    { numRuns: 200 },
  );
});

test("blue-green: first rollout splits the nodes and serves from the color that runs the module", () => {
  const fresh = plan("BlueGreen", [{ nodeId: "a", version: null }, { nodeId: "b", version: null }, { nodeId: "c", version: null }], resolveSettings("Staging", {}));
  assert.equal(fresh.blueGreen, { activeColor: "blue", idleColor: "green", colors: { a: "blue", b: "blue", c: "green" } });
  const next = plan(
    "BlueGreen",
    [
      { nodeId: "a", version: null, color: "blue" },
      { nodeId: "c", version: "1.0.0", color: "green" },
    ],
    resolveSettings("Staging", {}),
  );
  assert.is(next.blueGreen?.activeColor, "green");
  assert.equal(next.waves[0]?.nodeIds, ["a"]);
});

test("property: updates in flight are bounded by maxInFlight for every strategy, and by maxUnavailable too for Rolling", () => {
  fc.assert(
    fc.property(fc.constantFrom(...strategies), fc.integer({ min: 1, max: 8 }), fc.option(fc.integer({ min: 8, max: 500 }), { nil: undefined }), (strategy, maxUnavailable, maxInFlight) => {
      const settings = resolveSettings("QA", { QA: { strategy, maxUnavailable, ...(maxInFlight !== undefined && { maxInFlight }) } });
      const bound = maxConcurrentUpdates(strategy, settings);
      const inFlight = maxInFlight ?? 100; // the default
      assert.is(bound, strategy === "Rolling" ? Math.min(maxUnavailable, inFlight) : inFlight);
      // a deployment requested before maxInFlight existed carries none: what it had then, no bound
      const { maxInFlight: _dropped, ...old } = settings;
      assert.is(maxConcurrentUpdates(strategy, old), strategy === "Rolling" ? maxUnavailable : Number.POSITIVE_INFINITY);
    }),
    { numRuns: 200 },
  );
});

test.run();
