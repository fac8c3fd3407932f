// The key ring and TokenService together, on a manual clock, with the secret driven through the
// real decider: tokens carry the signing version as kid, verify while their key counts (next,
// current, previous within the overlap) and are refused once it does not, from the cache too; a
// failed private-key load is retried while the old key keeps signing; the legacy HS256 secret only
// verifies, only its own kid, and only for one token lifetime after managed keys took over.
import { SignJWT, decodeProtectedHeader } from "jose";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { TokenService, type JwtSettings } from "../../src/http/auth.js";
import { KeyRing } from "../../src/identity/key-ring.js";
import { ManualClock } from "../../src/platform/clock.js";
import { Driven, OVERLAP_S, T0, ed25519 } from "./secret-driver.js";

const TTL_S = 3600;
const settings: JwtSettings = { issuer: "iss", audience: "aud", ttlSeconds: TTL_S };
const admin = { sub: "admin", roles: ["Admin" as const] };

async function setup(options: { legacy?: JwtSettings["legacy"]; readVersion?: (name: string, version: number) => Promise<Buffer> } = {}) {
  const d = new Driven();
  const clock = new ManualClock(T0);
  const ring = new KeyRing({ clock, retryMs: 5 });
  d.create();
  await ring.start({ ...d.source(), readVersion: options.readVersion ?? d.readVersion });
  const tokens = new TokenService({ ...settings, ...(options.legacy && { legacy: options.legacy }) }, ring, clock);
  /** moves the secret's time and the verifier's clock together */
  const at = (ms: number) => {
    d.now = ms;
    clock.set(ms);
  };
  return { d, clock, ring, tokens, at };
}

const t = suite("key ring and token service");

t("tokens are EdDSA, kid = the current version; verified by the published key", async () => {
  const { ring, tokens, clock } = await setup();
  const { token } = await tokens.issue(admin, clock.now());
  assert.equal(decodeProtectedHeader(token), { alg: "EdDSA", kid: "jwt-signing-key@1", typ: "at+jwt" });
  assert.is((await tokens.verify(token))?.sub, "admin");
  assert.equal(ring.jwks(clock.now(), 300).keys.map((k) => k.kid), ["jwt-signing-key@1"]);
  ring.stop();
});

t("rotation: old tokens verify through the overlap and not after (cached or not); new tokens use the new kid", async () => {
  const { d, ring, tokens, clock, at } = await setup();
  const before = (await tokens.issue(admin, clock.now())).token;
  assert.ok(await tokens.verify(before), "cached now");
  const uncached = (await tokens.issue(admin, clock.now())).token;

  at(T0 + 1000);
  const r = d.startRotation();
  assert.equal(ring.jwks(clock.now(), 300).keys.map((k) => k.kid), ["jwt-signing-key@2", "jwt-signing-key@1"]);
  assert.is(decodeProtectedHeader((await tokens.issue(admin, clock.now())).token).kid, "jwt-signing-key@1", "the next key does not sign yet");

  at(T0 + 3000);
  d.finish(r);
  assert.ok(await ring.waitForSigner(2, 1000));
  const after = (await tokens.issue(admin, clock.now())).token;
  assert.is(decodeProtectedHeader(after).kid, "jwt-signing-key@2");
  assert.ok(await tokens.verify(before));
  assert.ok(await tokens.verify(after));

  // the overlap covers a whole token lifetime: the last token of the old key lives out its own
  at(T0 + TTL_S * 1000 - 1000);
  assert.ok(await tokens.verify(before), "cached");
  assert.ok(await tokens.verify(uncached), "not cached");
  at(T0 + 3000 + OVERLAP_S * 1000);
  assert.equal(ring.jwks(clock.now(), 300).keys.map((k) => k.kid), ["jwt-signing-key@2"]);
  assert.is(await tokens.verify(before), null);
  assert.ok(await tokens.verify((await tokens.issue(admin, clock.now())).token));
  ring.stop();
});

t("cachedVerdict (the request path's promise-free check) answers as verify does: unknown, then the principal, then null once expired, then unknown", async () => {
  const { ring, tokens, clock, at } = await setup();
  const { token } = await tokens.issue(admin, clock.now());
  assert.is(tokens.cachedVerdict(token), undefined, "not verified yet");
  const verified = await tokens.verify(token);
  assert.is(tokens.cachedVerdict(token), verified, "the same principal verify gave");
  at(T0 + TTL_S * 1000 + 1);
  assert.is(tokens.cachedVerdict(token), null, "expired: refused from the cache");
  assert.is(tokens.cachedVerdict(token), undefined, "and forgotten");
  assert.is(await tokens.verify(token), null, "the full check refuses it too");
  ring.stop();
});

