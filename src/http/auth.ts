import { hash, type KeyObject } from "node:crypto";
import { SignJWT, decodeProtectedHeader, jwtVerify, errors as joseErrors } from "jose";
import type { Context, MiddlewareHandler } from "hono";
import { z } from "zod";
import { DomainError } from "../commands/errors.js";
import { RoleSchema, type Role } from "../events/catalog/user.js";
import type { UserDirectory } from "../identity/user-directory.js";
import { systemClock, type Clock } from "../platform/clock.js";
import { problem } from "./problem.js";
import type { AppEnv } from "./env.js";

export interface Principal {
  /** username, or node id for agents */
  sub: string;
  roles: Role[];
  /** token id, so one token can be revoked (logout) */
  jti?: string;
  /** expiry, epoch seconds */
  exp?: number;
  /** the user's (or node's) token version when issued; a newer version revokes older tokens */
  ver?: number;
}

/** RFC 9068 access tokens; anything else (an ID token, a token of another kind signed with the same key) is refused */
const TOKEN_TYPE = "at+jwt";
/** how far ahead of our clock an issuer's clock may run (RFC 8725 3.10: keep it small) */
const MAX_IAT_SKEW_SECONDS = 60;

const ClaimsSchema = z.object({
  sub: z.string().min(1),
  roles: z.array(RoleSchema),
  jti: z.string().min(1),
  iat: z.number().int(),
  exp: z.number().int(),
  ver: z.number().int().nonnegative().optional(),
});

export interface JwtSettings {
  issuer: string;
  audience: string;
  /** the longest lifetime a token may have; verify refuses longer ones */
  ttlSeconds: number;
  /**
   * The HS256 secret of releases before managed keys, for verification only (never signs): tokens
   * issued before an upgrade keep working until they expire. Only tokens with its kid are tried
   * with it, and only until one token lifetime after the first managed key began to sign.
   */
  legacy?: { secret: string; kid: string };
}

/** What jose signs and verifies with (node:crypto KeyObjects are imported once, when a key is loaded). */
export type VerificationKey = CryptoKey | KeyObject;

/** The keys TokenService signs and verifies with; src/identity/key-ring.ts follows them in the event log. */
export interface SigningKeys {
  /** the private key that signs now, or null while none is loaded */
  signer(): { kid: string; key: VerificationKey } | null;
  /** the public key named `kid` when tokens signed with it still count at nowMs, else null */
  verifier(kid: string, nowMs: number): VerificationKey | null;
  /** when the first managed key began to sign (ms), null before; ends the legacy secret's window */
  managedSinceMs(): number | null;
}

/** Managed keys sign with Ed25519 (RFC 8037); HS256 only ever verifies the legacy secret's tokens. */
export const SIGNING_ALG = "EdDSA";
const LEGACY_ALG = "HS256";

// Above the fleet the service is sized for (10,000 nodes, each with its own token, plus people):
// at 10,000 the cache was exactly one token too small, and a fleet heartbeating in a cycle evicted
// every token just before its next use, so each heartbeat paid an Ed25519 verification (~8 % of
// the server's CPU at 5,000 heartbeats/s). About 0.2 KiB an entry.
const VERIFIED_CACHE_SIZE = 50_000;

/**
 * A verified token's key in the cache: its SHA-256. Keyed by the token itself, each entry held the
 * whole ~0.45 KiB Authorization header it was cut from (~4 MiB at 10,000 nodes); the digest costs
 * what hashing a fresh token string for the lookup cost anyway (~0.5 us).
 */
const cacheKey = (token: string) => hash("sha256", token, "base64");

interface Verified {
  principal: Principal;
  expiresAtMs: number;
  /** the key that verified it: a cached token counts only while that key still does */
  alg: string;
  kid: string;
}

/**
 * Signs bearer tokens with the current managed key (its kid names the key version) and verifies
 * them with whichever key their kid names, while that key counts: next, current, or previous
 * within its overlap. A token of a destroyed or unknown key is refused.
 */
