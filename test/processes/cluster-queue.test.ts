// The runner's in-memory cluster queue (src/processes/cluster-queue.ts) against the plain
// definitions it replaces: a deployment's status and queued flag as evolveDeployment folds them,
// and the queue as the read-model scan sorted it (Pending ones by when they became ready, then id;
// busy while one is Running, Paused or RollingBack), whatever order the facts arrive in.
import fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { evolveDeployment, initialDeploymentState, type DeploymentState, type DeploymentStatus } from "../../src/commands/deployment.js";
import type { DeploymentEvent } from "../../src/events/catalog/deployment.js";
import { ClusterQueue, nextQueueFacts, queueFactsOf, type QueueFacts } from "../../src/processes/cluster-queue.js";

const at = (i: number) => new Date(Date.parse("2026-03-01T10:00:00.000Z") + i * 1000).toISOString();

/** Every event type that changes a status, or the queued flag, or the approval, with data enough for evolveDeployment. */
function eventOf(type: string, i: number): DeploymentEvent {
  const t = at(i);
  const data: Record<string, unknown> = {
    ApprovalRequested: { at: t, expiresAt: at(i + 60) },
    ApprovalGranted: { at: t, by: "admin", reason: null },
    ApprovalRejected: { at: t, by: "admin", reason: "no" },
    ApprovalExpired: { at: t, expiresAt: t },
    DeploymentQueued: { at: t, message: "waiting" },
    StageStarted: { at: t, stage: "Plan", message: "planning" },
    DeploymentPlanned: { at: t, strategy: "AllAtOnce", waves: [], nodes: [], skippedNodeIds: [], deadlineAt: at(i + 600) },
    DeploymentPaused: { at: t, by: "admin", reason: null },
    DeploymentResumed: { at: t, by: "admin", deadlineAt: at(i + 600) },
    RollbackStarted: { at: t, trigger: "manual", reason: "r", cause: null, nodeIds: [] },
    DeploymentSucceeded: { at: t },
    DeploymentFailed: { at: t, reason: "f", failedNodeIds: [] },
    DeploymentRolledBack: { at: t, reason: "r" },
    DeploymentCancelled: { at: t, by: "admin", reason: "c" },
    DeploymentRejected: { at: t, reason: "rejected" },
  }[type]!;
  return { type, data } as DeploymentEvent;
}
const LATER_TYPES = [
  "ApprovalRequested",
  "ApprovalGranted",
  "ApprovalRejected",
  "ApprovalExpired",
  "DeploymentQueued",
  "StageStarted",
  "DeploymentPlanned",
  "DeploymentPaused",
  "DeploymentResumed",
  "RollbackStarted",
  "DeploymentSucceeded",
  "DeploymentFailed",
  "DeploymentRolledBack",
  "DeploymentCancelled",
  "DeploymentRejected",
];

function requested(requiresApproval: boolean, environment: string): DeploymentEvent {
  return {
    type: "DeploymentRequested",
    data: {
      executionId: "x",
      moduleName: "m",
      version: "1.0.0",
      targetEnvironment: environment,
      strategy: "AllAtOnce",
      requesterEmail: "a@example.com",
      requestedBy: "a",
      description: null,
      settings: {},
      requiresApproval,
      approvalExpiresAt: null,
      at: at(0),
    },
  } as unknown as DeploymentEvent;
}

test("the facts after each event are the status, queued flag and ready time evolveDeployment folds", () => {
  fc.assert(
    fc.property(fc.boolean(), fc.array(fc.constantFrom(...LATER_TYPES), { maxLength: 12 }), (approval, types) => {
      const events = [requested(approval, "Staging"), ...types.map((t, i) => eventOf(t, i + 1))];
      let state: DeploymentState = initialDeploymentState;
      let facts: QueueFacts | undefined;
      // a decided approval other than a grant moves decidedAt in the fold; the queue's ready time is the request's or the grant's
      let otherDecision = false;
      events.forEach((e, position) => {
        state = evolveDeployment(state, e);
        facts = nextQueueFacts(facts, { type: e.type, data: e.data, position }) ?? facts;
        if (e.type === "ApprovalRejected" || e.type === "ApprovalExpired" || e.type === "DeploymentCancelled") otherDecision = true;
        if (e.type === "ApprovalGranted") otherDecision = false;
        assert.is(facts?.status, state.status, `after ${e.type}`);
        assert.is(facts?.queued, state.queued, `queued after ${e.type}`);
        assert.is(facts?.environment, state.targetEnvironment);
        if (!otherDecision) assert.is(facts?.readyAt, state.approval.decidedAt ?? state.createdAt);
        assert.equal(queueFactsOf(state, position)?.status, facts?.status);
      });
    }),
    { numRuns: 500 },
  );
});

