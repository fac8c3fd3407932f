import { suite } from "uvu";
import * as assert from "uvu/assert";
import { streams } from "../../src/events/streams.js";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";
import { nodeIdFor } from "../../src/fleet/environments.js";
import { desiredStateWatch } from "../../src/fleet/desired-state-watch.js";
import { goodMetrics, JOIN_TOKEN, requestUpdate, until } from "../fleet/helpers.js";

// Issue 10, finding 6: a node's identity is a credential the node holds, not its hostname.

const t = suite<{ s: TestServer; admin: string }>("node identity");
t.before(async (ctx) => {
  ctx.s = await startTestServer();
  ctx.admin = await ctx.s.login(...DEMO.admin);
});
t.after(async (ctx) => ctx.s.stop());

interface Registered {
  status: number;
  text: string;
  body: { nodeId?: string; token?: string; nodeSecret?: string; created?: boolean };
}

async function register(s: TestServer, hostname: string, extra: Record<string, unknown> = {}, token?: string): Promise<Registered> {
  const res = await s.call("/api/v1/agents/register", {
    method: "POST",
    token,
    json: { joinToken: JOIN_TOKEN, environment: "QA", hostname, capacity: { cpuCores: 4, memoryMb: 8192 }, labels: { color: "blue" }, ...extra },
  });
  const text = await res.text();
  if (res.status < 300) assert.not.match(res.headers.get("content-type") ?? "", "problem");
  else assert.match(res.headers.get("content-type") ?? "", "application/problem+json");
  return { status: res.status, text, body: JSON.parse(text) as Registered["body"] };
}

const nodeEvents = async (s: TestServer, nodeId: string) => await s.deps.log.readStream(streams.node(nodeId));
const heartbeat = (s: TestServer, nodeId: string, token: string) =>
  s.call(`/api/v1/agents/${nodeId}/heartbeat`, { method: "POST", token, json: { metrics: goodMetrics } });
// heartbeats are paced per node (node-limits.test.ts): "does this token work" asks for the desired state
const desired = (s: TestServer, nodeId: string, token: string) => s.call(`/api/v1/agents/${nodeId}/desired-state`, { token });
const resetCredential = (s: TestServer, env: string, nodeId: string, token?: string) =>
  s.call(`/api/v1/clusters/${env}/nodes/${nodeId}/reset-credential`, { method: "POST", token });
const jwtPayload = (token: string) => JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString("utf8")) as Record<string, unknown>;

t("first registration returns a node secret once, stored only as a hash; registering again without it is 409 and changes nothing", async ({ s, admin }) => {
  const first = await register(s, "sim-qa-01");
  assert.is(first.status, 201, first.text);
  const secret = first.body.nodeSecret;
  assert.type(secret, "string");
  assert.ok(secret!.length >= 40, "a high-entropy secret");
  const nodeId = first.body.nodeId!;
  const history = await nodeEvents(s, nodeId);
  assert.not.ok(JSON.stringify(history).includes(secret!), "the secret is never stored in plain text");
  assert.is(typeof jwtPayload(first.body.token!).ver, "number", "node tokens carry the credential generation");

  // the takeover from the finding: same hostname, the fleet-wide join token, new labels and capacity
  const takeover = await register(s, "sim-qa-01", { labels: { color: "green", owner: "mallory" }, capacity: { cpuCores: 64, memoryMb: 1 << 20 } });
  assert.is(takeover.status, 409, takeover.text);
  assert.match(takeover.text, /secret|credential/);
  assert.not.ok(takeover.body.token, "no token for someone else's node");
  assert.equal((await nodeEvents(s, nodeId)).map((e) => e.type), history.map((e) => e.type), "nothing was recorded");
  await s.deps.projections.waitFor(await s.deps.log.headPosition(), 5000);
  const detail = (await (await s.call("/api/v1/clusters/QA", { token: admin })).json()) as { nodes: { nodeId: string; labels: Record<string, string>; capacity: { cpuCores: number } }[] };
  const node = detail.nodes.find((n) => n.nodeId === nodeId)!;
  assert.equal(node.labels, { color: "blue" });
  assert.is(node.capacity.cpuCores, 4);

  // a wrong secret is no better
  const guessed = await register(s, "sim-qa-01", { nodeSecret: "A".repeat(43) });
  assert.is(guessed.status, 409, guessed.text);
  assert.equal((await nodeEvents(s, nodeId)).length, history.length);
});

