// Names that are properties of Object.prototype, used as module names, node ids and label keys,
// driven through the whole in-process path: decide -> evolve -> projections -> the process step
// the runner takes. Nothing may read Object.prototype where an entry was meant, nothing may
// change a prototype, and the deployment must end as it would for any other name.
import fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { deploymentDecider, foldDeployment, isTerminal, type DeploymentState } from "../../src/commands/deployment.js";
import { DomainError } from "../../src/commands/errors.js";
import type { DeploymentEvent } from "../../src/events/catalog/deployment.js";
import type { NodeEvent } from "../../src/events/catalog/node.js";
import type { RecordedEvent } from "../../src/events/envelope.js";
import { fleetNodeOf } from "../../src/fleet/fleet-view.js";
import { advance, type AssignmentOutcome } from "../../src/processes/deployment-process.js";
import { deploymentViewOf, deploymentsProjection, type DeploymentDoc } from "../../src/projections/deployments.js";
import { desiredStateProjection, type DesiredStateDoc } from "../../src/projections/desired-state.js";
import { nodeOutcomesProjection, nodesProjection, type NodeDoc, type OutcomeDoc } from "../../src/projections/nodes.js";
import type { ProjectedDoc, Projection } from "../../src/projections/projection.js";
import type { MetricSample } from "../../src/strategies/health-analysis.js";
import { resolveSettings, type StrategyName } from "../../src/strategies/settings.js";
import { sampleRunsOf } from "../../src/strategies/sample-runs.js";

const PROTO_NAMES = [
  "__proto__",
  "constructor",
  "toString",
  "hasOwnProperty",
  "valueOf",
  "isPrototypeOf",
  "propertyIsEnumerable",
  "toLocaleString",
  "__defineGetter__",
  "__lookupGetter__",
] as const;
// what the HTTP schema lets through as a module name (lowercase, starting with a letter)
const VALID_MODULE_NAMES = ["constructor", "tostring", "valueof", "hasownproperty", "proto__"] as const;

const T0 = Date.parse("2026-03-01T10:00:00.000Z");
const NEW = "2.0.0";
const STEP_MS = 500;

/** Object.fromEntries defines own properties, as JSON.parse does: "__proto__" becomes an entry. */
const record = (entries: readonly (readonly [string, string])[]) => Object.fromEntries(entries) as Record<string, string>;

const prototypeSnapshot = () => Object.getOwnPropertyNames(Object.prototype).sort().join(",");

/** Read models in a Map per collection, applied like the projection runner does (minus the store). */
class Projections {
  private readonly docs = new Map<string, Map<string, ProjectedDoc>>();
  private position = 0;
  constructor(private readonly projections: Projection[]) {}
  apply(streamId: string, events: readonly { type: string; data: unknown }[]) {
    for (const e of events) {
      const recorded: RecordedEvent = {
        ...e,
        streamId,
        revision: 0,
        position: ++this.position,
        metadata: {
          eventId: "00000000-0000-4000-8000-000000000000",
          occurredAt: new Date(T0).toISOString(),
          actor: { kind: "system", id: "test" },
          correlationId: "c",
          causationId: "c",
          schemaVersion: 1,
          tenantId: "default",
        },
      };
      for (const p of this.projections) {
        const docs = this.docs.get(p.collection) ?? new Map<string, ProjectedDoc>();
        this.docs.set(p.collection, docs);
        for (const key of p.keys(recorded)) {
          const next = p.apply(docs.get(key) ?? null, recorded);
          if (next) docs.set(key, p.finish ? p.finish({ ...next, lastPosition: recorded.position } as ProjectedDoc) : ({ ...next, lastPosition: recorded.position } as ProjectedDoc));
          else docs.delete(key);
        }
      }
    }
  }
  all<D extends ProjectedDoc>(collection: string): D[] {
    return [...(this.docs.get(collection)?.values() ?? [])] as D[];
  }
  get<D extends ProjectedDoc>(collection: string, id: string): D | undefined {
    return this.docs.get(collection)?.get(id) as D | undefined;
  }
}

