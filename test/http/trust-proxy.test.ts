// Which address a request comes from: the socket peer unless TRUST_PROXY says the peer is a proxy
// whose X-Forwarded-For may be believed. The address keys the auth rate limit and the login
// lockout and is stored as sourceIp in every event's metadata, so a forged one is an attack on both.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { streams } from "../../src/events/streams.js";
import { ConfigError, loadConfig } from "../../src/platform/config.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const wrongLogin = (s: TestServer, headers: Record<string, string> = {}) =>
  s.call("/api/v1/authentication/login", { method: "POST", headers, json: { username: "viewer", password: "not-the-password" } });

/** metadata of the newest event in the demo viewer's stream: a failed login records the caller there */
async function lastLoginMetadata(s: TestServer) {
  const events = await s.deps.log.readStream(streams.user("viewer"));
  const last = events.at(-1);
  assert.is(last?.type, "UserLoginFailed");
  return last!.metadata;
}

async function sourceIpFor(s: TestServer, xff: string): Promise<string | undefined> {
  assert.is((await wrongLogin(s, { "x-forwarded-for": xff })).status, 401);
  return (await lastLoginMetadata(s)).sourceIp;
}

test("by default X-Forwarded-For is ignored: six forged addresses share one auth limit, the socket address is recorded", async () => {
  const s = await startTestServer({ RATE_LIMIT_ENABLED: "true", RATE_LIMITS: JSON.stringify({ auth: 3 }), LOCKOUT_MAX_ATTEMPTS: "10" });
  try {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await wrongLogin(s, { "x-forwarded-for": `203.0.113.${i}` })).status);
    assert.equal(statuses, [401, 401, 401, 429, 429, 429]);
    assert.is((await lastLoginMetadata(s)).sourceIp, "127.0.0.1");
  } finally {
    await s.stop();
  }
});

test("a 6,000-character X-Forwarded-For with markup is not stored, nor an oversized User-Agent with markup", async () => {
  const xff = "<script>alert(1)</script>".repeat(240);
  assert.is(xff.length, 6000);
  // trusted or not, a forwarded value that is not an IP address is never used
  for (const env of [{}, { TRUST_PROXY: "127.0.0.1/32" }] as Record<string, string>[]) {
    const s = await startTestServer(env);
    try {
      assert.is((await wrongLogin(s, { "x-forwarded-for": xff, "user-agent": `<img src=x onerror=alert(1)>${"u".repeat(6000)}` })).status, 401);
      const meta = await lastLoginMetadata(s);
      assert.is(meta.sourceIp, "127.0.0.1", JSON.stringify(env));
      assert.ok(meta.userAgent !== undefined && meta.userAgent.length <= 256, `user agent of ${meta.userAgent?.length} characters`);
      assert.not.match(meta.userAgent ?? "", /[<>]/);
    } finally {
      await s.stop();
    }
  }
});

test("TRUST_PROXY as CIDRs: X-Forwarded-For is honoured from a trusted peer, up to the first untrusted hop", async () => {
  const s = await startTestServer({ TRUST_PROXY: "127.0.0.0/8, ::1/128", LOCKOUT_MAX_ATTEMPTS: "50" });
  try {
    assert.is(await sourceIpFor(s, "198.51.100.7"), "198.51.100.7");
    // 10.1.2.3 is not a trusted proxy, so what it claims about its own client is not believed
    assert.is(await sourceIpFor(s, "198.51.100.7, 10.1.2.3"), "10.1.2.3");
    assert.is(await sourceIpFor(s, "198.51.100.7, 127.0.0.9"), "198.51.100.7");
    assert.is(await sourceIpFor(s, "2001:db8::1"), "2001:db8::1");
    // a hop that is not an address stops the walk at the last trusted one
    assert.is(await sourceIpFor(s, "not-an-ip"), "127.0.0.1");
    assert.is(await sourceIpFor(s, "198.51.100.7:4711"), "127.0.0.1");
  } finally {
    await s.stop();
  }
  const untrusted = await startTestServer({ TRUST_PROXY: "10.0.0.0/8" });
  try {
    assert.is(await sourceIpFor(untrusted, "198.51.100.7"), "127.0.0.1", "the peer is not a trusted proxy");
  } finally {
    await untrusted.stop();
  }
});

test("TRUST_PROXY as a hop count: the address that many proxies back", async () => {
  const one = await startTestServer({ TRUST_PROXY: "1", LOCKOUT_MAX_ATTEMPTS: "50" });
  try {
    assert.is(await sourceIpFor(one, "198.51.100.1, 203.0.113.5"), "203.0.113.5");
    assert.is(await sourceIpFor(one, "198.51.100.1"), "198.51.100.1");
  } finally {
    await one.stop();
  }
  const two = await startTestServer({ TRUST_PROXY: "2", LOCKOUT_MAX_ATTEMPTS: "50" });
  try {
    assert.is(await sourceIpFor(two, "198.51.100.1, 203.0.113.5"), "198.51.100.1");
    assert.is(await sourceIpFor(two, "192.0.2.1, 198.51.100.1, 203.0.113.5"), "198.51.100.1", "entries left of the trusted hops are the client's to forge");
    assert.is(await sourceIpFor(two, "203.0.113.5"), "203.0.113.5", "fewer hops than trusted: the leftmost");
  } finally {
    await two.stop();
  }
});

test("a bad TRUST_PROXY is a configuration error naming it", () => {
  for (const bad of ["banana", "10.0.0.0/99", "-1", "1.2.3.4/8/8", "999.1.1.1"]) {
    try {
      loadConfig({ TRUST_PROXY: bad });
      assert.unreachable(`TRUST_PROXY=${bad} accepted`);
    } catch (err) {
      assert.instance(err, ConfigError, bad);
      assert.match((err as Error).message, "TRUST_PROXY");
    }
  }
  for (const good of ["false", "0", "1", "3", "10.0.0.0/8", "10.0.0.0/8,192.168.0.1", "::1/128, fd00::/8"]) loadConfig({ TRUST_PROXY: good });
});

test.run();