t("registering again with the node secret, or with the node's current token, is accepted and issues no new secret", async ({ s }) => {
  const first = await register(s, "qa-owner-01");
  const { nodeId, nodeSecret, token } = first.body;
  const withSecret = await register(s, "qa-owner-01", { nodeSecret, labels: { color: "green" } });
  assert.is(withSecret.status, 200, withSecret.text);
  assert.is(withSecret.body.nodeId, nodeId);
  assert.is(withSecret.body.nodeSecret, undefined, "the secret is returned once, when it is issued");
  assert.is((await heartbeat(s, nodeId!, withSecret.body.token!)).status, 202);
  assert.is((await nodeEvents(s, nodeId!)).at(-1)!.type, "NodeDetailsChanged");

  const withToken = await register(s, "qa-owner-01", { labels: { color: "green" } }, token);
  assert.is(withToken.status, 200, withToken.text);
  assert.is(withToken.body.nodeId, nodeId);

  // another node's token proves nothing about this one
  const other = await register(s, "qa-owner-02");
  assert.is((await register(s, "qa-owner-01", {}, other.body.token)).status, 409);
  // and the secret is bounded like any other input
  assert.is((await register(s, "qa-owner-01", { nodeSecret: "x".repeat(5000) })).status, 400);
});

t("two first registrations at once: one claims the node, the other is refused", async ({ s }) => {
  const both = await Promise.all([register(s, "qa-race-01"), register(s, "qa-race-01")]);
  assert.equal(both.map((r) => r.status).sort(), [201, 409], both.map((r) => r.text).join("\n"));
  const winner = both.find((r) => r.status === 201)!;
  const issued = (await nodeEvents(s, winner.body.nodeId!)).filter((e) => e.type === "NodeCredentialIssued");
  assert.is(issued.length, 1);
});

t("reset-credential: Admin only; the old token and secret stop working; the next registration claims the node afresh", async ({ s, admin }) => {
  const first = await register(s, "qa-reset-01");
  const { nodeId, nodeSecret: oldSecret, token: oldToken } = first.body as Required<Registered["body"]>;
  assert.is((await desired(s, nodeId, oldToken)).status, 200);

  const deployer = await s.login(...DEMO.deployer);
  const viewer = await s.login(...DEMO.viewer);
  assert.is((await resetCredential(s, "QA", nodeId)).status, 401);
  for (const who of [deployer, viewer, oldToken]) {
    const res = await resetCredential(s, "QA", nodeId, who);
    assert.is(res.status, 403, await res.text());
  }
  assert.is((await resetCredential(s, "QA", "qa-00000000000000ff", admin)).status, 404);
  assert.is((await resetCredential(s, "Production", nodeId, admin)).status, 404, "the node is not in that cluster");
  assert.is((await resetCredential(s, "Moon", nodeId, admin)).status, 404);
  assert.is((await resetCredential(s, "QA", "not-a-node", admin)).status, 400);
  assert.is((await desired(s, nodeId, oldToken)).status, 200, "refused resets changed nothing");

  const reset = await resetCredential(s, "qa", nodeId, admin);
  assert.is(reset.status, 200, await reset.clone().text());
  const resetBody = (await reset.json()) as { nodeId: string; environment: string; position: number };
  assert.is(resetBody.nodeId, nodeId);
  assert.is(resetBody.environment, "QA");
  const resetEvent = (await nodeEvents(s, nodeId)).at(-1)!;
  assert.is(resetEvent.type, "NodeCredentialReset");
  assert.equal(resetEvent.metadata.actor, { kind: "user", id: "admin" });

  // the old token is refused on every agent route at once
  const stale = await heartbeat(s, nodeId, oldToken);
  assert.is(stale.status, 401, await stale.text());
  assert.match(stale.headers.get("content-type") ?? "", "application/problem+json");
  assert.is((await desired(s, nodeId, oldToken)).status, 401);
  assert.is((await s.call(`/api/v1/agents/${nodeId}/reports`, { method: "POST", token: oldToken, json: { assignmentId: "a", outcome: "succeeded", durationMs: 1 } })).status, 401);
  assert.is((await s.call(`/api/v1/agents/${nodeId}`, { method: "DELETE", token: oldToken })).status, 401);

  // the next registration with the join token claims the node: a new secret and token
  const claim = await register(s, "qa-reset-01");
  assert.is(claim.status, 200, claim.text);
  assert.is(claim.body.nodeId, nodeId);
  assert.type(claim.body.nodeSecret, "string");
  assert.is.not(claim.body.nodeSecret, oldSecret);
  assert.is((await desired(s, nodeId, claim.body.token!)).status, 200);
  assert.ok(Number(jwtPayload(claim.body.token!).ver) > Number(jwtPayload(oldToken).ver));

  // from then on the old secret and the old token prove nothing
  assert.is((await register(s, "qa-reset-01", { nodeSecret: oldSecret })).status, 409);
  assert.is((await register(s, "qa-reset-01", {}, oldToken)).status, 409);
  assert.is((await heartbeat(s, nodeId, oldToken)).status, 401);
  assert.is((await register(s, "qa-reset-01", { nodeSecret: claim.body.nodeSecret })).status, 200);
});

