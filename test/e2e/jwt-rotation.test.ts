// Key rotation seen from outside: two servers share one data directory (one event log) and one
// manual clock. Rotating jwt-signing-key publishes the next key before it signs anything; tokens of
// the old key work through the overlap and are refused after it (a token freshly signed with the
// old private key, taken from the server in-process, included); the second instance learns every
// key from the log without a restart. The agent join token: the previous one is accepted for the
// overlap, then refused.
import { SignJWT, decodeProtectedHeader } from "jose";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ManualClock } from "../../src/platform/clock.js";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";

const TTL_S = 600;
/** the jwt-signing-key's default overlap: one token lifetime plus 5 minutes */
const OVERLAP_S = TTL_S + 300;
const SEED_JOIN_TOKEN = "development-join-token";

/** Polls an observable state (never a duration) until it holds; fails with what it last saw. */
async function until<T>(what: string, probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T;
  do {
    last = await probe();
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 50));
  } while (Date.now() < deadline);
  throw new Error(`${what}: still ${JSON.stringify(last)}`);
}

async function jwks(s: TestServer): Promise<{ kids: string[]; cacheControl: string | null; contentType: string | null }> {
  const res = await s.call("/.well-known/jwks.json");
  assert.is(res.status, 200);
  const body = (await res.json()) as { keys: { kid: string; kty: string; crv: string; x: string; d?: string }[] };
  for (const k of body.keys) assert.is(k.d, undefined, "never a private part");
  return { kids: body.keys.map((k) => k.kid), cacheControl: res.headers.get("cache-control"), contentType: res.headers.get("content-type") };
}
const kids = async (s: TestServer) => (await jwks(s)).kids;
const me = async (s: TestServer, token: string) => (await s.call("/api/v1/authentication/me", { token })).status;
const kidOf = (token: string) => decodeProtectedHeader(token).kid;

async function rotate(s: TestServer, admin: string, name: string): Promise<string> {
  const res = await s.call(`/api/v1/secrets/${name}/rotate`, { method: "POST", token: admin, json: { reason: "test" } });
  assert.is(res.status, 202, await res.clone().text());
  return ((await res.json()) as { rotationId: string }).rotationId;
}

interface RotationView {
  status: string;
  steps: { step: string }[];
  waitingUntil: { dueAt: string; purpose: string } | null;
}
const rotation = async (s: TestServer, admin: string, name: string, id: string) =>
  (await (await s.call(`/api/v1/secrets/${name}/rotations/${id}`, { token: admin })).json()) as RotationView;

/** An access token made in the test with the given key, fresh iat/exp by the servers' clock. */
async function signWith(signer: { kid: string; key: Parameters<SignJWT["sign"]>[0] }, s: TestServer, clock: ManualClock): Promise<string> {
  const iat = Math.floor(clock.now() / 1000);
  return new SignJWT({ roles: ["Admin", "Deployer", "Viewer"], ver: 0 })
    .setProtectedHeader({ alg: "EdDSA", kid: signer.kid, typ: "at+jwt" })
    .setSubject("admin")
    .setIssuer(s.deps.config.jwt.issuer)
    .setAudience(s.deps.config.jwt.audience)
    .setIssuedAt(iat)
    .setExpirationTime(iat + 300)
    .setJti(crypto.randomUUID())
    .sign(signer.key);
}