export class TokenService {
  private readonly legacyKey: Promise<CryptoKey> | null;
  /**
   * Tokens already verified, until they expire: agents and dashboards repeat the same token on
   * every request, and a signature check costs more than the rest of the request. Bounded; a
   * token is only ever cached after a full verification, and a hit is honoured only while its
   * key still counts.
   */
  private readonly verified = new Map<string, Verified>();
  constructor(
    private readonly settings: JwtSettings,
    private readonly keys: SigningKeys,
    private readonly clock: Clock = systemClock,
  ) {
    const legacy = settings.legacy;
    this.legacyKey = legacy
      ? crypto.subtle.importKey("raw", Buffer.from(legacy.secret, "utf8"), { name: "HMAC", hash: "SHA-256" }, false, ["verify"])
      : null;
  }

  /** ttlSeconds may shorten the configured lifetime, never lengthen it (verify would refuse the token). */
  async issue(
    principal: Principal,
    nowMs: number,
    ttlSeconds = this.settings.ttlSeconds,
    claims: { ver?: number } = {},
  ): Promise<{ token: string; expiresAt: string }> {
    if (!(ttlSeconds > 0 && ttlSeconds <= this.settings.ttlSeconds)) throw new RangeError(`token lifetime must be 1..${this.settings.ttlSeconds} s`);
    const signer = this.keys.signer();
    // only between a first start and its key being loaded: a moment, so the caller may retry
    if (!signer) throw new DomainError("unavailable", "no signing key is loaded yet; try again shortly", { retryAfterSeconds: 1 });
    const iat = Math.floor(nowMs / 1000);
    const exp = iat + ttlSeconds;
    const token = await new SignJWT({ roles: principal.roles, ...(claims.ver === undefined ? {} : { ver: claims.ver }) })
      .setProtectedHeader({ alg: SIGNING_ALG, kid: signer.kid, typ: TOKEN_TYPE })
      .setSubject(principal.sub)
      .setIssuer(this.settings.issuer)
      .setAudience(this.settings.audience)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .setJti(crypto.randomUUID())
      .sign(signer.key);
    return { token, expiresAt: new Date(exp * 1000).toISOString() };
  }

  /**
   * The principal the token names, or null when it is forged, expired, for someone else, signed
   * by a key that no longer counts, or not strictly an access token of ours (RFC 8725, RFC 9068).
   * Says nothing about whether the account may still act: that is the UserDirectory's call, on
   * every request.
   */
  async verify(token: string): Promise<Principal | null> {
    const nowMs = this.clock.now();
    const cached = cacheKey(token);
    const known = this.cachedByKey(cached, nowMs);
    if (known !== undefined) return known;
    let alg: string;
    let kid: string;
    try {
      const header = decodeProtectedHeader(token);
      if (typeof header.alg !== "string" || typeof header.kid !== "string") return null;
      ({ alg, kid } = header as { alg: string; kid: string });
    } catch {
      return null;
    }
    // the key decides the algorithm, never the token: each kid has exactly one
    const key = await this.keyFor(alg, kid, nowMs);
    if (!key) return null;
    try {
      const { payload } = await jwtVerify(token, key, {
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        algorithms: [alg],
        typ: TOKEN_TYPE,
        requiredClaims: ["exp", "iat", "sub", "jti"],
        currentDate: new Date(nowMs),
      });
      const parsed = ClaimsSchema.safeParse(payload);
      if (!parsed.success) return null;
      const { sub, roles, jti, iat, exp, ver } = parsed.data;
      if (iat > Math.floor(nowMs / 1000) + MAX_IAT_SKEW_SECONDS) return null;
      if (exp - iat > this.settings.ttlSeconds) return null;
      const principal: Principal = { sub, roles, jti, exp, ...(ver === undefined ? {} : { ver }) };
      if (this.verified.size >= VERIFIED_CACHE_SIZE) this.verified.delete(this.verified.keys().next().value!);
      this.verified.set(cached, { principal, expiresAtMs: exp * 1000, alg, kid });
      return principal;
    } catch (err) {
      if (err instanceof joseErrors.JOSEError) return null;
      throw err;
    }
  }