t("a reset also ends what the old token holds open: its desired-state stream and a waiting long-poll", async ({ s, admin }) => {
  const first = await register(s, "qa-reset-open");
  const { nodeId, token } = first.body as Required<Registered["body"]>;
  const controller = new AbortController();
  const stream = await s.call(`/api/v1/agents/${nodeId}/desired-state/stream`, { token, signal: controller.signal });
  assert.is(stream.status, 200);
  const reader = stream.body!.getReader();
  let text = "";
  const readUntil = async (pattern: RegExp) => {
    while (!pattern.test(text)) {
      const { value, done } = await reader.read();
      if (done) return true;
      text += new TextDecoder().decode(value);
    }
    return false;
  };
  assert.not.ok(await readUntil(/event: desired-state/), "the current state first");
  const initial = (await (await desired(s, nodeId, token)).json()) as { version: string };
  const waiting = s.call(`/api/v1/agents/${nodeId}/desired-state?after=${initial.version}&waitSeconds=30`, { token });
  const watch = desiredStateWatch(s.deps.readStore, s.deps.projections);
  await until("the long-poll to park beside the stream", async () => watch.size >= 2);

  assert.is((await resetCredential(s, "QA", nodeId, admin)).status, 200);
  await requestUpdate(s, { nodeId, moduleName: "net-filter", toVersion: "9.9.9" });
  const polled = await waiting;
  assert.is(polled.status, 401, await polled.text());
  text = "";
  assert.ok(await readUntil(/9\.9\.9/), `the stream ended instead of delivering the change: ${text}`);
  controller.abort();
});

t("a node registered before node credentials existed is claimed by its next registration", async ({ s }) => {
  const nodeId = nodeIdFor("QA", "legacy-host");
  const legacy = s.deps.log.envelope(
    [{ type: "NodeRegistered", data: { nodeId, environment: "QA", hostname: "legacy-host", capacity: { cpuCores: 1, memoryMb: 512 }, labels: {}, modules: {}, at: new Date().toISOString() } }],
    () => ({ actor: { kind: "node", id: "legacy-host" }, correlationId: "test", causationId: "test" }),
  );
  await s.deps.log.append(streams.node(nodeId), legacy, "no_stream");
  // a token issued before tokens carried a generation keeps working until the node is claimed
  const { token: legacyToken } = await s.deps.tokens.issue({ sub: nodeId, roles: ["Node"] }, Date.now());
  assert.is((await heartbeat(s, nodeId, legacyToken)).status, 202);

  const claim = await register(s, "legacy-host");
  assert.is(claim.status, 200, claim.text);
  assert.is(claim.body.nodeId, nodeId);
  assert.type(claim.body.nodeSecret, "string");
  assert.is((await register(s, "legacy-host")).status, 409, "claimed once, then it needs the secret");
  assert.is((await heartbeat(s, nodeId, legacyToken)).status, 401, "the claim revoked the generation-less token");
});

t("the reset route is in the OpenAPI document", async ({ s }) => {
  const doc = (await (await s.call("/openapi.json")).json()) as { paths: Record<string, unknown> };
  assert.ok(doc.paths["/api/v1/clusters/{environment}/nodes/{nodeId}/reset-credential"]);
});

t.run();
