import { suite } from "uvu";
import * as assert from "uvu/assert";
import { fold } from "../../src/commands/decider.js";
import { DomainError } from "../../src/commands/errors.js";
import { nodeDecider, type NodeCommand } from "../../src/commands/node.js";
import { clusterDecider } from "../../src/commands/cluster.js";
import type { NodeEvent } from "../../src/events/catalog/node.js";
import { defaultSettings } from "../../src/strategies/settings.js";

const t = suite("node decider");
const T0 = Date.parse("2026-05-01T10:00:00.000Z");
const at = (ms = T0) => new Date(ms).toISOString();

const registered: NodeEvent = {
  type: "NodeRegistered",
  data: { nodeId: "qa-1", environment: "QA", hostname: "h1", capacity: { cpuCores: 2, memoryMb: 2048 }, labels: { color: "blue" }, modules: {}, at: at() },
};
const H1 = "1".repeat(64);
const H2 = "2".repeat(64);
const register = { type: "RegisterNode", nodeId: "qa-1", environment: "QA", hostname: "h1", capacity: { cpuCores: 2, memoryMb: 2048 }, labels: { color: "blue" }, modules: {}, proof: {}, newSecretHash: H1, now: T0 } satisfies NodeCommand;
const issued = (generation: number, secretHash = H1): NodeEvent => ({ type: "NodeCredentialIssued", data: { nodeId: "qa-1", secretHash, generation, at: at() } });
/** a registration by the holder of the first credential */
const again = { ...register, proof: { secretHash: H1 }, newSecretHash: H2 } satisfies NodeCommand;
const install = { assignmentId: "a1", moduleName: "net-filter", toVersion: "1.0.0", kind: "install" as const };

/** given events, when command, then events (or the error's code) */
function check(given: NodeEvent[], when: NodeCommand, then: NodeEvent[] | { error: string }) {
  const state = fold(nodeDecider, given);
  if ("error" in then) {
    try {
      nodeDecider.decide(when, state);
      assert.unreachable("expected an error");
    } catch (err) {
      assert.instance(err, DomainError);
      assert.is((err as DomainError).code, then.error);
    }
    return;
  }
  assert.equal(nodeDecider.decide(when, state), then);
}

t("register: new node -> NodeRegistered; again -> nothing; changed labels -> NodeDetailsChanged", () => {
  check([], register, [registered, issued(1)]);
  check([registered, issued(1)], again, []);
  check([registered, issued(1)], { ...again, labels: { color: "green" } }, [
    { type: "NodeDetailsChanged", data: { nodeId: "qa-1", capacity: { cpuCores: 2, memoryMb: 2048 }, labels: { color: "green" }, at: at() } },
  ]);
  check([registered, issued(1)], { ...again, environment: "Staging" }, { error: "conflict" });
});

t("register after deregistration registers again; re-registering an Offline node recovers it", () => {
  const gone: NodeEvent = { type: "NodeDeregistered", data: { nodeId: "qa-1", reason: "x", at: at() } };
  check([registered, issued(1), gone], again, [registered, issued(2, H2)]);
  const offline: NodeEvent = { type: "NodeWentOffline", data: { nodeId: "qa-1", lastSeenAt: at(), at: at() } };
  check([registered, issued(1), offline], again, [{ type: "NodeRecovered", data: { nodeId: "qa-1", previousStatus: "Offline", at: at() } }]);
});

t("credentials: registering a node that holds one needs its secret or a token of its generation", () => {
  const given = [registered, issued(1)];
  check(given, register, { error: "conflict" });
  check(given, { ...register, proof: { secretHash: H2 } }, { error: "conflict" });
  check(given, { ...register, proof: { secretHash: "short" } }, { error: "conflict" });
  check(given, { ...register, proof: { tokenGeneration: 0 } }, { error: "conflict" });
  check(given, { ...register, proof: { tokenGeneration: 1 } }, []);
  check(given, again, []);
});

t("credentials: an Admin reset revokes the generation; the next registration claims the node with a new one", () => {
  const reset: NodeEvent = { type: "NodeCredentialReset", data: { nodeId: "qa-1", generation: 2, at: at() } };
  check([registered, issued(1)], { type: "ResetCredential", now: T0 }, [reset]);
  check([registered, issued(1), reset], { ...register, newSecretHash: H2 }, [issued(3, H2)]);
  check([registered, issued(1), reset], again, [issued(3, H2)]);
  check([registered, issued(1), reset, issued(3, H2)], again, { error: "conflict" });
  check([registered, issued(1), reset, issued(3, H2)], { ...register, proof: { tokenGeneration: 1 } }, { error: "conflict" });
  check([], { type: "ResetCredential", now: T0 }, { error: "not_found" });
  // a node registered before credentials existed is claimed by its next registration
  check([registered], register, [issued(1)]);
  assert.equal(fold(nodeDecider, [registered, issued(1), reset]).credential, { secretHash: null, generation: 2 });
});

