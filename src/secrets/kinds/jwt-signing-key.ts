import { generateKeyPair as generateKeyPairCb, createPublicKey } from "node:crypto";
import { promisify } from "node:util";
import { SignJWT, jwtVerify } from "jose";
import { kidFor, PublicJwkSchema } from "../../identity/key-set.js";
import { privateKeyFrom } from "../../identity/key-ring.js";
import type { SecretKindHandler } from "../kind.js";
import type { SecretPolicy } from "../policy.js";

const generateKeyPair = promisify(generateKeyPairCb);

/** How long install waits for this instance's key ring to hold the new key (it reads the same log). */
const PUBLISH_WAIT_MS = 10_000;

/** The part of the KeyRing the kind needs: install checks that the key is published. */
export interface PublishedKeys {
  waitForPublished(version: number, timeoutMs: number): Promise<boolean>;
}

/**
 * Access-token signing keys: Ed25519 (EdDSA, RFC 8037). The value is the private key (PKCS8 DER),
 * stored like any secret value; the public JWK is the version's publicInfo, in clear, and becomes
 * the JWKS entry whose kid names the version. Install is publication: the key is in the key set of
 * every instance once the log has it, and the process then waits JWKS_PUBLISH_AHEAD_SECONDS so a
 * verifier that cached the set has it before anything is signed with it. The test signs a probe
 * token with the stored private key and verifies it with the published public one.
 */
export function jwtSigningKeyKind(keys: PublishedKeys): SecretKindHandler {
  return {
    kind: "jwt-signing-key",
    clientValueAllowed: false,
    async generate(ctx) {
      const { privateKey, publicKey } = await generateKeyPair("ed25519");
      const jwk = PublicJwkSchema.parse(publicKey.export({ format: "jwk" }));
      return {
        value: privateKey.export({ format: "der", type: "pkcs8" }),
        publicInfo: { ...jwk, kid: kidFor(ctx.version), alg: "EdDSA", use: "sig" },
      };
    },
    async install(ctx) {
      if (!(await keys.waitForPublished(ctx.version, PUBLISH_WAIT_MS))) {
        throw new Error(`version ${ctx.version} is not in this instance's key set yet`);
      }
    },
    installSettleMs: (_policy, config) => config.jwt.publishAheadMs,
    async test(ctx) {
      const published = PublicJwkSchema.safeParse(ctx.publicInfo);
      if (!published.success) return { ok: false, reason: "the version has no Ed25519 public key to publish" };
      let privateKey;
      try {
        privateKey = privateKeyFrom(await ctx.readValue());
      } catch (err) {
        return { ok: false, reason: `the stored value is not an Ed25519 private key: ${err instanceof Error ? err.message : String(err)}` };
      }
      const derived = createPublicKey(privateKey).export({ format: "jwk" });
      if (derived.x !== published.data.x) return { ok: false, reason: "the published public key does not belong to the stored private key" };
      const probe = await new SignJWT({ probe: ctx.name })
        .setProtectedHeader({ alg: "EdDSA", kid: kidFor(ctx.version) })
        .setIssuedAt(Math.floor(ctx.now / 1000))
        .sign(privateKey);
      try {
        await jwtVerify(probe, createPublicKey({ key: { ...published.data }, format: "jwk" }), { algorithms: ["EdDSA"], currentDate: new Date(ctx.now) });
      } catch (err) {
        return { ok: false, reason: `a probe token does not verify: ${err instanceof Error ? err.message : String(err)}` };
      }
      return { ok: true };
    },
    policyProblem(policy, config) {
      // a token issued just before the key retires lives one lifetime on; a shorter overlap refuses it early (vault#11441)
      if (policy.overlapSeconds < config.jwt.ttlSeconds) {
        return { field: "overlapSeconds", message: `must be at least the access-token lifetime JWT_TTL_SECONDS (${config.jwt.ttlSeconds} s)` };
      }
      return null;
    },
    defaultPolicy(config): SecretPolicy {
      return jwtKeyDefaultPolicy(config.jwt.ttlSeconds);
    },
  };
}

/**
 * Monthly rotation (longer only when the overlap would outlast it); the previous key verifies one
 * token lifetime plus 5 minutes for clock skew.
 */
export function jwtKeyDefaultPolicy(ttlSeconds: number): SecretPolicy {
  const overlapSeconds = ttlSeconds + 300;
  return { intervalDays: Math.max(30, Math.ceil(overlapSeconds / 86_400)), overlapSeconds, notifyBeforeDays: null, expiresAfterDays: null, maxVersions: 10 };
}
