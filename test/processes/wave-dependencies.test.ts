// The deployment process judges module dependencies again as each wave starts (issue 14): pure
// steps on folded states, with the facts the runner would read given by hand.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { deploymentDecider, foldDeployment, initialDeploymentState, type DeploymentState } from "../../src/commands/deployment.js";
import type { DeploymentEvent } from "../../src/events/catalog/deployment.js";
import type { WaveDependencies } from "../../src/graph/wave-check.js";
import { advance, type Observation } from "../../src/processes/deployment-process.js";
import { resolveSettings } from "../../src/strategies/settings.js";
import { NO_SAMPLES } from "../../src/strategies/sample-runs.js";

const T0 = Date.parse("2026-03-01T10:00:00.000Z");
const NODES = ["qa-1", "qa-2"];

function requested(): DeploymentState {
  const settings = resolveSettings("QA", { QA: { strategy: "Rolling", batchSize: 1, maxUnavailable: 1, minWaitMs: 0, maxWaitMs: 60_000, progressDeadlineMs: 1_000_000 } });
  const events = deploymentDecider.decide(
    { type: "RequestDeployment", executionId: "e-1", requestedBy: "deployer", moduleName: "app", version: "1.0.0", targetEnvironment: "QA", requesterEmail: "d@x.co", settings, now: T0, dependencies: [{ name: "dep", range: "^2.0.0" }] },
    initialDeploymentState,
  );
  return foldDeployment(initialDeploymentState, events);
}

const obs = (extra: Partial<Observation> = {}): Observation => ({
  nodes: NODES.map((nodeId) => ({ nodeId, status: "Healthy" as const, version: null })),
  outcomes: [],
  samples: NO_SAMPLES,
  mayStart: true,
  judgeDependencies: true,
  ...extra,
});

const facts = (wave: number, dep: Record<string, string | null>, extra: Partial<WaveDependencies> = {}): WaveDependencies => ({
  wave,
  needs: [{ name: "dep", range: "^2.0.0" }],
  dependents: [],
  forced: [],
  nodes: Object.entries(dep).map(([nodeId, v]): WaveDependencies["nodes"][number] => ({ nodeId, modules: v === null ? {} : { dep: v } })),
  ...extra,
});

/** Planned, wave 1 installed and completed on qa-1: wave 2 (qa-2) is next. */
function secondWaveNext(): DeploymentState {
  let s = requested();
  const first = advance(s, obs({ waveDependencies: facts(0, { "qa-1": "2.1.0" }) }), T0);
  assert.not.ok(first.needsDependencies);
  s = foldDeployment(s, first.events);
  const sent = first.events.find((e): e is Extract<DeploymentEvent, { type: "NodeUpdateRequested" }> => e.type === "NodeUpdateRequested")!;
  assert.is(sent.data.nodeId, "qa-1");
  const done = advance(s, obs({ outcomes: [{ assignmentId: sent.data.assignmentId, nodeId: "qa-1", outcome: "succeeded" }] }), T0 + 10);
  s = foldDeployment(s, done.events);
  if (s.waves[0]!.status !== "completed") s = foldDeployment(s, [{ type: "WaveCompleted", data: { wave: 0, at: new Date(T0 + 20).toISOString(), message: "stable" } }]);
  assert.is(s.currentWave, 1);
  assert.is(s.waves[1]!.status, "pending");
  return s;
}

test("a wave about to start asks for what its nodes run, and starts once they satisfy the dependencies", () => {
  const s = requested();
  const asked = advance(s, obs(), T0);
  assert.equal(asked.needsDependencies, { wave: 0, nodeIds: ["qa-1"] });
  const started = advance(s, obs({ waveDependencies: facts(0, { "qa-1": "2.0.0" }) }), T0);
  assert.not.ok(started.needsDependencies);
  assert.ok(started.events.some((e) => e.type === "WaveStarted"));
  // a caller that does not judge dependencies (judgeDependencies absent) starts waves as before
  const { judgeDependencies: _, ...plain } = obs();
  assert.ok(advance(s, plain, T0).events.some((e) => e.type === "WaveStarted"));
});