t("health: Healthy -> Unhealthy -> Offline -> Recovered, each once", () => {
  const unhealthy: NodeEvent = { type: "NodeBecameUnhealthy", data: { nodeId: "qa-1", lastSeenAt: at(T0 - 6000), reason: `no heartbeat since ${at(T0 - 6000)}`, at: at() } };
  check([registered], { type: "MarkUnhealthy", lastSeenAt: T0 - 6000, now: T0 }, [unhealthy]);
  check([registered, unhealthy], { type: "MarkUnhealthy", lastSeenAt: T0 - 6000, now: T0 }, []);
  const offline: NodeEvent = { type: "NodeWentOffline", data: { nodeId: "qa-1", lastSeenAt: at(T0 - 6000), at: at() } };
  check([registered, unhealthy], { type: "MarkOffline", lastSeenAt: T0 - 6000, now: T0 }, [offline]);
  check([registered, unhealthy, offline], { type: "MarkOffline", lastSeenAt: T0 - 6000, now: T0 }, []);
  check([registered, unhealthy, offline], { type: "RecordSignOfLife", now: T0 }, [{ type: "NodeRecovered", data: { nodeId: "qa-1", previousStatus: "Offline", at: at() } }]);
  check([registered], { type: "RecordSignOfLife", now: T0 }, []);
});

t("outcomes: success installs, failure records the error, a retry changes nothing, a contradiction conflicts", () => {
  const installed: NodeEvent = { type: "ModuleInstalled", data: { nodeId: "qa-1", moduleName: "net-filter", version: "1.0.0", assignmentId: "a1", durationMs: 12, at: at() } };
  check([registered], { type: "ReportOutcome", assignment: install, outcome: "succeeded", durationMs: 12, now: T0 }, [installed]);
  check([registered, installed], { type: "ReportOutcome", assignment: install, outcome: "succeeded", durationMs: 12, now: T0 }, []);
  check([registered, installed], { type: "ReportOutcome", assignment: install, outcome: "failed", durationMs: 1, error: "x", now: T0 }, { error: "conflict" });
  check([registered], { type: "ReportOutcome", assignment: install, outcome: "failed", durationMs: 3, error: "disk full", now: T0 }, [
    { type: "ModuleInstallFailed", data: { nodeId: "qa-1", moduleName: "net-filter", version: "1.0.0", assignmentId: "a1", error: "disk full", durationMs: 3, at: at() } },
  ]);
  const rollbackToNothing = { assignmentId: "a2", moduleName: "net-filter", toVersion: null, kind: "rollback" as const };
  check([registered, installed], { type: "ReportOutcome", assignment: rollbackToNothing, outcome: "succeeded", durationMs: 2, now: T0 }, [
    { type: "ModuleRemoved", data: { nodeId: "qa-1", moduleName: "net-filter", assignmentId: "a2", durationMs: 2, at: at() } },
  ]);
  const state = fold(nodeDecider, [registered, installed]);
  assert.equal(state.modules, { "net-filter": "1.0.0" });
});

t("unknown or deregistered nodes refuse everything but registration", () => {
  check([], { type: "RecordSignOfLife", now: T0 }, { error: "not_found" });
  check([registered, { type: "NodeDeregistered", data: { nodeId: "qa-1", reason: "x", at: at() } }], { type: "MarkOffline", lastSeenAt: T0, now: T0 }, { error: "conflict" });
});

t("cluster decider: provisioned once, settings re-recorded only when they change", () => {
  const s = defaultSettings.QA;
  const cmd = { type: "ProvisionCluster" as const, environment: "QA" as const, strategy: s.strategy, thresholds: s.thresholds, now: T0 };
  const [provisioned] = clusterDecider.decide(cmd, clusterDecider.initialState);
  assert.is(provisioned!.type, "ClusterProvisioned");
  const state = fold(clusterDecider, [provisioned!]);
  assert.equal(clusterDecider.decide(cmd, state), []);
  assert.is(clusterDecider.decide({ ...cmd, thresholds: { ...s.thresholds, maxCpu: 50 } }, state)[0]!.type, "ClusterSettingsChanged");
});

t.run();