t("a token of the old key with a fresh iat/exp is refused once the overlap has passed, accepted within it", async () => {
  const { d, ring, tokens, clock, at } = await setup();
  const oldKey = ring.signer()!;
  d.rotate();
  await ring.waitForSigner(2, 1000);
  const forge = async () => {
    const iat = Math.floor(clock.now() / 1000);
    return new SignJWT({ roles: ["Admin"] })
      .setProtectedHeader({ alg: "EdDSA", kid: oldKey.kid, typ: "at+jwt" })
      .setSubject("admin")
      .setIssuer("iss")
      .setAudience("aud")
      .setIssuedAt(iat)
      .setExpirationTime(iat + 600)
      .setJti(crypto.randomUUID())
      .sign(oldKey.key);
  };
  assert.ok(await tokens.verify(await forge()), "within the overlap");
  at(T0 + OVERLAP_S * 1000);
  assert.is(await tokens.verify(await forge()), null, "after it");
  ring.stop();
});

t("a destroyed key: its tokens are refused at once, the cached ones too", async () => {
  const { d, ring, tokens, clock } = await setup();
  const old = (await tokens.issue(admin, clock.now())).token;
  assert.ok(await tokens.verify(old));
  d.rotate();
  await ring.waitForSigner(2, 1000);
  assert.ok(await tokens.verify(old));
  d.run({ type: "DestroyVersion", version: 1, reason: "compromised", now: d.now });
  assert.is(await tokens.verify(old), null);
  ring.stop();
});

t("unknown kid, no kid, a kid of ours with another algorithm, a key not in the set: refused", async () => {
  const { ring, tokens, clock } = await setup();
  const stranger = ed25519();
  const { createPrivateKey } = await import("node:crypto");
  const strangerKey = createPrivateKey({ key: stranger.value, format: "der", type: "pkcs8" });
  const iat = Math.floor(clock.now() / 1000);
  const sign = (header: Record<string, unknown>, key: Parameters<SignJWT["sign"]>[0]) =>
    new SignJWT({ roles: ["Admin"] })
      .setProtectedHeader({ alg: "EdDSA", typ: "at+jwt", ...header })
      .setSubject("admin")
      .setIssuer("iss")
      .setAudience("aud")
      .setIssuedAt(iat)
      .setExpirationTime(iat + 60)
      .setJti("j")
      .sign(key);
  assert.is(await tokens.verify(await sign({ kid: "jwt-signing-key@1" }, strangerKey)), null, "our kid, someone else's key");
  assert.is(await tokens.verify(await sign({ kid: "jwt-signing-key@9" }, strangerKey)), null);
  assert.is(await tokens.verify(await sign({ kid: undefined }, ring.signer()!.key)), null);
  // HS256 with a public key's bytes as the secret (RFC 8725 2.1): the kid names an EdDSA key
  const x = new TextEncoder().encode(String(ring.jwks(clock.now(), 300).keys[0]!.x));
  assert.is(await tokens.verify(await sign({ alg: "HS256", kid: "jwt-signing-key@1" }, x)), null);
  assert.is(await tokens.verify("not.a.jwt"), null);
  assert.is(await tokens.verify(""), null);
  ring.stop();
});

t("legacy HS256 secret: verifies its own kid only, never signs, and stops one token lifetime after managed keys took over", async () => {
  const secret = "s".repeat(40);
  const { tokens, clock, ring, at } = await setup({ legacy: { secret, kid: "k1" } });
  const legacy = async (kid: string) => {
    const iat = Math.floor(clock.now() / 1000);
    return new SignJWT({ roles: ["Admin"] })
      .setProtectedHeader({ alg: "HS256", kid, typ: "at+jwt" })
      .setSubject("admin")
      .setIssuer("iss")
      .setAudience("aud")
      .setIssuedAt(iat)
      .setExpirationTime(iat + 600)
      .setJti(crypto.randomUUID())
      .sign(new TextEncoder().encode(secret));
  };
  assert.ok(await tokens.verify(await legacy("k1")));
  assert.is(await tokens.verify(await legacy("k2")), null);
  assert.is(await tokens.verify(await legacy("jwt-signing-key@1")), null);
  assert.is(decodeProtectedHeader((await tokens.issue(admin, clock.now())).token).alg, "EdDSA");
  at(T0 + TTL_S * 1000 - 1000);
  assert.ok(await tokens.verify(await legacy("k1")));
  at(T0 + TTL_S * 1000);
  assert.is(await tokens.verify(await legacy("k1")), null, "the window closed, whatever the token says");
  ring.stop();
});

