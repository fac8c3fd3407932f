import { z } from "zod";
import { defineEvent, type EventsOf } from "./define.js";

// Signed modules: the registry (stream module-<name>) and the trust store (stream trust-store).
// Structural shapes only: input rules (semver, ranges, PEM validity, policy levels per environment)
// are judged at the edge (src/http/routes/modules.ts, trust.ts) and never re-judged on read.
const iso = z.iso.datetime();

const CheckOutcomeShape = z.enum(["passed", "failed", "skipped"]);

/** A verdict as src/modules/verification produced it when it was recorded. */
export const VerificationShape = z.object({
  status: z.enum(["verified", "unsigned", "invalid", "untrusted", "expired", "revoked"]),
  signer: z.object({ subject: z.string(), fingerprint256: z.string(), serialNumber: z.string(), notAfter: z.string() }).nullable(),
  chain: z.array(z.string()),
  chainFingerprints: z.array(z.string()),
  /** SHA-256 of each certificate's tbsCertificate: survives a re-encoded (ECDSA) signature */
  chainTbsFingerprints: z.array(z.string()).optional(),
  checks: z.object({ integrity: CheckOutcomeShape, authenticity: CheckOutcomeShape, expiry: CheckOutcomeShape, revocation: CheckOutcomeShape }),
  reason: z.string().nullable(),
  failures: z.array(z.object({ check: z.string(), code: z.string(), reason: z.string() })),
});

/** What a verdict was judged again for. */
export const VerdictTriggerShape = z.enum(["registered", "root-added", "root-removed", "certificate-revoked", "reconciled"]);

export const TrustLevelShape = z.enum(["strict", "permissive", "audit", "skip"]);
export const TrustPolicyEntryShape = z.object({ level: TrustLevelShape, trustedIdentities: z.array(z.string()).optional() });

export const moduleEvents = [
  /** A version entered the registry; its bytes are in the artifact store under `digest`. */
  defineEvent(
    "ModuleVersionRegistered",
    z.object({
      name: z.string(),
      version: z.string(),
      /** "sha256:<hex>" of the whole artifact as uploaded (an appended kernel signature included) */
      digest: z.string(),
      size: z.number(),
      description: z.string().nullable(),
      dependencies: z.array(z.object({ name: z.string(), range: z.string() })),
      /** appended: inside the artifact; detached: `der` (base64) came beside it; none: unsigned */
      signature: z.object({ source: z.enum(["appended", "detached", "none"]), der: z.string().nullable() }),
      /** the PEM bundle uploaded with it (signer and intermediates), null when none */
      certificates: z.string().nullable(),
      registeredBy: z.string(),
      at: iso,
    }),
  ),
  /** The version's verdict against the trust store in force `at`: at registration, and whenever a trust change alters it. */
  defineEvent(
    "ModuleVersionVerified",
    z.object({
      name: z.string(),
      version: z.string(),
      digest: z.string(),
      verification: VerificationShape,
      trigger: VerdictTriggerShape,
      at: iso,
    }),
  ),
  defineEvent("TrustRootAdded", z.object({ fingerprint256: z.string(), subject: z.string(), notAfter: z.string(), pem: z.string(), by: z.string(), at: iso })),
  defineEvent("TrustRootRemoved", z.object({ fingerprint256: z.string(), subject: z.string(), by: z.string(), at: iso })),
  /** a root, intermediate or signer certificate no longer vouches for anything */
  defineEvent(
    "TrustCertificateRevoked",
    z.object({
      fingerprint256: z.string(),
      /** the certificate's tbsCertificate SHA-256, where it was known: revokes re-encodings of it too */
      tbsFingerprints: z.array(z.string()).optional(),
      reason: z.string(),
      by: z.string(),
      at: iso,
    }),
  ),
  /** the whole per-environment policy as it stands from now on */
  defineEvent("TrustPolicyChanged", z.object({ environments: z.record(z.string(), TrustPolicyEntryShape), by: z.string(), at: iso })),
] as const;

export type ModuleEvent = EventsOf<typeof moduleEvents>;
export type ModuleEventType = ModuleEvent["type"];
export type ModuleEventOf<T extends ModuleEventType> = Extract<ModuleEvent, { type: T }>;