  /**
   * verify's answer for a token it verified before, without a promise (admitBearer asks this on
   * every request first): its principal while the token and its key still count, null once either
   * stopped (it is forgotten: a full check would refuse it too), undefined when not cached.
   */
  cachedVerdict(token: string, nowMs: number = this.clock.now()): Principal | null | undefined {
    return this.cachedByKey(cacheKey(token), nowMs);
  }

  private cachedByKey(key: string, nowMs: number): Principal | null | undefined {
    const known = this.verified.get(key);
    if (!known) return undefined;
    // (a cached legacy token was verified with the legacy key, so that promise has resolved)
    if (known.expiresAtMs > nowMs && this.keyFor(known.alg, known.kid, nowMs) !== null) return known.principal;
    this.verified.delete(key);
    return null;
  }

  /** the key a token of this alg and kid is checked with while it counts at nowMs, else null */
  private keyFor(alg: string, kid: string, nowMs: number): VerificationKey | Promise<CryptoKey> | null {
    if (alg === SIGNING_ALG) return this.keys.verifier(kid, nowMs);
    const legacy = this.settings.legacy;
    if (alg !== LEGACY_ALG || !legacy || !this.legacyKey || kid !== legacy.kid) return null;
    // a legacy token lives at most one lifetime, so none issued before the switch outlives this
    const since = this.keys.managedSinceMs();
    if (since !== null && nowMs >= since + this.settings.ttlSeconds * 1000) return null;
    return this.legacyKey;
  }
}

export function bearerToken(header: string | undefined): string | null {
  const m = /^Bearer\s+(\S+)$/i.exec(header ?? "");
  return m ? m[1]! : null;
}

/**
 * Reads the bearer token if any (src/http/app.ts runs this inline with the session cookie and the
 * rate limit); routes decide with requireRoles whether one is needed. A valid signature proves who;
 * the user's current state decides whether the token still counts and which roles apply (so the
 * verified-token cache can never outlive a revocation). Undefined, synchronously, when there is no
 * bearer token.
 */
export function admitBearer(c: Context<AppEnv>, authorization: string | undefined, tokens: TokenService, users: UserDirectory): Promise<void> | undefined {
  const token = bearerToken(authorization);
  if (!token) return undefined;
  // a token seen before (dashboards and agents repeat theirs) is judged without a promise
  const known = tokens.cachedVerdict(token);
  if (known === null) c.set("authError", "invalid or expired token");
  if (known !== undefined) return known ? admitVerified(c, known, users) : undefined;
  return verifyAndAdmit(c, token, tokens, users);
}

async function verifyAndAdmit(c: Context<AppEnv>, token: string, tokens: TokenService, users: UserDirectory): Promise<void> {
  const verified = await tokens.verify(token);
  if (verified) await admitVerified(c, verified, users);
  else c.set("authError", "invalid or expired token");
}

/** the user's current state decides: principal with today's roles, or why the token does not count */
async function admitVerified(c: Context<AppEnv>, verified: Principal, users: UserDirectory): Promise<void> {
  const principal = await users.admit(verified);
  if (principal) c.set("principal", principal);
  else c.set("authError", "the token was revoked or the account is not active");
}

/** 401 without a valid token; 403 when the caller has none of the roles. */
export function requireRoles(...roles: Role[]): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const principal = c.get("principal");
    if (!principal) return problem(c, 401, c.get("authError") ?? "a bearer token is required");
    if (!principal.roles.some((r) => roles.includes(r))) {
      return problem(c, 403, `requires one of the roles: ${roles.join(", ")}`);
    }
    await next();
  };
}

/** Every human role; the Node role is deliberately not here. */
export const ANY_USER: Role[] = ["Admin", "Deployer", "Viewer"];