t("without the legacy secret, HS256 tokens are refused whatever their kid", async () => {
  const { tokens, clock, ring } = await setup();
  const iat = Math.floor(clock.now() / 1000);
  const token = await new SignJWT({ roles: ["Admin"] })
    .setProtectedHeader({ alg: "HS256", kid: "k1", typ: "at+jwt" })
    .setSubject("admin")
    .setIssuer("iss")
    .setAudience("aud")
    .setIssuedAt(iat)
    .setExpirationTime(iat + 60)
    .setJti("j")
    .sign(new TextEncoder().encode("development-only-secret-do-not-use-in-production!"));
  assert.is(await tokens.verify(token), null);
  ring.stop();
});

t("a private key that cannot be loaded is retried; the old key signs meanwhile; before any key, issue is a 503", async () => {
  let failures = 2;
  const d0 = new Driven();
  const readVersion = async (name: string, version: number) => {
    if (version === 2 && failures-- > 0) throw new Error("backend down");
    return d0.readVersion(name, version);
  };
  const clock = new ManualClock(T0);
  const empty = new KeyRing({ clock, retryMs: 5 });
  await empty.start({ ...d0.source(), readVersion });
  const tokens = new TokenService(settings, empty, clock);
  try {
    await tokens.issue(admin, clock.now());
    assert.unreachable("no key yet");
  } catch (err) {
    assert.match((err as Error).message, "no signing key");
    assert.is((err as { code?: string }).code, "unavailable");
  }
  d0.create();
  assert.ok(await empty.waitForSigner(1, 1000));
  d0.rotate();
  assert.is(decodeProtectedHeader((await tokens.issue(admin, clock.now())).token).kid, "jwt-signing-key@1", "old key signs while the new one fails to load");
  assert.ok(await empty.waitForSigner(2, 2000), "loaded after retries");
  assert.is(decodeProtectedHeader((await tokens.issue(admin, clock.now())).token).kid, "jwt-signing-key@2");
  empty.stop();
});

t("started after two rotations within one overlap: the log's history keeps the older key's window (the read model alone knows only the last previous)", async () => {
  const d = new Driven().create();
  d.rotate();
  d.now += 60_000;
  d.rotate();
  const clock = new ManualClock(d.now);
  const withLog = new KeyRing({ clock });
  await withLog.start(d.source());
  assert.equal(withLog.jwks(clock.now(), 300).keys.map((k) => k.kid), ["jwt-signing-key@3", "jwt-signing-key@2", "jwt-signing-key@1"]);
  assert.ok(await withLog.waitForSigner(3, 1000));
  const without = new KeyRing({ clock });
  await without.start(d.source(false));
  assert.equal(without.jwks(clock.now(), 300).keys.map((k) => k.kid), ["jwt-signing-key@3", "jwt-signing-key@2"]);
  // and it follows what comes after
  d.rotate();
  assert.equal(withLog.jwks(clock.now(), 300).keys.map((k) => k.kid), ["jwt-signing-key@4", "jwt-signing-key@3", "jwt-signing-key@2", "jwt-signing-key@1"]);
  withLog.stop();
  without.stop();
});

t("JWKS max-age never outlasts a listed key", async () => {
  const { d, ring, clock, at } = await setup();
  d.rotate();
  assert.is(ring.jwks(clock.now(), 300).maxAgeSeconds, 300);
  at(T0 + OVERLAP_S * 1000 - 120_500);
  assert.is(ring.jwks(clock.now(), 300).maxAgeSeconds, 120);
  at(T0 + OVERLAP_S * 1000);
  assert.is(ring.jwks(clock.now(), 300).maxAgeSeconds, 300);
  ring.stop();
});

t.run();