test("jwt-signing-key rotation: next before current, overlap, refusal after, a second instance without restart", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "korch-jwt-rotation-"));
  const clock = new ManualClock(Date.now());
  const env = { JWT_TTL_SECONDS: String(TTL_S) };
  const a = await startTestServer(env, { clock, dataDir });
  const b = await startTestServer(env, { clock, dataDir });
  try {
    const admin = await a.login(...DEMO.admin);
    assert.is(kidOf(admin), "jwt-signing-key@1");
    const first = await jwks(a);
    assert.equal(first.kids, ["jwt-signing-key@1"]);
    assert.is(first.cacheControl, `public, max-age=${a.deps.config.jwt.jwksMaxAgeSeconds}`);
    assert.match(first.contentType ?? "", "application/jwk-set+json");
    assert.is(await me(b, admin), 200, "B verifies A's token: one key set from one log");
    const oldKey = a.deps.keyRing.signer()!;
    assert.is(oldKey.kid, "jwt-signing-key@1");

    // an overlap shorter than a token's lifetime is refused, naming the field; nothing is written
    const short = await a.call("/api/v1/secrets/jwt-signing-key/policy", { method: "PUT", token: admin, json: { overlapSeconds: TTL_S - 1 } });
    assert.is(short.status, 400);
    const problem = (await short.json()) as { errors?: { path: string }[] };
    assert.ok(problem.errors?.some((e) => e.path === "json.overlapSeconds"), JSON.stringify(problem));

    const id = await rotate(a, admin, "jwt-signing-key");
    // the next key is published, on both instances, and waits a publish-ahead before it signs
    await until("rotation waits to settle", () => rotation(a, admin, "jwt-signing-key", id), (r) => r.waitingUntil?.purpose === "settle");
    assert.equal(await kids(a), ["jwt-signing-key@2", "jwt-signing-key@1"]);
    await until("B publishes the next key", () => kids(b), (k) => k.join() === "jwt-signing-key@2,jwt-signing-key@1");
    assert.is(kidOf(await a.login(...DEMO.admin)), "jwt-signing-key@1", "the next key does not sign yet");

    clock.advance(a.deps.config.jwt.publishAheadMs + 100);
    await until("rotation completes", () => rotation(a, admin, "jwt-signing-key", id), (r) => r.status === "Completed");
    const rotatedAt = clock.now();
    await until("A signs with the new key", async () => kidOf(await a.login(...DEMO.admin)), (k) => k === "jwt-signing-key@2");
    const fresh = await a.login(...DEMO.admin);
    assert.equal(await kids(a), ["jwt-signing-key@2", "jwt-signing-key@1"]);

    // B: new tokens verify and B signs with the new key too, without a restart
    await until("B verifies the new key's token", () => me(b, fresh), (s) => s === 200);
    await until("B signs with the new key", async () => kidOf(await b.login(...DEMO.viewer)), (k) => k === "jwt-signing-key@2");

    // within the overlap: the token from before and a freshly signed one of the old key both work
    assert.is(await me(a, admin), 200);
    assert.is(await me(b, admin), 200);
    assert.is(await me(a, await signWith(oldKey, a, clock)), 200);

    // after the overlap: the old key has left the set everywhere; its tokens get 401 however fresh
    clock.set(rotatedAt + OVERLAP_S * 1000 + 1000);
    assert.equal(await kids(a), ["jwt-signing-key@2"]);
    assert.equal(await kids(b), ["jwt-signing-key@2"]);
    const late = await signWith(oldKey, a, clock);
    assert.is(await me(a, late), 401);
    assert.is(await me(b, late), 401);
    const res = await a.call("/api/v1/authentication/me", { token: late });
    assert.match(res.headers.get("content-type") ?? "", "application/problem+json");
    const now = await a.login(...DEMO.admin);
    assert.is(await me(a, now), 200);
    assert.is(await me(b, now), 200);

    // a second rotation, then destroying the key just retired: its tokens are refused at once
    const key2 = a.deps.keyRing.signer()!;
    assert.is(key2.kid, "jwt-signing-key@2");
    const id2 = await rotate(a, now, "jwt-signing-key");
    await until("second rotation settles", () => rotation(a, now, "jwt-signing-key", id2), (r) => r.waitingUntil?.purpose === "settle");
    clock.advance(a.deps.config.jwt.publishAheadMs + 100);
    await until("second rotation completes", () => rotation(a, now, "jwt-signing-key", id2), (r) => r.status === "Completed");
    const admin3 = await until("A signs with key 3", () => a.login(...DEMO.admin), (t) => kidOf(t) === "jwt-signing-key@3");
    const of2 = await signWith(key2, a, clock);
    assert.is(await me(a, of2), 200, "key 2 is previous, within its overlap");
    const destroyed = await a.call("/api/v1/secrets/jwt-signing-key/versions/2", { method: "DELETE", token: admin3 });
    assert.is(destroyed.status, 200, await destroyed.clone().text());
    assert.is(await me(a, of2), 401);
    await until("B refuses the destroyed key", () => me(b, of2), (s) => s === 401);
    assert.equal(await kids(a), ["jwt-signing-key@3"]);
  } finally {
    await b.stop();
    await a.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test("a restarted instance keeps the key set: the retired key within its overlap still verifies", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "korch-jwt-restart-"));
  const clock = new ManualClock(Date.now());
  const env = { JWT_TTL_SECONDS: String(TTL_S) };
  let a = await startTestServer(env, { clock, dataDir });
  try {
    const admin = await a.login(...DEMO.admin);
    const id = await rotate(a, admin, "jwt-signing-key");
    await until("settle", () => rotation(a, admin, "jwt-signing-key", id), (r) => r.waitingUntil?.purpose === "settle");
    clock.advance(a.deps.config.jwt.publishAheadMs + 100);
    await until("completed", () => rotation(a, admin, "jwt-signing-key", id), (r) => r.status === "Completed");
    await a.stop();
    a = await startTestServer(env, { clock, dataDir });
    assert.equal(await kids(a), ["jwt-signing-key@2", "jwt-signing-key@1"]);
    assert.is(await me(a, admin), 200);
    assert.is(kidOf(await a.login(...DEMO.admin)), "jwt-signing-key@2");
  } finally {
    await a.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test("a JWT_TTL_SECONDS longer than the stored key overlap refuses the start, naming both", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "korch-jwt-ttl-"));
  const first = await startTestServer({ JWT_TTL_SECONDS: String(TTL_S) }, { dataDir });
  await first.stop();
  try {
    await startTestServer({ JWT_TTL_SECONDS: String(OVERLAP_S + 60) }, { dataDir });
    assert.unreachable("should refuse");
  } catch (err) {
    assert.is((err as Error).name, "ConfigError");
    assert.match((err as Error).message, "JWT_TTL_SECONDS");
    assert.match((err as Error).message, "overlapSeconds");
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test("agent-join-token rotation: the previous token registers agents during the overlap, then 401", async () => {
  const clock = new ManualClock(Date.now());
  const s = await startTestServer({}, { clock });
  let n = 0;
  const register = async (joinToken: string) =>
    (
      await s.call("/api/v1/agents/register", {
        method: "POST",
        json: { joinToken, environment: "QA", hostname: `join-${++n}`, capacity: { cpuCores: 1, memoryMb: 512 }, labels: {}, modules: {} },
      })
    ).status;
  try {
    assert.is(await register(SEED_JOIN_TOKEN), 201, "AGENT_JOIN_TOKEN seeded the first version");
    assert.is(await register("not-the-join-token-at-all"), 401);
    const admin = await s.login(...DEMO.admin);
    const id = await rotate(s, admin, "agent-join-token");
    await until("join-token rotation completes", () => rotation(s, admin, "agent-join-token", id), (r) => r.status === "Completed");
    const rotatedAt = clock.now();
    // an Admin reads the new token to hand it out (an audited read); the signing key never leaves
    const read = await s.call("/api/v1/secrets/agent-join-token/value", { token: admin });
    assert.is(read.status, 200);
    const { version, value: next } = (await read.json()) as { version: number; value: string };
    assert.is(version, 2);
    assert.is((await s.call("/api/v1/secrets/jwt-signing-key/value", { token: admin })).status, 403);
    assert.is.not(next, SEED_JOIN_TOKEN);
    await until("the new token registers", () => register(next), (st) => st === 201);
    assert.is(await register(SEED_JOIN_TOKEN), 201, "previous, within the overlap");
    const overlapS = ((await (await s.call("/api/v1/secrets/agent-join-token", { token: admin })).json()) as { policy: { overlapSeconds: number } }).policy.overlapSeconds;
    clock.set(rotatedAt + overlapS * 1000 - 1000);
    assert.is(await register(SEED_JOIN_TOKEN), 201, "a second before the overlap ends");
    clock.set(rotatedAt + overlapS * 1000 + 1000);
    assert.is(await register(SEED_JOIN_TOKEN), 401, "after the overlap");
    assert.is(await register(next), 201);
  } finally {
    await s.stop();
  }
});

test("the in-process simulator registers with the join token's current version, after the seed stopped counting", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "korch-join-sim-"));
  const clock = new ManualClock(Date.now());
  const env = { SIMULATOR: "true", SIMULATOR_CLUSTER_SIZES: "Development:1,QA:0,Staging:0,Production:0" };
  let s = await startTestServer(env, { clock, dataDir });
  try {
    const admin = await s.login(...DEMO.admin);
    const id = await rotate(s, admin, "agent-join-token");
    await until("join-token rotation completes", () => rotation(s, admin, "agent-join-token", id), (r) => r.status === "Completed");
    await s.stop();
    clock.advance(2 * 86_400_000); // past the overlap: the seed (AGENT_JOIN_TOKEN) is refused now
    s = await startTestServer(env, { clock, dataDir });
    const restartedAt = clock.now();
    const token = await s.login(...DEMO.admin);
    // the node registered again on start and heartbeats (a heartbeat carries the server's clock)
    await until(
      "the simulated node heartbeats after the restart",
      async () => ((await (await s.call("/api/v1/clusters/Development", { token })).json()) as { nodes: { lastHeartbeatAt: string | null }[] }).nodes,
      (nodes) => nodes.length === 1 && Date.parse(nodes[0]!.lastHeartbeatAt ?? "") >= restartedAt,
    );
  } finally {
    await s.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test.run();
