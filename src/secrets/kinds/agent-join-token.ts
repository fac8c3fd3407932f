import { createHash, randomBytes } from "node:crypto";
import type { SecretKindHandler } from "../kind.js";
import type { SecretPolicy } from "../policy.js";

/** the agent protocol's bound on a join token (src/fleet/protocol.ts) */
const MAX_TOKEN_CHARS = 512;
const MIN_TOKEN_CHARS = 16;

/** A short fingerprint, in clear, so operators can tell versions apart without reading a value. */
function joinTokenFingerprint(value: Buffer): string {
  return createHash("sha256").update(value).digest("hex").slice(0, 16);
}

/**
 * The shared token agents present to register. AGENT_JOIN_TOKEN seeds the first version (agents
 * configured with it keep registering); a rotation makes 32 random bytes (base64url). Every
 * instance accepts the current version and the previous one until the overlap ends
 * (src/identity/join-tokens.ts), so nothing needs installing and there is nothing to wait for.
 * There is no scheduled rotation by default: a new token must be handed out first (an Admin reads
 * it with GET /api/v1/secrets/agent-join-token/value, an audited read).
 */
export function agentJoinTokenKind(): SecretKindHandler {
  const valueProblem = (value: Buffer): string | null => {
    const text = value.toString("utf8");
    if (!Buffer.from(text, "utf8").equals(value)) return "must be UTF-8 text";
    if (text.length < MIN_TOKEN_CHARS || text.length > MAX_TOKEN_CHARS) return `must be ${MIN_TOKEN_CHARS} to ${MAX_TOKEN_CHARS} characters`;
    if (/\s/.test(text)) return "must not contain whitespace";
    return null;
  };
  return {
    kind: "agent-join-token",
    clientValueAllowed: false,
    // a rotated token must be handed to whatever registers new agents: an Admin reads it, audited
    valueReadable: true,
    async generate() {
      const value = Buffer.from(randomBytes(32).toString("base64url"));
      return { value, publicInfo: { fingerprint: joinTokenFingerprint(value) } };
    },
    async install() {},
    installSettleMs: () => 0,
    async test(ctx) {
      const value = await ctx.readValue();
      const problem = valueProblem(value);
      if (problem) return { ok: false, reason: `the stored token ${problem}` };
      const fingerprint = ctx.publicInfo?.fingerprint;
      if (typeof fingerprint === "string" && fingerprint !== joinTokenFingerprint(value)) {
        return { ok: false, reason: "the stored token does not match its fingerprint" };
      }
      return { ok: true };
    },
    defaultPolicy(): SecretPolicy {
      // a day for agents to be handed the new token before the old one is refused
      return { intervalDays: null, overlapSeconds: 86_400, notifyBeforeDays: null, expiresAfterDays: null, maxVersions: 10 };
    },
    valueProblem,
  };
}
