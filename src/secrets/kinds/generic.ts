import { randomBytes } from "node:crypto";
import { DEFAULT_POLICY } from "../policy.js";
import type { SecretKindHandler } from "../kind.js";

const MAX_VALUE_BYTES = 64 * 1024;

/**
 * A value the service only keeps: given by the caller when the secret is created, 32 random bytes
 * (base64url text) on each rotation. Nothing to install; the test is a decrypt round trip, so a
 * version whose data key or ciphertext is damaged never becomes current.
 */
export function genericKind(): SecretKindHandler {
  return {
    kind: "generic",
    clientValueAllowed: true,
    // the caller's own value: an Admin may read it back, audited
    valueReadable: true,
    async generate() {
      return { value: Buffer.from(randomBytes(32).toString("base64url")) };
    },
    async install() {},
    installSettleMs: () => 0,
    async test(ctx) {
      const value = await ctx.readValue();
      return value.length > 0 ? { ok: true } : { ok: false, reason: "the stored value reads back empty" };
    },
    defaultPolicy: () => DEFAULT_POLICY,
    valueProblem: (value) => (value.length === 0 ? "must not be empty" : value.length > MAX_VALUE_BYTES ? `must be at most ${MAX_VALUE_BYTES} bytes` : null),
  };
}
