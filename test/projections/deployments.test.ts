import { test } from "uvu";
import * as assert from "uvu/assert";
import { fold } from "../../src/commands/decider.js";
import { deploymentDecider } from "../../src/commands/deployment.js";
import type { DeploymentEvent } from "../../src/events/catalog/deployment.js";
import type { RecordedEvent } from "../../src/events/envelope.js";
import { deploymentViewOf, deploymentsProjection, toDeploymentView } from "../../src/projections/deployments.js";
import { resolveSettings } from "../../src/strategies/settings.js";
import { projectDeployment, recordedDeployment, T0 } from "../helpers/deployment-nodes.js";

const recorded = (events: DeploymentEvent[]): RecordedEvent[] => recordedDeployment(events, "deployment-ex1", { kind: "user", id: "deployer" });

const history = (): DeploymentEvent[] => {
  const requested = deploymentDecider.decide(
    {
      type: "RequestDeployment",
      executionId: "ex1",
      moduleName: "netfilter-ext",
      version: "2.0.0",
      targetEnvironment: "Staging",
      requesterEmail: "dev@example.com",
      requestedBy: "deployer",
      settings: resolveSettings("Staging", {}),
      now: T0,
    },
    deploymentDecider.initialState,
  );
  const approved = deploymentDecider.decide({ type: "Approve", by: "admin", reason: "ok", now: T0 + 60_000 }, fold(deploymentDecider, requested));
  return [...requested, ...approved];
};

const run = projectDeployment;

test("builds the API view from the deployment stream", () => {
  const events = recorded(history());
  assert.equal(deploymentsProjection.keys(events[0]!), ["ex1"]);
  assert.equal(deploymentsProjection.keys({ ...events[0]!, streamId: "user-bob", type: "UserCreated" }), []);
  const doc = run(events)!;
  assert.is(doc._id, "ex1");
  assert.is(doc.tenantId, "default");
  assert.is(doc.status, "Pending");
  assert.is(doc.strategy, "BlueGreen");
  assert.is(doc.progress, 0);
  assert.equal(doc.stages.map((s) => [s.name, s.status]), [
    ["Validate", "Succeeded"],
    ["Approval", "Succeeded"],
  ]);
  assert.equal(
    [doc.approval.status, doc.approval.decidedBy, doc.approval.reason, doc.approval.requestedAt],
    ["Approved", "admin", "ok", new Date(T0).toISOString()],
  );
  assert.is(doc.createdAt, new Date(T0).toISOString());
  assert.is(doc.updatedAt, new Date(T0 + 60_000).toISOString());
});

test("applying an event twice changes nothing; the view equals the folded state's view (time travel)", () => {
  const events = recorded(history());
  const once = run(events)!;
  assert.equal(run(events, once), once);
  const upTo = 3;
  const partial = run(events.slice(0, upTo))!;
  const view = deploymentViewOf(partial);
  assert.equal(view, toDeploymentView(fold(deploymentDecider, history().slice(0, upTo))));
  // the same bytes as the API has always answered: fields in the same order, nodes after waves
  assert.is(JSON.stringify(view), JSON.stringify(toDeploymentView(fold(deploymentDecider, history().slice(0, upTo)))));
});

test.run();
