import { SignJWT, jwtVerify, errors as joseErrors } from "jose";
import type { MiddlewareHandler } from "hono";
import { z } from "zod";
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
  secret: string;
  issuer: string;
  audience: string;
  ttlSeconds: number;
  kid: string;
}

const VERIFIED_CACHE_SIZE = 10_000;

/** Signs and verifies bearer tokens (HS256 with a key id, so keys can be rotated). */
export class TokenService {
  // a CryptoKey imported once: jose would otherwise import the raw secret on every call
  private readonly key: Promise<CryptoKey>;
  /**
   * Tokens already verified, until they expire: agents and dashboards repeat the same token on
   * every request, and a signature check costs more than the rest of the request. Bounded; a
   * token is only ever cached after a full verification.
   */
  private readonly verified = new Map<string, { principal: Principal; expiresAtMs: number }>();
  constructor(
    private readonly settings: JwtSettings,
    private readonly clock: Clock = systemClock,
  ) {
    this.key = crypto.subtle.importKey("raw", Buffer.from(settings.secret, "utf8"), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
  }

  /** ttlSeconds may shorten the configured lifetime, never lengthen it (verify would refuse the token). */
  async issue(
    principal: Principal,
    nowMs: number,
    ttlSeconds = this.settings.ttlSeconds,
    claims: { ver?: number } = {},
  ): Promise<{ token: string; expiresAt: string }> {
    if (!(ttlSeconds > 0 && ttlSeconds <= this.settings.ttlSeconds)) throw new RangeError(`token lifetime must be 1..${this.settings.ttlSeconds} s`);
    const iat = Math.floor(nowMs / 1000);
    const exp = iat + ttlSeconds;
    const token = await new SignJWT({ roles: principal.roles, ...(claims.ver === undefined ? {} : { ver: claims.ver }) })
      .setProtectedHeader({ alg: "HS256", kid: this.settings.kid, typ: TOKEN_TYPE })
      .setSubject(principal.sub)
      .setIssuer(this.settings.issuer)
      .setAudience(this.settings.audience)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .setJti(crypto.randomUUID())
      .sign(await this.key);
    return { token, expiresAt: new Date(exp * 1000).toISOString() };
  }

  /**
   * The principal the token names, or null when it is forged, expired, for someone else or not
   * strictly an access token of ours (RFC 8725, RFC 9068). Says nothing about whether the account
   * may still act: that is the UserDirectory's call, on every request.
   */
  async verify(token: string): Promise<Principal | null> {
    const nowMs = this.clock.now();
    const known = this.verified.get(token);
    if (known) {
      if (known.expiresAtMs > nowMs) return known.principal;
      this.verified.delete(token);
    }
    try {
      const { payload, protectedHeader } = await jwtVerify(token, await this.key, {
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        algorithms: ["HS256"],
        typ: TOKEN_TYPE,
        requiredClaims: ["exp", "iat", "sub", "jti"],
        currentDate: new Date(nowMs),
      });
      // one key today; the key set (and its kids) arrives with key rotation
      if (protectedHeader.kid !== this.settings.kid) return null;
      const parsed = ClaimsSchema.safeParse(payload);
      if (!parsed.success) return null;
      const { sub, roles, jti, iat, exp, ver } = parsed.data;
      if (iat > Math.floor(nowMs / 1000) + MAX_IAT_SKEW_SECONDS) return null;
      if (exp - iat > this.settings.ttlSeconds) return null;
      const principal: Principal = { sub, roles, jti, exp, ...(ver === undefined ? {} : { ver }) };
      if (this.verified.size >= VERIFIED_CACHE_SIZE) this.verified.delete(this.verified.keys().next().value!);
      this.verified.set(token, { principal, expiresAtMs: exp * 1000 });
      return principal;
    } catch (err) {
      if (err instanceof joseErrors.JOSEError) return null;
      throw err;
    }
  }
}

export function bearerToken(header: string | undefined): string | null {
  const m = /^Bearer\s+(\S+)$/i.exec(header ?? "");
  return m ? m[1]! : null;
}

/**
 * Reads the bearer token if any; routes decide with requireRoles whether one is needed. A valid
 * signature proves who; the user's current state decides whether the token still counts and
 * which roles apply (so the verified-token cache can never outlive a revocation).
 */
export function authenticate(tokens: TokenService, users: UserDirectory): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const token = bearerToken(c.req.header("authorization"));
    if (token) {
      const verified = await tokens.verify(token);
      const principal = verified && (await users.admit(verified));
      if (principal) c.set("principal", principal);
      else c.set("authError", verified ? "the token was revoked or the account is not active" : "invalid or expired token");
    }
    await next();
  };
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
