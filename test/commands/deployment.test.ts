import { test } from "uvu";
import * as assert from "uvu/assert";
import { fold } from "../../src/commands/decider.js";
import { deploymentDecider, type DeploymentCommand } from "../../src/commands/deployment.js";
import { DomainError } from "../../src/commands/errors.js";
import type { DeploymentEvent } from "../../src/events/catalog/deployment.js";
import { resolveSettings } from "../../src/strategies/settings.js";

const T0 = Date.parse("2026-03-01T10:00:00.000Z");
const iso = (ms: number) => new Date(ms).toISOString();

function request(overrides: Partial<Extract<DeploymentCommand, { type: "RequestDeployment" }>> = {}): DeploymentCommand {
  const targetEnvironment = overrides.targetEnvironment ?? "Production";
  return {
    type: "RequestDeployment",
    executionId: "ex1",
    moduleName: "netfilter-ext",
    version: "2.1.0",
    targetEnvironment,
    requesterEmail: "dev@example.com",
    requestedBy: "deployer",
    settings: resolveSettings(targetEnvironment, {}),
    now: T0,
    ...overrides,
  };
}

/** given events, when command, then events (or the error). */
function given(events: DeploymentEvent[]) {
  const state = fold(deploymentDecider, events);
  return {
    when(command: DeploymentCommand) {
      try {
        return { events: deploymentDecider.decide(command, state), error: null as DomainError | null };
      } catch (err) {
        if (err instanceof DomainError) return { events: [] as DeploymentEvent[], error: err };
        throw err;
      }
    },
  };
}

const requestedProduction = () => given([]).when(request()).events;
const requestedDevelopment = () => given([]).when(request({ targetEnvironment: "Development" })).events;

test("a Production request waits for approval that expires after the configured time", () => {
  const { events, error } = given([]).when(request());
  assert.is(error, null);
  assert.equal(
    events.map((e) => e.type),
    ["DeploymentRequested", "StageStarted", "StageCompleted", "StageStarted", "ApprovalRequested"],
  );
  const requested = events[0] as Extract<DeploymentEvent, { type: "DeploymentRequested" }>;
  assert.is(requested.data.strategy, "Canary");
  assert.is(requested.data.requiresApproval, true);
  assert.is(requested.data.approvalExpiresAt, iso(T0 + 24 * 3600_000));
  assert.is(fold(deploymentDecider, events).status, "PendingApproval");
});

test("a Development request needs no approval and uses Direct; the strategy can be overridden", () => {
  const dev = requestedDevelopment();
  assert.equal(dev.map((e) => e.type), ["DeploymentRequested", "StageStarted", "StageCompleted"]);
  assert.is(fold(deploymentDecider, dev).status, "Pending");
  assert.is((dev[0] as Extract<DeploymentEvent, { type: "DeploymentRequested" }>).data.strategy, "Direct");
  const canary = given([]).when(request({ targetEnvironment: "Development", strategy: "Canary" })).events;
  assert.is((canary[0] as Extract<DeploymentEvent, { type: "DeploymentRequested" }>).data.settings.strategy, "Canary");
});

test("invalid requests are refused with the offending fields", () => {
  for (const bad of [{ moduleName: "A" }, { moduleName: "9abc" }, { version: "1.2" }, { requesterEmail: "nope" }]) {
    const { error } = given([]).when(request(bad));
    assert.is(error?.code, "validation", JSON.stringify(bad));
    const fields = (error?.details.fields ?? []) as { path: string }[];
    assert.ok(fields.some((f) => f.path === Object.keys(bad)[0]), JSON.stringify(error?.details));
  }
});

test("requesting the same execution twice is a conflict", () => {
  assert.is(given(requestedDevelopment()).when(request()).error?.code, "conflict");
});

test("an Admin approves: approval recorded, deployment becomes Pending", () => {
  const { events } = given(requestedProduction()).when({ type: "Approve", by: "admin", reason: "looks good", now: T0 + 1000 });
  assert.equal(events, [
    { type: "ApprovalGranted", data: { by: "admin", reason: "looks good", at: iso(T0 + 1000) } },
    { type: "StageCompleted", data: { stage: "Approval", outcome: "succeeded", at: iso(T0 + 1000), message: "approved by admin: looks good" } },
  ]);
  const state = fold(deploymentDecider, [...requestedProduction(), ...events]);
  assert.is(state.status, "Pending");
  assert.is(state.approval.status, "Approved");
  assert.is(state.approval.decidedBy, "admin");
});

