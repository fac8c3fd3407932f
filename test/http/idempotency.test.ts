// Idempotency-Key as in draft-ietf-httpapi-idempotency-key-header: a key is bound to the
// request it first came with (method, path, body); reusing it for anything else is 422, a retry
// of the same request answers exactly what the first answered, and concurrent retries act once.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { deploymentCommand } from "../../src/commands/deployments.js";
import type { CommandContext } from "../../src/commands/handler.js";
import { streams } from "../../src/events/streams.js";
import { idempotencyStream, IN_FLIGHT_MS, requestFingerprint } from "../../src/http/idempotency.js";
import { ManualClock } from "../../src/platform/clock.js";
import { deterministicUuid } from "../../src/platform/ids.js";
import { resolveSettings, type Environment } from "../../src/strategies/settings.js";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";
import { waitForStatus } from "../helpers/deployments.js";

// Development has one simulated node and waits long after installing, so a deployment there
// stays Running while it is paused and resumed; the other clusters are empty, so a deployment
// there fails at once ("no reachable node"), which moves its status on after the first answer.
const SLOW = JSON.stringify({
  "*": { minWaitMs: 600_000, maxWaitMs: 1_200_000, checkIntervalMs: 60_000, requiredStableChecks: 1, progressDeadlineMs: 3_600_000, thresholds: { minSamplesPerNode: 1 } },
});

const t = suite<{ s: TestServer; deployer: string; admin: string }>("Idempotency-Key");
t.before(async (ctx) => {
  ctx.s = await startTestServer({
    SIMULATOR: "true",
    SIMULATOR_CLUSTER_SIZES: "Development:1,QA:0,Staging:0,Production:0",
    STRATEGY_SETTINGS: SLOW,
    HEARTBEAT_UNHEALTHY_SECONDS: "30",
    HEARTBEAT_OFFLINE_SECONDS: "60",
  });
  ctx.deployer = await ctx.s.login(...DEMO.deployer);
  ctx.admin = await ctx.s.login(...DEMO.admin);
  const deadline = Date.now() + 15_000;
  for (;;) {
    const clusters = (await (await ctx.s.call("/api/v1/clusters", { token: ctx.admin })).json()) as { healthyCount: number }[];
    if (clusters.reduce((n, c) => n + c.healthyCount, 0) === 1) break;
    if (Date.now() > deadline) throw new Error("simulated fleet did not come up");
    await new Promise((r) => setTimeout(r, 100));
  }
});
t.after(async (ctx) => ctx.s.stop());

const body = (moduleName: string, targetEnvironment: Environment = "QA") => ({ moduleName, version: "1.0.0", targetEnvironment, requesterEmail: "dev@example.com" });
const post = (s: TestServer, path: string, token: string, key: string | undefined, json?: unknown) =>
  s.call(path, { method: "POST", token, headers: key === undefined ? {} : { "idempotency-key": key }, ...(json === undefined ? {} : { json }) });

async function requestedEvents(s: TestServer, executionId: string) {
  return (await s.deps.log.readStream(streams.deployment(executionId))).filter((e) => e.type === "DeploymentRequested");
}

t("the same key with another body is 422 problem+json, and nothing is deployed for it", async ({ s, deployer }) => {
  const first = await post(s, "/api/v1/deployments", deployer, "idem-body-1", body("alpha"));
  assert.is(first.status, 202);
  const { executionId } = (await first.json()) as { executionId: string };
  const other = await post(s, "/api/v1/deployments", deployer, "idem-body-1", body("beta"));
  assert.is(other.status, 422);
  assert.match(other.headers.get("content-type") ?? "", "application/problem+json");
  const problem = (await other.json()) as { status: number; detail: string };
  assert.is(problem.status, 422);
  assert.match(problem.detail, "Idempotency-Key");
  const requested = await requestedEvents(s, executionId);
  assert.equal(requested.map((e) => (e.data as { moduleName: string }).moduleName), ["alpha"]);
  const betas = (await s.deps.log.readAll({ filter: { eventTypes: ["DeploymentRequested"] } })).filter((e) => (e.data as { moduleName: string }).moduleName === "beta");
  assert.is(betas.length, 0);
});

t("a retry answers exactly what the first request answered, after the deployment has moved on", async ({ s, deployer }) => {
  const first = await post(s, "/api/v1/deployments", deployer, "idem-retry-1", body("gamma"));
  assert.is(first.status, 202);
  const answer = (await first.json()) as { executionId: string; status: string; position: number };
  assert.is(answer.status, "Pending");
  // QA has no nodes: the deployment fails soon after it was accepted
  assert.is((await waitForStatus(s, deployer, answer.executionId)).status, "Failed");
  const retry = await post(s, "/api/v1/deployments", deployer, "idem-retry-1", body("gamma"));
  assert.is(retry.status, 202);
  assert.equal(await retry.json(), answer);
  assert.is(retry.headers.get("location"), first.headers.get("location"));
  assert.is((await requestedEvents(s, answer.executionId)).length, 1);
});

