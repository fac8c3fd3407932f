// Bearer tokens are checked as RFC 8725 and RFC 9068 ask: the test signs its own tokens with the
// server's current signing key (taken in-process from its key ring), so only the claims and the
// header decide. Every malformed one is a 401 problem+json, never a 5xx.
import { generateKeyPairSync } from "node:crypto";
import { SignJWT, decodeJwt, decodeProtectedHeader, type JWTPayload } from "jose";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";

const t = suite<{ s: TestServer }>("JWT claims");
t.before(async (ctx) => {
  ctx.s = await startTestServer({ JWT_TTL_SECONDS: "3600" });
});
t.after(async (ctx) => ctx.s.stop());

interface Forge {
  header?: Record<string, unknown>;
  claims?: JWTPayload & { roles?: string[] };
  /** claims to leave out */
  omit?: string[];
  /** a key other than the server's to sign with (the header still names the server's kid unless told otherwise) */
  key?: Parameters<SignJWT["sign"]>[0];
  alg?: string;
}

/** A token signed with the server's own key, as the server would sign it unless told otherwise. */
async function forge(s: TestServer, { header = {}, claims = {}, omit = [], key, alg = "EdDSA" }: Forge = {}): Promise<string> {
  const { issuer, audience } = s.deps.config.jwt;
  const signer = s.deps.keyRing.signer()!;
  const now = Math.floor(Date.now() / 1000);
  const payload: Record<string, unknown> = {
    sub: "admin",
    roles: ["Admin", "Deployer", "Viewer"],
    iss: issuer,
    aud: audience,
    iat: now,
    exp: now + 600,
    jti: crypto.randomUUID(),
    ver: 0,
    ...claims,
  };
  for (const name of omit) delete payload[name];
  return new SignJWT(payload).setProtectedHeader({ alg, kid: signer.kid, typ: "at+jwt", ...header }).sign(key ?? signer.key);
}

async function status(s: TestServer, token: string): Promise<number> {
  const res = await s.call("/api/v1/authentication/me", { token });
  if (res.status !== 200) assert.match(res.headers.get("content-type") ?? "", "application/problem+json");
  return res.status;
}

t("a well-formed token signed with the server's key is accepted (the control case)", async ({ s }) => {
  assert.is(await status(s, await forge(s)), 200);
});

t("tokens the server issues are typed at+jwt, EdDSA with the signing key's version as kid, and carry sub, iat, exp, jti and ver", async ({ s }) => {
  const token = await s.login(...DEMO.viewer);
  assert.equal(decodeProtectedHeader(token), { alg: "EdDSA", kid: "jwt-signing-key@1", typ: "at+jwt" });
  const claims = decodeJwt(token);
  assert.is(claims.sub, "viewer");
  for (const name of ["iat", "exp", "jti"]) assert.ok(claims[name] !== undefined, `${name} present`);
  assert.type(claims.ver, "number");
  assert.is(claims.exp! - claims.iat!, s.deps.config.jwt.ttlSeconds);
});

t("no exp, no iat, no sub or no jti: 401", async ({ s }) => {
  for (const name of ["exp", "iat", "sub", "jti"]) assert.is(await status(s, await forge(s, { omit: [name] })), 401, `without ${name}`);
});

t("typ other than at+jwt, or none: 401", async ({ s }) => {
  assert.is(await status(s, await forge(s, { header: { typ: "foo" } })), 401);
  assert.is(await status(s, await forge(s, { header: { typ: "JWT" } })), 401);
  assert.is(await status(s, await forge(s, { header: { typ: undefined } })), 401);
});

t("a lifetime longer than JWT_TTL_SECONDS (exp 100 years out): 401", async ({ s }) => {
  const now = Math.floor(Date.now() / 1000);
  assert.is(await status(s, await forge(s, { claims: { exp: now + 100 * 365 * 86_400 } })), 401);
  assert.is(await status(s, await forge(s, { claims: { iat: now, exp: now + 3601 } })), 401);
  assert.is(await status(s, await forge(s, { claims: { iat: now, exp: now + 3600 } })), 200);
});

t("iat more than 60 s in the future: 401; a little clock skew is tolerated", async ({ s }) => {
  const now = Math.floor(Date.now() / 1000);
  assert.is(await status(s, await forge(s, { claims: { iat: now + 600, exp: now + 1200 } })), 401);
  assert.is(await status(s, await forge(s, { claims: { iat: now + 20, exp: now + 600 } })), 200);
});

t("an unknown kid, no kid, another key under our kid, or another algorithm: 401", async ({ s }) => {
  assert.is(await status(s, await forge(s, { header: { kid: "someone-elses-key" } })), 401);
  assert.is(await status(s, await forge(s, { header: { kid: "jwt-signing-key@99" } })), 401);
  assert.is(await status(s, await forge(s, { header: { kid: undefined } })), 401);
  assert.is(await status(s, await forge(s, { key: generateKeyPairSync("ed25519").privateKey })), 401);
  // HS256 keyed with the public key's text (RFC 8725 2.1), or with any constant: the kid names an EdDSA key
  const { x } = (await (await s.call("/.well-known/jwks.json")).json()).keys[0] as { x: string };
  for (const secret of [x, "development-only-secret-do-not-use-in-production!", "secret"]) {
    assert.is(await status(s, await forge(s, { alg: "HS256", key: new TextEncoder().encode(secret) })), 401, secret);
    assert.is(await status(s, await forge(s, { alg: "HS256", key: new TextEncoder().encode(secret), header: { kid: "k1" } })), 401, `${secret} as k1`);
  }
  // an unsecured JWT (alg none) naming our key
  const [, payload] = (await forge(s)).split(".");
  const none = Buffer.from(JSON.stringify({ alg: "none", kid: s.deps.keyRing.signer()!.kid, typ: "at+jwt" })).toString("base64url");
  assert.is(await status(s, `${none}.${payload}.`), 401);
});

t("a validly signed token for a user who does not exist: 401", async ({ s }) => {
  assert.is(await status(s, await forge(s, { claims: { sub: "nobody-here" } })), 401);
});

t("roles come from the server's state, not from the token", async ({ s }) => {
  const token = await forge(s, { claims: { sub: "viewer", roles: ["Admin", "Deployer", "Viewer"] } });
  const me = await s.call("/api/v1/authentication/me", { token });
  assert.is(me.status, 200);
  assert.equal(((await me.json()) as { roles: string[] }).roles, ["Viewer"]);
  assert.is((await s.call("/api/v1/audit-logs", { token })).status, 403);
});

t.run();