const caseArb = fc.record({
  moduleName: fc.constantFrom<string>(...PROTO_NAMES, ...VALID_MODULE_NAMES),
  nodeIds: fc.uniqueArray(fc.constantFrom<string>(...PROTO_NAMES, "qa-0000000000000001", "qa-00000000000000ff"), { minLength: 1, maxLength: 7 }),
  labels: fc.uniqueArray(fc.tuple(fc.constantFrom<string>(...PROTO_NAMES), fc.constantFrom("x", "1", "")), { selector: ([k]) => k, maxLength: 4 }),
  installed: fc.uniqueArray(fc.tuple(fc.constantFrom<string>(...PROTO_NAMES, ...VALID_MODULE_NAMES), fc.constantFrom("1.0.0", "0.9.0")), { selector: ([k]) => k, maxLength: 4 }),
  colored: fc.boolean(),
  strategy: fc.constantFrom<StrategyName>("Direct", "Rolling", "BlueGreen", "Canary"),
});

function requested(moduleName: string, strategy: StrategyName): DeploymentEvent[] {
  const settings = resolveSettings("QA", {
    QA: { strategy, checkIntervalMs: 1000, requiredStableChecks: 1, minWaitMs: 0, maxWaitMs: 10_000, analysisWindowMs: 5000, installTimeoutMs: 5000, thresholds: { minSamplesPerNode: 1 } },
  });
  const command = { type: "RequestDeployment" as const, executionId: "ex", version: NEW, targetEnvironment: "QA" as const, requesterEmail: "dev@example.com", requestedBy: "deployer", settings, now: T0 };
  try {
    return deploymentDecider.decide({ ...command, moduleName }, deploymentDecider.initialState);
  } catch (err) {
    // the request schema refuses this name: a clean validation error, and the event as an older
    // log (or an import) could still hold it goes through the rest of the path
    assert.instance(err, DomainError);
    assert.is((err as DomainError).code, "validation");
    return deploymentDecider.decide({ ...command, moduleName: "placeholder" }, deploymentDecider.initialState).map((e) =>
      e.type === "DeploymentRequested" ? { ...e, data: { ...e.data, moduleName } } : e,
    );
  }
}

