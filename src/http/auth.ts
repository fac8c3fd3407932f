import { SignJWT, jwtVerify, errors as joseErrors } from "jose";
import type { MiddlewareHandler } from "hono";
import { z } from "zod";
import { RoleSchema, type Role } from "../events/catalog/user.js";
import { problem } from "./problem.js";
import type { AppEnv } from "./env.js";

export interface Principal {
  /** username, or node id for agents */
  sub: string;
  roles: Role[];
}

const ClaimsSchema = z.object({ sub: z.string().min(1), roles: z.array(RoleSchema) });

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
  constructor(private readonly settings: JwtSettings) {
    this.key = crypto.subtle.importKey("raw", Buffer.from(settings.secret, "utf8"), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
  }

  async issue(principal: Principal, nowMs: number, ttlSeconds = this.settings.ttlSeconds): Promise<{ token: string; expiresAt: string }> {
    const iat = Math.floor(nowMs / 1000);
    const exp = iat + ttlSeconds;
    const token = await new SignJWT({ roles: principal.roles })
      .setProtectedHeader({ alg: "HS256", kid: this.settings.kid, typ: "JWT" })
      .setSubject(principal.sub)
      .setIssuer(this.settings.issuer)
      .setAudience(this.settings.audience)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .setJti(crypto.randomUUID())
      .sign(await this.key);
    return { token, expiresAt: new Date(exp * 1000).toISOString() };
  }

  /** The principal, or null when the token is missing, forged, expired or for someone else. */
  async verify(token: string): Promise<Principal | null> {
    const known = this.verified.get(token);
    if (known) {
      if (known.expiresAtMs > Date.now()) return known.principal;
      this.verified.delete(token);
    }
    try {
      const { payload, protectedHeader } = await jwtVerify(token, await this.key, {
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        algorithms: ["HS256"],
      });
      if (protectedHeader.kid !== this.settings.kid) return null;
      const claims = ClaimsSchema.safeParse(payload);
      if (!claims.success) return null;
      if (this.verified.size >= VERIFIED_CACHE_SIZE) this.verified.delete(this.verified.keys().next().value!);
      this.verified.set(token, { principal: claims.data, expiresAtMs: (payload.exp ?? 0) * 1000 });
      return claims.data;
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

/** Reads the bearer token if any; routes decide with requireRoles whether one is needed. */
export function authenticate(tokens: TokenService): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const token = bearerToken(c.req.header("authorization"));
    if (token) {
      const principal = await tokens.verify(token);
      if (principal) c.set("principal", principal);
      else c.set("authError", "invalid or expired token");
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