t("concurrent requests with one key act once: one deployment, every 202 the same", async ({ s, deployer }) => {
  const answers = await Promise.all(Array.from({ length: 8 }, () => post(s, "/api/v1/deployments", deployer, "idem-burst-1", body("delta"))));
  const statuses = answers.map((r) => r.status);
  assert.ok(statuses.every((st) => st === 202 || st === 409), statuses.join(","));
  const accepted = await Promise.all(answers.filter((r) => r.status === 202).map((r) => r.json()));
  assert.ok(accepted.length >= 1);
  for (const a of accepted) assert.equal(a, accepted[0]);
  for (const r of answers.filter((r) => r.status === 409)) assert.ok(r.headers.get("retry-after"), "an in-flight duplicate says when to retry");
  const deltas = (await s.deps.log.readAll({ filter: { eventTypes: ["DeploymentRequested"] } })).filter((e) => (e.data as { moduleName: string }).moduleName === "delta");
  assert.is(deltas.length, 1);
});

t("a key belongs to its user: the same key from another user is another request", async ({ s, deployer, admin }) => {
  const a = (await (await post(s, "/api/v1/deployments", deployer, "idem-shared-1", body("epsilon"))).json()) as { executionId: string };
  const b = await post(s, "/api/v1/deployments", admin, "idem-shared-1", body("epsilon"));
  assert.is(b.status, 202);
  assert.is.not(((await b.json()) as { executionId: string }).executionId, a.executionId);
});

t("a malformed key is 400", async ({ s, deployer }) => {
  for (const key of ["has space", "x".repeat(201), "<script>"]) {
    const res = await post(s, "/api/v1/deployments", deployer, key, body("zeta"));
    assert.is(res.status, 400, key);
    assert.match(res.headers.get("content-type") ?? "", "application/problem+json");
  }
});

t("pause then resume with one key: the resume is refused with 422, not silently dropped", async ({ s, deployer }) => {
  const created = (await (await post(s, "/api/v1/deployments", deployer, undefined, body("eta", "Development"))).json()) as { executionId: string };
  const id = created.executionId;
  await waitForStatus(s, deployer, id, ["Running"]);
  const pause = await post(s, `/api/v1/deployments/${id}/pause`, deployer, "idem-pr-1");
  assert.is(pause.status, 202);
  const paused = (await pause.json()) as { status: string; position: number };
  assert.is(paused.status, "Paused");

  const resumeSameKey = await post(s, `/api/v1/deployments/${id}/resume`, deployer, "idem-pr-1");
  assert.is(resumeSameKey.status, 422);
  assert.match(resumeSameKey.headers.get("content-type") ?? "", "application/problem+json");
  assert.is((await waitForStatus(s, deployer, id, ["Paused"])).status, "Paused");

  const resume = await post(s, `/api/v1/deployments/${id}/resume`, deployer, "idem-pr-2");
  assert.is(resume.status, 202);
  assert.is(((await resume.json()) as { status: string }).status, "Running");

  // the pause retried: the first answer again, and no second pause
  const pauseAgain = await post(s, `/api/v1/deployments/${id}/pause`, deployer, "idem-pr-1");
  assert.is(pauseAgain.status, 202);
  assert.equal(await pauseAgain.json(), { executionId: id, ...paused });
  const stream = await s.deps.log.readStream(streams.deployment(id));
  assert.is(stream.filter((e) => e.type === "DeploymentPaused").length, 1);
  assert.is(stream.filter((e) => e.type === "DeploymentResumed").length, 1);
  assert.is((await waitForStatus(s, deployer, id, ["Running"])).status, "Running");

  const abort = await post(s, `/api/v1/deployments/${id}/abort`, deployer, "idem-pr-3", { reason: "test over" });
  assert.is(abort.status, 202);
  await waitForStatus(s, deployer, id);
});

t("a refused command does not use the key up: the same request is decided again when retried", async ({ s, deployer }) => {
  const created = (await (await post(s, "/api/v1/deployments", deployer, undefined, body("theta", "QA"))).json()) as { executionId: string };
  await waitForStatus(s, deployer, created.executionId);
  const first = await post(s, `/api/v1/deployments/${created.executionId}/pause`, deployer, "idem-refused-1");
  assert.is(first.status, 409);
  const again = await post(s, `/api/v1/deployments/${created.executionId}/pause`, deployer, "idem-refused-1");
  assert.is(again.status, 409);
  // but it is still bound to that request
  const other = await post(s, `/api/v1/deployments/${created.executionId}/abort`, deployer, "idem-refused-1");
  assert.is(other.status, 422);
});