test("prototype property names as module names, node ids and labels: every deployment ends as for any name, no prototype changes", () => {
  const pristine = prototypeSnapshot();
  fc.assert(
    fc.property(caseArb, (c) => {
      const read = new Projections([nodesProjection, nodeOutcomesProjection, deploymentsProjection, desiredStateProjection] as Projection[]);
      c.nodeIds.forEach((nodeId, i) => {
        const labels = record(c.colored ? [...c.labels, ["color", i % 2 ? "green" : "blue"]] : c.labels);
        const event: NodeEvent = {
          type: "NodeRegistered",
          data: { nodeId, environment: "QA", hostname: `h${i}`, capacity: { cpuCores: 2, memoryMb: 2048 }, labels, modules: record(c.installed), at: new Date(T0).toISOString() },
        } as NodeEvent;
        read.apply(`node-${nodeId}`, [event]);
      });
      for (const nodeId of c.nodeIds) {
        const doc = read.get<NodeDoc>("fleet_nodes", nodeId)!;
        assert.equal(Object.keys(doc.modules).sort(), c.installed.map(([k]) => k).sort(), "a node's modules are exactly its own entries");
        assert.is(Object.getPrototypeOf(doc.modules), Object.prototype);
        assert.is(Object.getPrototypeOf(doc.labels), Object.prototype);
      }
      const installedVersion = new Map(c.installed).get(c.moduleName) ?? null;
      const running = new Map<string, string | null>(c.nodeIds.map((id) => [id, installedVersion]));

      let now = T0;
      let events = requested(c.moduleName, c.strategy);
      let state: DeploymentState = foldDeployment(deploymentDecider.initialState, events);
      read.apply("deployment-ex", events);
      const samples: MetricSample[] = [];
      for (let i = 0; i < 400 && !isTerminal(state.status); i++) {
        for (const nodeId of c.nodeIds) samples.push({ nodeId, at: now, cpu: 30, memory: 40, latencyP95Ms: 100, errorRate: 0.001, requestRate: 100 });
        const nodes = read.all<NodeDoc>("fleet_nodes").map((d) => fleetNodeOf(d, c.moduleName));
        for (const n of nodes) assert.is(n.version, running.get(n.nodeId), "a node's version of the module is its own entry or null");
        const outcomes: AssignmentOutcome[] = read
          .all<OutcomeDoc>("fleet_outcomes")
          .filter((o) => o.moduleName === c.moduleName)
          .map((o) => ({ assignmentId: o.assignmentId, nodeId: o.nodeId, outcome: o.outcome, durationMs: o.durationMs }));
        const step = advance(state, { nodes, outcomes, samples: sampleRunsOf(samples.filter((s) => s.at > now - 10_000)), mayStart: true }, now);
        events = step.events;
        state = foldDeployment(state, events);
        read.apply("deployment-ex", events);
        // the fleet carries out what was asked, reported through the node streams
        for (const e of events) {
          if (e.type !== "NodeUpdateRequested") continue;
          const d = e.data;
          const base = { nodeId: d.nodeId, moduleName: d.moduleName, assignmentId: d.assignmentId, durationMs: 5, at: new Date(now).toISOString() };
          const report: NodeEvent = (d.toVersion === null ? { type: "ModuleRemoved", data: base } : { type: "ModuleInstalled", data: { ...base, version: d.toVersion } }) as NodeEvent;
          read.apply(`node-${d.nodeId}`, [report]);
          running.set(d.nodeId, d.toVersion);
          const desired = read.get<DesiredStateDoc>("fleet_desired_state", d.nodeId)!;
          assert.ok(Object.hasOwn(desired.assignments, d.moduleName), "the desired state holds the assignment as its own entry");
          assert.is(desired.superseded.includes(undefined as unknown as string), false);
        }
        now += STEP_MS;
      }
      assert.is(state.status, "Succeeded", `${state.status}: ${state.failureReason ?? ""}`);
      const updated = Object.values(state.nodes).filter((n) => n.phase === "updated").map((n) => n.nodeId).sort();
      const expected = c.strategy === "BlueGreen" ? updated : [...c.nodeIds].sort();
      assert.equal(updated, expected, "every planned node was updated");
      assert.ok(updated.length > 0);
      for (const nodeId of updated) {
        const doc = read.get<NodeDoc>("fleet_nodes", nodeId)!;
        assert.ok(Object.hasOwn(doc.modules, c.moduleName) && doc.modules[c.moduleName] === NEW, `${nodeId} runs ${NEW} of ${c.moduleName}`);
      }
      const view = read.get<DeploymentDoc>("deployments", "ex")!;
      assert.is(view.status, "Succeeded");
      const planned = Object.values(state.nodes).filter((n) => n.wave >= 0).map((n) => n.nodeId);
      assert.equal(deploymentViewOf(view).nodes.map((n) => n.nodeId).sort(), planned.sort());
      // a snapshot is JSON: the state read back from one folds on to the same place
      const thawed = JSON.parse(JSON.stringify(state)) as DeploymentState;
      assert.equal(Object.keys(thawed.nodes).sort(), Object.keys(state.nodes).sort());
      assert.is(prototypeSnapshot(), pristine);
      assert.is(({} as Record<string, unknown>).x, undefined);
    }),
    { numRuns: 150, includeErrorInReport: true },
  );
});

test("strategy overrides keyed by prototype names are a validation error, never a crash", () => {
  fc.assert(
    fc.property(fc.constantFrom<string>(...PROTO_NAMES), fc.boolean(), (name, nested) => {
      const overrides = JSON.parse(nested ? `{"QA":{${JSON.stringify(name)}:{"strategy":"Canary"}}}` : `{${JSON.stringify(name)}:{"strategy":"Canary"}}`) as unknown;
      try {
        resolveSettings("QA", overrides);
        assert.unreachable("accepted");
      } catch (err) {
        assert.instance(err, DomainError);
        assert.is((err as DomainError).code, "validation");
      }
      assert.throws(() => resolveSettings(name as "QA", {}), (err: unknown) => err instanceof DomainError && err.code === "validation");
    }),
  );
});

test.run();