test("an event of a stream whose start it has not seen tells the queue nothing", () => {
  assert.is(nextQueueFacts(undefined, { type: "DeploymentPlanned", data: { at: at(1) }, position: 5 }), undefined);
});

const STATUSES: DeploymentStatus[] = ["Pending", "PendingApproval", "Running", "Paused", "RollingBack", "Succeeded", "Failed", "Cancelled"];
const ACTIVE = new Set<DeploymentStatus>(["Running", "Paused", "RollingBack"]);
const ENDED = new Set<DeploymentStatus>(["Succeeded", "Failed", "RolledBack", "Cancelled", "Rejected"]);

const factsArb = fc.record({
  id: fc.constantFrom("a", "b", "c", "d", "e", "f"),
  environment: fc.constantFrom("Staging", "Development"),
  status: fc.constantFrom(...STATUSES),
  readyAt: fc.integer({ min: 0, max: 4 }).map(at),
  queued: fc.boolean(),
  position: fc.integer({ min: 1, max: 40 }),
});

test("the queue is the read-model scan's: newest facts per deployment, Pending ones in ready order, busy while one is started; the head of a free cluster is woken", () => {
  fc.assert(
    fc.property(fc.array(factsArb, { maxLength: 40 }), (updates) => {
      const woken: string[] = [];
      const queue = new ClusterQueue((id) => woken.push(id));
      // the model: the newest facts of each deployment (the first of equal positions wins); ended ones are remembered
      const model = new Map<string, QueueFacts>();
      const before = new Map<string, { free: boolean; head: string | undefined }>();
      for (const { id, ...facts } of updates) {
        const held = model.get(id);
        if (!held || held.position < facts.position) model.set(id, facts);
        woken.length = 0;
        queue.set(id, facts);
        for (const environment of ["Staging", "Development"]) {
          const here = [...model].filter(([, f]) => f.environment === environment && !ENDED.has(f.status));
          const waiting = here
            .filter(([, f]) => f.status === "Pending")
            .sort(([a, fa], [b, fb]) => (fa.readyAt !== fb.readyAt ? (fa.readyAt < fb.readyAt ? -1 : 1) : a < b ? -1 : 1))
            .map(([id]) => id);
          const busy = here.some(([, f]) => ACTIVE.has(f.status));
          assert.equal(queue.cluster(environment), { busy, waiting });
          for (const [id] of here) assert.is(queue.mayGo(environment, id), !busy && (waiting.length === 0 || waiting[0] === id));
          // a head that is new, or whose cluster just freed, is woken now
          const was = before.get(environment);
          const head = waiting[0];
          if (!busy && head !== undefined && (!was?.free || was.head !== head)) assert.ok(woken.includes(head), `${head} woken`);
          before.set(environment, { free: !busy, head });
        }
        // nobody but the head of a free cluster is woken
        for (const w of woken) assert.ok(queue.mayGo(model.get(w)!.environment, w), `${w} woken while not first in a free cluster`);
      }
    }),
    { numRuns: 1000 },
  );
});

test("a head woken once is not woken again until its cluster was busy and freed, or a slot was released", () => {
  const woken: string[] = [];
  const queue = new ClusterQueue((id) => woken.push(id));
  queue.set("a", { environment: "Staging", status: "Pending", readyAt: at(1), queued: false, position: 1 });
  queue.set("b", { environment: "Staging", status: "Pending", readyAt: at(2), queued: false, position: 2 });
  assert.equal(woken, ["a"]);
  queue.set("b", { environment: "Staging", status: "Pending", readyAt: at(2), queued: true, position: 3 });
  assert.ok(queue.waitingBehind("b"));
  assert.not.ok(queue.waitingBehind("a"));
  queue.slotReleased("Staging");
  assert.equal(woken, ["a", "a"]);
  queue.set("a", { environment: "Staging", status: "Running", readyAt: at(1), queued: false, position: 4 });
  assert.equal(woken, ["a", "a"], "b waits while a runs");
  queue.set("a", { environment: "Staging", status: "Succeeded", readyAt: at(1), queued: false, position: 5 });
  assert.equal(woken, ["a", "a", "b"]);
  // an older source (a read model behind) cannot bring back an ended deployment
  queue.set("a", { environment: "Staging", status: "Pending", readyAt: at(1), queued: true, position: 4 });
  assert.equal(queue.cluster("Staging"), { busy: false, waiting: ["b"] });
});

test.run();