t("approvals: a retried approval answers the same; the key cannot then reject", async ({ s, deployer, admin }) => {
  const created = (await (await post(s, "/api/v1/deployments", deployer, undefined, body("iota", "Staging"))).json()) as { executionId: string };
  const id = created.executionId;
  await waitForStatus(s, admin, id, ["PendingApproval"]);
  const approve = await post(s, `/api/v1/approvals/deployments/${id}/approve`, admin, "idem-approve-1", { reason: "looks good" });
  assert.is(approve.status, 200);
  const answer = await approve.json();
  await waitForStatus(s, admin, id); // Staging is empty: it fails once planned
  const retry = await post(s, `/api/v1/approvals/deployments/${id}/approve`, admin, "idem-approve-1", { reason: "looks good" });
  assert.is(retry.status, 200);
  assert.equal(await retry.json(), answer);
  const reject = await post(s, `/api/v1/approvals/deployments/${id}/reject`, admin, "idem-approve-1", { reason: "changed my mind" });
  assert.is(reject.status, 422);
  const granted = (await s.deps.log.readStream(streams.deployment(id))).filter((e) => e.type === "ApprovalGranted");
  assert.is(granted.length, 1);
});

t.run();

// A request that claimed a key and died (its instance crashed) must not block the key forever,
// and a retry that runs its command again must not act twice.
const clock = new ManualClock(Date.now());
const crash = suite<{ s: TestServer; deployer: string }>("Idempotency-Key after a crash");
crash.before(async (ctx) => {
  ctx.s = await startTestServer({}, { clock });
  ctx.deployer = await ctx.s.login(...DEMO.deployer);
});
crash.after(async (ctx) => ctx.s.stop());

const actor = { kind: "user" as const, id: "deployer" };
const claim = (s: TestServer, key: string, json: unknown) => {
  const streamId = idempotencyStream(actor, key);
  const data = { fingerprint: requestFingerprint("POST", "/api/v1/deployments", json), method: "POST", route: "/api/v1/deployments", at: new Date(clock.now()).toISOString() };
  return s.deps.log.append(streamId, s.deps.log.envelope([{ type: "IdempotencyKeyClaimed", data }], [{ actor, correlationId: "crashed-request", causationId: "crashed-request" }]), "no_stream");
};

crash("a claim whose request died answers 409 with Retry-After, then is taken over once it lapses", async ({ s, deployer }) => {
  const json = body("kappa");
  await claim(s, "idem-crash-1", json);
  const busy = await post(s, "/api/v1/deployments", deployer, "idem-crash-1", json);
  assert.is(busy.status, 409);
  assert.is(busy.headers.get("retry-after"), "1");
  clock.advance(IN_FLIGHT_MS + 1);
  const res = await post(s, "/api/v1/deployments", deployer, "idem-crash-1", json);
  assert.is(res.status, 202);
  const { executionId } = (await res.json()) as { executionId: string };
  assert.is((await requestedEvents(s, executionId)).length, 1);
});

crash("a request that died after its command was written: the retry replays it, with the first position", async ({ s, deployer }) => {
  const key = "idem-crash-2";
  const json = body("lambda");
  await claim(s, key, json);
  // what the dead request had done: the command, with the key's deterministic ids
  const executionId = deterministicUuid(`deployment:deployer:${key}`);
  const ctx: CommandContext = { actor, correlationId: "crashed-request", idempotencyKey: key, now: clock.now() };
  const settings = resolveSettings("QA", s.deps.config.strategyOverrides, { approval: { timeoutMs: s.deps.config.approvals.timeoutMs, allowSelfApproval: s.deps.config.approvals.allowSelfApproval } });
  const done = await deploymentCommand(s.deps.log, s.deps.metrics, executionId, { type: "RequestDeployment", executionId, requestedBy: "deployer", settings, now: clock.now(), ...json }, ctx);
  clock.advance(IN_FLIGHT_MS + 1);
  const res = await post(s, "/api/v1/deployments", deployer, key, json);
  assert.is(res.status, 202);
  assert.equal(await res.json(), { executionId, status: "Pending", position: done.position });
  assert.is((await requestedEvents(s, executionId)).length, 1);
});

crash("the command type is part of the event ids: two commands with one key on one stream both happen", async ({ s }) => {
  const executionId = "7a1c1d7e-0000-4000-8000-0000000000aa";
  const settings = resolveSettings("QA", s.deps.config.strategyOverrides);
  const ctx = (key: string): CommandContext => ({ actor, correlationId: "in-process", idempotencyKey: key, now: clock.now() });
  await deploymentCommand(s.deps.log, s.deps.metrics, executionId, { type: "RequestDeployment", executionId, requestedBy: "deployer", settings, now: clock.now(), ...body("mu") }, ctx("k-create"));
  // an abort sent with the create's key is another command, not a retry of the create
  const abort = await deploymentCommand(s.deps.log, s.deps.metrics, executionId, { type: "Abort", by: "deployer", now: clock.now() }, ctx("k-create"));
  assert.is(abort.replayed, false);
  assert.is(abort.state.status, "Cancelled");
  const stream = await s.deps.log.readStream(streams.deployment(executionId));
  assert.ok(stream.some((e) => e.type === "DeploymentCancelled"));
});

crash.run();