test("first wave: a node no longer running what the version needs fails the deployment, naming node, module and range", () => {
  const s = requested();
  const out = advance(s, obs({ waveDependencies: facts(0, { "qa-1": "1.4.0" }) }), T0);
  assert.not.ok(out.events.some((e) => e.type === "WaveStarted" || e.type === "NodeUpdateRequested"));
  const failed = out.events.find((e) => e.type === "DeploymentFailed");
  assert.ok(failed, JSON.stringify(out.events.map((e) => e.type)));
  assert.match(failed!.type === "DeploymentFailed" ? failed!.data.reason : "", /node qa-1 runs dep 1\.4\.0, app@1\.0\.0 needs dep \^2\.0\.0/);
  const end = foldDeployment(s, out.events);
  assert.is(end.status, "Failed");
  // a module it needs that the node does not run at all
  const none = advance(s, obs({ waveDependencies: facts(0, { "qa-1": null }) }), T0);
  assert.ok(none.events.some((e) => e.type === "DeploymentFailed" && /node qa-1 runs no dep, app@1\.0\.0 needs dep \^2\.0\.0/.test(e.data.reason)));
});

test("a later wave: waves already done are rolled back, the cause names node, module and range", () => {
  const s = secondWaveNext();
  const out = advance(s, obs({ waveDependencies: facts(1, { "qa-2": "1.9.0" }) }), T0 + 100);
  assert.not.ok(out.events.some((e) => e.type === "WaveStarted"));
  const rb = out.events.find((e): e is Extract<DeploymentEvent, { type: "RollbackStarted" }> => e.type === "RollbackStarted");
  assert.ok(rb, JSON.stringify(out.events.map((e) => e.type)));
  assert.equal(rb!.data.nodeIds, ["qa-1"]);
  assert.equal(rb!.data.cause, { kind: "dependencies", wave: 1, unsatisfied: [{ nodeId: "qa-2", module: "dep", range: "^2.0.0", running: "1.9.0" }], broken: [] });
  assert.match(rb!.data.reason, /wave 2.*node qa-2 runs dep 1\.9\.0, app@1\.0\.0 needs dep \^2\.0\.0/);
  assert.ok(out.events.some((e) => e.type === "NodeUpdateRequested" && e.data.nodeId === "qa-1" && e.data.kind === "remove"));
});

test("dependents: a module on the wave's node that the new version would break fails the wave, unless an Admin forced past that very one", () => {
  const s = requested();
  const dependents = [{ module: "fwall", version: "1.0.0", range: "^0.9.0" }];
  const node = [{ nodeId: "qa-1", modules: { dep: "2.0.0", app: "0.9.0", fwall: "1.0.0" } }];
  const broken = advance(s, obs({ waveDependencies: facts(0, {}, { dependents, nodes: node }) }), T0);
  assert.ok(broken.events.some((e) => e.type === "DeploymentFailed" && /fwall@1\.0\.0 on node qa-1 needs app \^0\.9\.0/.test(e.data.reason)));
  const forced = advance(s, obs({ waveDependencies: facts(0, {}, { dependents, nodes: node, forced: [{ nodeId: "qa-1", module: "fwall", version: "1.0.0" }] }) }), T0);
  assert.ok(forced.events.some((e) => e.type === "WaveStarted"));
  // one the Admin never saw (another node) is judged like any other
  const other = advance(s, obs({ waveDependencies: facts(0, {}, { dependents, nodes: node, forced: [{ nodeId: "qa-2", module: "fwall", version: "1.0.0" }] }) }), T0);
  assert.ok(other.events.some((e) => e.type === "DeploymentFailed"));
});

test("paused: a wave neither starts nor asks", () => {
  const s = secondWaveNext();
  const paused = foldDeployment(s, [{ type: "DeploymentPaused", data: { by: "admin", at: new Date(T0 + 50).toISOString() } }]);
  const out = advance(paused, obs(), T0 + 100);
  assert.not.ok(out.needsDependencies);
  assert.equal(out.events, []);
});

test.run();
