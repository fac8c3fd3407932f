// fleetView (one pass over each store answer) says exactly what the plain definition says: the
// environment's registered nodes by id with their version of the module, the module's outcomes of
// those nodes in time order, and their samples since the instant.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { fleetNodeOf, fleetView } from "../../src/fleet/fleet-view.js";
import { telemetryOf } from "../../src/fleet/telemetry.js";
import { NODE_OUTCOMES, NODES, type NodeDoc, type OutcomeDoc } from "../../src/projections/nodes.js";
import { MemoryReadStore } from "../../src/projections/store/memory.js";
import type { ReadStore } from "../../src/projections/store/port.js";
import type { Environment } from "../../src/strategies/settings.js";
import { samplesOf } from "../../src/strategies/sample-runs.js";

/** the definition, as fleetView was written before it was made one pass */
async function plainFleetView(readStore: ReadStore, environment: string, moduleName: string, samplesSince: number) {
  const docs = await readStore.collection<NodeDoc>(NODES).find({ environment }, { sort: { nodeId: 1 } });
  const nodes = docs.map((d) => fleetNodeOf(d, moduleName));
  const known = new Set(docs.map((d) => d.nodeId));
  const outcomes = (await readStore.collection<OutcomeDoc>(NODE_OUTCOMES).find({ moduleName }, { sort: { at: 1 } }))
    .filter((o) => known.has(o.nodeId))
    .map((o) => ({ assignmentId: o.assignmentId, nodeId: o.nodeId, outcome: o.outcome, durationMs: o.durationMs, ...(o.error !== undefined ? { error: o.error } : {}) }));
  const samples = samplesOf(await telemetryOf(readStore).samplesSince(environment as Environment, samplesSince)).filter((s) => known.has(s.nodeId));
  return { nodes, outcomes, samples };
}

function random(seed: number) {
  let x = seed >>> 0 || 1;
  return (n: number) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

const ENVS: Environment[] = ["QA", "Staging", "Production"];
const MODULES = ["net-filter", "constructor", "__proto__", "io-sched"];

test("the same nodes, outcomes and samples as the plain definition", async () => {
  const seen = { nodes: 0, outcomes: 0, samples: 0, errors: 0 };
  for (let seed = 1; seed <= 12; seed++) {
    const r = random(seed * 7919);
    const store = new MemoryReadStore({ ttlIntervalMs: 0 });
    const nodes = store.collection<NodeDoc>(NODES);
    const outcomes = store.collection<OutcomeDoc>(NODE_OUTCOMES);
    const telemetry = telemetryOf(store);
    const count = r(40);
    for (let i = 0; i < count; i++) {
      const nodeId = `n-${r(1000).toString(16).padStart(4, "0")}-${i}`;
      const environment = ENVS[r(ENVS.length)]!;
      const modules: Record<string, string> = {};
      for (const m of MODULES) if (r(2)) modules[m] = `1.${r(5)}.0`;
      // some nodes have left the read model (deregistered): their outcomes and samples stay elsewhere
      if (r(5)) {
        await nodes.put({
          _id: nodeId,
          nodeId,
          environment,
          hostname: nodeId,
          capacity: { cpuCores: 1, memoryMb: 1 },
          labels: {},
          color: r(3) ? null : "blue",
          status: "Healthy",
          statusSince: "2026-01-01T00:00:00.000Z",
          registeredAt: "2026-01-01T00:00:00.000Z",
          modules,
          credentialGeneration: 1,
          tenantId: "default",
          lastPosition: i + 1,
        } as NodeDoc);
      }
      for (let k = r(4); k > 0; k--) {
        const assignmentId = `${nodeId}-a${k}`;
        await outcomes.put({
          _id: assignmentId,
          assignmentId,
          nodeId,
          moduleName: MODULES[r(MODULES.length)]!,
          outcome: r(3) ? "succeeded" : "failed",
          version: "2.0.0",
          ...(r(3) ? {} : { error: "boom" }),
          durationMs: r(100),
          at: new Date(1_700_000_000_000 + r(100_000)).toISOString(),
          lastPosition: 100 + i,
        } as OutcomeDoc);
      }
      for (let k = r(5); k > 0; k--) {
        await telemetry.record({ nodeId, environment, at: 1_700_000_000_000 + r(100_000), metrics: { cpu: r(100), memory: r(100), latencyP95Ms: r(500), errorRate: r(10) / 100, requestRate: r(1000) }, modules: null });
      }
    }
    for (const environment of ENVS) {
      for (const moduleName of MODULES) {
        const since = 1_700_000_000_000 + r(100_000);
        const view = await fleetView(store, environment, moduleName, since);
        assert.equal({ ...view, samples: samplesOf(view.samples) }, await plainFleetView(store, environment, moduleName, since), `seed ${seed} ${environment} ${moduleName}`);
        seen.nodes += view.nodes.length;
        seen.outcomes += view.outcomes.length;
        seen.samples += samplesOf(view.samples).length;
        seen.errors += view.outcomes.filter((o) => "error" in o).length;
      }
    }
  }
  // the cases were not all empty
  assert.ok(seen.nodes > 50 && seen.outcomes > 20 && seen.samples > 20 && seen.errors > 5, JSON.stringify(seen));
});

test.run();
