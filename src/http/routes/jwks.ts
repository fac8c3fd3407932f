import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import type { AppDeps, AppEnv } from "../env.js";

const Jwk = z
  .object({
    kty: z.literal("OKP"),
    crv: z.literal("Ed25519"),
    x: z.string(),
    kid: z.string().openapi({ example: "jwt-signing-key@3" }),
    alg: z.literal("EdDSA"),
    use: z.literal("sig"),
  })
  .openapi("Jwk");
const JwkSet = z.object({ keys: z.array(Jwk) }).openapi("JwkSet");

const jwksRoute = createRoute({
  method: "get",
  path: "/.well-known/jwks.json",
  tags: ["Authentication"],
  summary: "Public keys that verify access tokens (RFC 7517)",
  description:
    "Open to anyone. Lists the next key (published JWKS_PUBLISH_AHEAD_SECONDS before it signs anything), the current key, " +
    "then retired keys until their overlap ends; a token's kid names its key. Cacheable for JWKS_MAX_AGE_SECONDS, " +
    "less when a listed key leaves the set sooner.",
  responses: { 200: { description: "The key set", content: { "application/jwk-set+json": { schema: JwkSet } } } },
});

export function registerJwksRoutes(app: OpenAPIHono<AppEnv>, deps: Pick<AppDeps, "keyRing" | "clock" | "config">) {
  app.openapi(jwksRoute, (c) => {
    const { keys, maxAgeSeconds } = deps.keyRing.jwks(deps.clock.now(), deps.config.jwt.jwksMaxAgeSeconds);
    return c.json({ keys }, 200, { "Content-Type": "application/jwk-set+json", "Cache-Control": `public, max-age=${maxAgeSeconds}` });
  });
}