test("the requester cannot approve their own deployment unless allowed", () => {
  const own = given(requestedProduction()).when({ type: "Approve", by: "deployer", now: T0 + 1 });
  assert.is(own.error?.code, "forbidden");
  const byEmail = given(requestedProduction()).when({ type: "Approve", by: "someone", byEmail: "DEV@example.com", now: T0 + 1 });
  assert.is(byEmail.error?.code, "forbidden");
  const settings = resolveSettings("Production", { Production: { approval: { allowSelfApproval: true } } });
  const allowed = given(given([]).when(request({ settings })).events).when({ type: "Approve", by: "deployer", now: T0 + 1 });
  assert.is(allowed.error, null);
});

test("deciding an already decided or expired approval is a conflict", () => {
  const approved = [...requestedProduction(), ...given(requestedProduction()).when({ type: "Approve", by: "admin", now: T0 + 1 }).events];
  assert.is(given(approved).when({ type: "Approve", by: "admin", now: T0 + 2 }).error?.code, "conflict");
  assert.is(given(approved).when({ type: "Reject", by: "admin", reason: "no", now: T0 + 2 }).error?.code, "conflict");
  const late = T0 + 24 * 3600_000;
  assert.is(given(requestedProduction()).when({ type: "Approve", by: "admin", now: late }).error?.code, "conflict");
});

test("rejection records who and why and ends Rejected; a reason is required", () => {
  const { events } = given(requestedProduction()).when({ type: "Reject", by: "admin", reason: "freeze week", now: T0 + 5 });
  assert.equal(events.map((e) => e.type), ["ApprovalRejected", "StageCompleted", "DeploymentRejected"]);
  const state = fold(deploymentDecider, [...requestedProduction(), ...events]);
  assert.is(state.status, "Rejected");
  assert.is(state.approval.reason, "freeze week");
  assert.is(given(requestedProduction()).when({ type: "Reject", by: "admin", reason: "  ", now: T0 + 5 }).error?.code, "validation");
});

test("an approval expires only at its expiry time, as Rejected", () => {
  assert.is(given(requestedProduction()).when({ type: "ExpireApproval", now: T0 + 1000 }).error?.code, "conflict");
  const { events } = given(requestedProduction()).when({ type: "ExpireApproval", now: T0 + 24 * 3600_000 });
  assert.equal(events.map((e) => e.type), ["ApprovalExpired", "StageCompleted", "DeploymentRejected"]);
  const state = fold(deploymentDecider, [...requestedProduction(), ...events]);
  assert.is(state.status, "Rejected");
  assert.is(state.approval.status, "Expired");
});

test("abort before anything was touched cancels directly", () => {
  const { events } = given(requestedProduction()).when({ type: "Abort", by: "deployer", now: T0 + 1 });
  assert.equal(events.map((e) => e.type), ["StageCompleted", "DeploymentCancelled"]);
  const state = fold(deploymentDecider, [...requestedProduction(), ...events]);
  assert.is(state.status, "Cancelled");
  assert.is(state.approval.status, "Cancelled");
});

const at = iso(T0 + 10);
const planned: DeploymentEvent[] = [
  ...requestedDevelopment(),
  { type: "StageStarted", data: { stage: "Plan", at, message: "" } },
  {
    type: "DeploymentPlanned",
    data: {
      strategy: "Direct",
      waves: [{ index: 0, nodeIds: ["n1", "n2"], label: "all" }],
      nodes: [
        { nodeId: "n1", previousVersion: "1.0.0", wave: 0 },
        { nodeId: "n2", previousVersion: null, wave: 0 },
      ],
      skippedNodeIds: [],
      deadlineAt: iso(T0 + 3600_000),
      at,
    },
  },
  { type: "StageCompleted", data: { stage: "Plan", outcome: "succeeded", at, message: "" } },
  { type: "StageStarted", data: { stage: "Deploy", at, message: "" } },
  { type: "WaveStarted", data: { wave: 0, nodeIds: ["n1", "n2"], at } },
];
const installing: DeploymentEvent[] = [
  ...planned,
  {
    type: "NodeUpdateRequested",
    data: { nodeId: "n1", assignmentId: "ex1:n1:1", moduleName: "netfilter-ext", fromVersion: "1.0.0", toVersion: "2.1.0", kind: "install", timeoutAt: iso(T0 + 60_000), at },
  },
];

