// Per-environment trust policy after the Notary Project's trust policy: a verification level per
// scope (an environment, or "*" for the rest) decides which of the verdict's checks are enforced
// (a failure refuses the deployment) and which are only logged. Pure: no I/O, no clock.
import { z } from "@hono/zod-openapi";
import type { z as zod } from "zod";
import type { TrustPolicyEntryShape, VerificationShape } from "../events/catalog/module.js";
import type { Environment } from "../strategies/settings.js";

export const TRUST_LEVELS = ["strict", "permissive", "audit", "skip"] as const;
export type TrustLevel = (typeof TRUST_LEVELS)[number];
export const CHECKS = ["integrity", "authenticity", "expiry", "revocation"] as const;
export type Check = (typeof CHECKS)[number];

export type PolicyEntry = zod.infer<typeof TrustPolicyEntryShape>;
export type PolicyScope = Environment | "*";

/** The HTTP body of PUT /api/v1/trust/policy (the edge's rules; events store the plain shape). */
export const TrustPolicyInput = z
  .strictObject({
    environments: z
      .partialRecord(
        z.enum(["Development", "QA", "Staging", "Production", "*"]),
        z.strictObject({
          level: z.enum(TRUST_LEVELS),
          trustedIdentities: z
            .array(
              z
                .string()
                .max(512)
                .refine((v) => v === "*" || parseIdentity(v) !== null, "an x509 subject like \"O=Example Corp\" or \"x509.subject: C=DE, O=Example Corp\", or \"*\""),
            )
            .max(64)
            .optional(),
        }),
      )
      .refine((e) => Object.keys(e).length > 0, "name at least one environment, or \"*\""),
  })
  .openapi("TrustPolicy", {
    example: { environments: { Production: { level: "strict", trustedIdentities: ["O=Example Corp"] }, "*": { level: "permissive" } } },
  });

export type TrustPolicyBody = zod.input<typeof TrustPolicyInput>;

/**
 * Which checks each level enforces. Integrity is enforced at every level but skip; at audit only
 * against evidence of tampering (a signature that does not match the bytes): an unsigned or
 * unregistered module has no signature to break and is logged there, so the development quick
 * start keeps working.
 */
const ENFORCED: Record<TrustLevel, ReadonlySet<Check>> = {
  strict: new Set(CHECKS),
  permissive: new Set(["integrity", "authenticity"]),
  audit: new Set(["integrity"]),
  skip: new Set(),
};

/** Whether a level refuses (rather than logs) a failure of `check`. */
export const enforces = (level: TrustLevel, check: Check): boolean => ENFORCED[level].has(check);

/** Production mode: strict where it counts, permissive before; development: audit everywhere. */
export function defaultPolicy(dev: boolean): Map<PolicyScope, PolicyEntry> {
  if (dev) return new Map([["*", { level: "audit" }]]);
  return new Map<PolicyScope, PolicyEntry>([
    ["Development", { level: "permissive" }],
    ["QA", { level: "permissive" }],
    ["Staging", { level: "strict" }],
    ["Production", { level: "strict" }],
  ]);
}

/** The policy for one environment: its own entry, else "*", else none (which fails every request). */
export function policyFor(policy: ReadonlyMap<PolicyScope, PolicyEntry>, environment: Environment): PolicyEntry | null {
  return policy.get(environment) ?? policy.get("*") ?? null;
}

export interface CheckFailure {
  check: Check;
  reason: string;
}

export interface PolicyDecision {
  allowed: boolean;
  level: TrustLevel | null;
  /** failures that refuse the request */
  enforced: CheckFailure[];
  /** failures the level only logs */
  logged: CheckFailure[];
}

/** Evidence the policy judges: a registered version's current verdict, or nothing at all. */
export type Evidence = { registered: true; verification: zod.infer<typeof VerificationShape> } | { registered: false; name: string; version: string };

/** The pure decision: may this module version be deployed to `environment` under `policy`? */
export function evaluatePolicy(policy: ReadonlyMap<PolicyScope, PolicyEntry>, environment: Environment, evidence: Evidence): PolicyDecision {
  const entry = policyFor(policy, environment);
  if (!entry) {
    const failure: CheckFailure = { check: "integrity", reason: `no trust policy for ${environment} and no "*" policy` };
    return { allowed: false, level: null, enforced: [failure], logged: [] };
  }
  const failures = failuresOf(entry, evidence);
  const enforcedChecks = ENFORCED[entry.level];
  const tampered = evidence.registered && evidence.verification.failures.some((f) => f.check === "integrity" && f.code !== "no-signature");
  const enforces = (f: CheckFailure) => enforcedChecks.has(f.check) && (entry.level !== "audit" || tampered);
  const enforced = failures.filter(enforces);
  return { allowed: enforced.length === 0, level: entry.level, enforced, logged: failures.filter((f) => !enforces(f)) };
}

function failuresOf(entry: PolicyEntry, evidence: Evidence): CheckFailure[] {
  if (!evidence.registered) {
    return [{ check: "integrity", reason: `${evidence.name}@${evidence.version} is not in the registry: no bytes to verify` }];
  }
  const v = evidence.verification;
  const failures: CheckFailure[] = [];
  // one line per failed check, the most decisive reason first (as the verifier orders them)
  for (const check of CHECKS) {
    if (v.checks[check] !== "failed") continue;
    const first = v.failures.find((f) => f.check === check);
    failures.push({ check, reason: first?.reason ?? v.reason ?? `${check} failed` });
  }
  // a module without a signature is not authentic either, whatever the verifier left skipped
  if (v.status === "unsigned" && !failures.some((f) => f.check === "authenticity")) {
    failures.push({ check: "authenticity", reason: "the module is not signed: no signer to trust" });
  }
  const identities = entry.trustedIdentities ?? [];
  if (identities.length && !identities.includes("*") && v.signer && v.checks.authenticity === "passed" && !identities.some((id) => subjectMatches(v.signer!.subject, id))) {
    failures.push({ check: "authenticity", reason: `signer "${v.signer.subject}" is none of the trusted identities (${identities.join("; ")})` });
  }
  return failures;
}

/** "x509.subject: C=DE, O=Example Corp" or "O=Example Corp" -> attribute pairs; null when it names none. */
export function parseIdentity(identity: string): [string, string][] | null {
  const text = identity.replace(/^\s*x509\.subject\s*:/i, "");
  const pairs = splitDn(text);
  return pairs.length ? pairs : null;
}

function splitDn(dn: string): [string, string][] {
  const pairs: [string, string][] = [];
  // attributes are separated by commas that start a new "TYPE=" (values may hold escaped commas)
  for (const part of dn.split(/(?<!\\),\s*(?=[A-Za-z][A-Za-z0-9.-]*\s*=)/)) {
    const eq = part.indexOf("=");
    if (eq <= 0) continue;
    const type = part.slice(0, eq).trim().toUpperCase();
    const value = part.slice(eq + 1).trim().replace(/\\(.)/g, "$1");
    if (type && value) pairs.push([type, value]);
  }
  return pairs;
}

/** Every attribute the identity names is in the subject with the same value (Notary: subset match). */
export function subjectMatches(subject: string, identity: string): boolean {
  const wanted = parseIdentity(identity);
  if (!wanted) return false;
  const have = splitDn(subject);
  return wanted.every(([type, value]) => have.some(([t, v]) => t === type && v === value));
}
