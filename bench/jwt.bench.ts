// JWT figures on a real development server: access-token verifications per second with a 3-key set
// (current, previous and the one before, both within their overlap; every token distinct, so no
// cached verdict, then the same tokens again from the verified-token cache), and the end-to-end
// latency of a jwt-signing-key rotation (POST .../rotate until GET .../rotations/{id} answers
// Completed) with development settings: JWKS_PUBLISH_AHEAD_SECONDS 2, the rotation runner's tick.
import { rmSync } from "node:fs";
import { SignJWT } from "jose";
import type { VerificationKey } from "../src/http/auth.js";
import { startServer, type RunningServer } from "../src/server.js";
import { benchConfig } from "./config.js";
import { emit } from "./emit.js";
import { QUICK, sized } from "./quick.js";

const TOKENS = sized("BENCH_JWT_TOKENS", 6000, 1000);
const ROTATIONS = QUICK ? 1 : 3;

async function call(s: RunningServer, path: string, init: { method?: string; token?: string; json?: unknown } = {}): Promise<Response> {
  const headers: Record<string, string> = {};
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  if (init.json !== undefined) headers["content-type"] = "application/json";
  return fetch(s.url + path, { method: init.method ?? "GET", headers, body: init.json === undefined ? undefined : JSON.stringify(init.json) });
}

async function login(s: RunningServer): Promise<string> {
  const res = await call(s, "/api/v1/authentication/login", { method: "POST", json: { username: "admin", password: "Admin123!" } });
  if (res.status !== 200) throw new Error(`login: ${res.status}`);
  return ((await res.json()) as { token: string }).token;
}

/** ms from the rotate request to the rotation's Completed, as a client sees it (polled every 20 ms) */
async function rotateOnce(s: RunningServer, token: string): Promise<number> {
  const started = performance.now();
  const res = await call(s, "/api/v1/secrets/jwt-signing-key/rotate", { method: "POST", token, json: { reason: "bench" } });
  if (res.status !== 202) throw new Error(`rotate: ${res.status} ${await res.text()}`);
  const { rotationId } = (await res.json()) as { rotationId: string };
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const r = (await (await call(s, `/api/v1/secrets/jwt-signing-key/rotations/${rotationId}`, { token })).json()) as { status: string };
    if (r.status === "Completed") return performance.now() - started;
    if (r.status === "RolledBack") throw new Error("rotation rolled back");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error("rotation did not complete within 60 s");
}

async function signAll(s: RunningServer, signers: { kid: string; key: VerificationKey }[]): Promise<string[]> {
  const { issuer, audience } = s.deps.config.jwt;
  const iat = Math.floor(Date.now() / 1000);
  const tokens: string[] = [];
  for (let i = 0; i < TOKENS; i++) {
    const signer = signers[i % signers.length]!;
    tokens.push(
      await new SignJWT({ roles: ["Admin"], ver: 0 })
        .setProtectedHeader({ alg: "EdDSA", kid: signer.kid, typ: "at+jwt" })
        .setSubject("admin")
        .setIssuer(issuer)
        .setAudience(audience)
        .setIssuedAt(iat)
        .setExpirationTime(iat + 600)
        .setJti(`bench-${i}`)
        .sign(signer.key),
    );
  }
  return tokens;
}

async function verifyRate(s: RunningServer, tokens: string[]): Promise<number> {
  const started = performance.now();
  for (const token of tokens) if (!(await s.deps.tokens.verify(token))) throw new Error("a bench token did not verify");
  return tokens.length / ((performance.now() - started) / 1000);
}

const { config, dataDir } = benchConfig("jwt");
const server = await startServer(config);
try {
  const signers = [server.deps.keyRing.signer()!];
  const latencies: number[] = [];
  for (let i = 0; i < ROTATIONS; i++) {
    latencies.push(await rotateOnce(server, await login(server)));
    signers.push(server.deps.keyRing.signer()!);
  }
  const conditions = { publishAheadSeconds: config.jwt.publishAheadMs / 1000, backend: config.secrets.backend.kind, mode: config.mode, rotations: ROTATIONS };
  const sorted = [...latencies].sort((x, y) => x - y);
  emit("jwt.rotation.end_to_end.median", sorted[Math.floor(sorted.length / 2)]!, "ms", conditions);
  emit("jwt.rotation.end_to_end.max", sorted.at(-1)!, "ms", conditions);

  // the 3-key set: the current key and the two before it, still within their overlap
  const set = signers.slice(-3);
  const published = server.deps.keyRing.jwks(Date.now(), config.jwt.jwksMaxAgeSeconds).keys.map((k) => k.kid);
  for (const s of set) if (!published.includes(s.kid)) throw new Error(`${s.kid} is not in the key set ${published.join(", ")}`);
  const tokens = await signAll(server, set);
  const verifyConditions = { keys: set.length, alg: "EdDSA (Ed25519)", tokens: tokens.length, publishedKeys: published.length };
  emit("jwt.verify.uncached", await verifyRate(server, tokens), "verifications/s", { ...verifyConditions, cache: "miss: every token distinct" });
  emit("jwt.verify.cached", await verifyRate(server, tokens), "verifications/s", { ...verifyConditions, cache: "hit: the same tokens again" });
} finally {
  await server.close();
  rmSync(dataDir, { recursive: true, force: true });
}