test("pause and resume a running deployment; the deadline moves by the pause", () => {
  const paused = given(planned).when({ type: "Pause", by: "deployer", now: T0 + 1000 });
  assert.equal(paused.events, [{ type: "DeploymentPaused", data: { by: "deployer", at: iso(T0 + 1000) } }]);
  const history = [...planned, ...paused.events];
  assert.is(given(history).when({ type: "Pause", by: "deployer", now: T0 + 2000 }).error?.code, "conflict");
  const resumed = given(history).when({ type: "Resume", by: "deployer", now: T0 + 6000 });
  assert.equal(resumed.events, [{ type: "DeploymentResumed", data: { by: "deployer", at: iso(T0 + 6000), deadlineAt: iso(T0 + 3600_000 + 5000) } }]);
  assert.is(given(planned).when({ type: "Resume", by: "deployer", now: T0 }).error?.code, "conflict");
  assert.is(given(requestedProduction()).when({ type: "Pause", by: "deployer", now: T0 }).error?.code, "conflict");
});

test("abort of a running deployment rolls back the touched nodes", () => {
  const { events } = given(installing).when({ type: "Abort", by: "deployer", now: T0 + 100 });
  assert.equal(events.map((e) => e.type), ["StageCompleted", "RollbackStarted", "StageStarted"]);
  const started = events[1] as Extract<DeploymentEvent, { type: "RollbackStarted" }>;
  assert.equal(started.data.nodeIds, ["n1"]);
  assert.is(started.data.trigger, "abort");
  assert.is(fold(deploymentDecider, [...installing, ...events]).status, "RollingBack");
  // and with nothing touched yet, abort cancels at once
  assert.equal(given(planned).when({ type: "Abort", by: "deployer", now: T0 + 100 }).events.map((e) => e.type), ["StageCompleted", "DeploymentCancelled"]);
});

test("manual rollback: allowed for Succeeded (and Running with touched nodes), a conflict otherwise", () => {
  assert.is(given(requestedProduction()).when({ type: "Rollback", by: "deployer", now: T0 }).error?.code, "conflict");
  assert.is(given(planned).when({ type: "Rollback", by: "deployer", now: T0 }).error?.code, "conflict");
  const running = given(installing).when({ type: "Rollback", by: "deployer", now: T0 + 5 });
  assert.is(running.error, null);
  const succeeded: DeploymentEvent[] = [
    ...installing,
    { type: "NodeUpdated", data: { nodeId: "n1", assignmentId: "ex1:n1:1", version: "2.1.0", at } },
    { type: "StageCompleted", data: { stage: "Deploy", outcome: "succeeded", at, message: "" } },
    { type: "DeploymentSucceeded", data: { at, message: "" } },
  ];
  const { events } = given(succeeded).when({ type: "Rollback", by: "admin", reason: "customer report", now: T0 + 9 });
  assert.equal(events.map((e) => e.type), ["RollbackStarted", "StageStarted"]);
  assert.is((events[0] as Extract<DeploymentEvent, { type: "RollbackStarted" }>).data.reason, "customer report");
  const rolledBack: DeploymentEvent[] = [...succeeded, ...events, { type: "DeploymentRolledBack", data: { at, reason: "x" } }];
  assert.is(given(rolledBack).when({ type: "Rollback", by: "admin", now: T0 + 10 }).error?.code, "conflict");
  assert.is(given(rolledBack).when({ type: "Abort", by: "admin", now: T0 + 10 }).error?.code, "conflict");
});

test("commands on an unknown deployment are not_found", () => {
  assert.is(given([]).when({ type: "Pause", by: "x", now: T0 }).error?.code, "not_found");
});

test.run();
