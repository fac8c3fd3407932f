import { z } from "zod";
import { defineEvent, type EventsOf } from "./define.js";

// Secret streams (`secret-<name>`). Values never stand here in clear: a version carries the
// backend's material (ciphertext, or a reference into Vault), and the key that opens embedded
// ciphertext lives outside the log so that destroying it destroys the value (crypto-shredding).
// Shapes are structural (storage format): input rules (name syntax, policy ranges, which kinds
// exist) are judged at the edge and in the decider, never on read.

const iso = z.iso.datetime();

/** A secret's policy as it was set; null fields mean "not enforced". */
export const SecretPolicyShape = z.object({
  /** scheduled rotation every this many days after the last one; null: only on request */
  intervalDays: z.number().nullable(),
  /** how long `previous` stays valid after a newer version became current */
  overlapSeconds: z.number(),
  /** an expiry warning this many days before a version expires; null: none */
  notifyBeforeDays: z.number().nullable(),
  /** a version expires this many days after it was created; null: never */
  expiresAfterDays: z.number().nullable(),
  /** at most this many versions keep their value; older unlabelled ones are destroyed */
  maxVersions: z.number(),
});
export type SecretPolicyStored = z.infer<typeof SecretPolicyShape>;

/** Where a version's value is: what the backend needs to read or destroy it again. */
export const SecretMaterialShape = z.discriminatedUnion("backend", [
  z.object({
    backend: z.literal("embedded"),
    /** the data key's id in the key store (DATA_DIR/secret-keys.db) */
    keyId: z.string(),
    alg: z.literal("A256GCM"),
    /** base64url */
    iv: z.string(),
    ciphertext: z.string(),
    tag: z.string(),
  }),
  z.object({
    backend: z.literal("vault"),
    /** KV v2 path below the mount */
    path: z.string(),
    /** the KV v2 version holding this value */
    vaultVersion: z.number(),
  }),
]);
export type SecretMaterial = z.infer<typeof SecretMaterialShape>;

export const RotationStepShape = z.enum(["create", "install", "test", "finish"]);
export type RotationStep = z.infer<typeof RotationStepShape>;

/** A plain JSON value a kind publishes in clear (a public JWK, a fingerprint). */
const PublicInfoShape = z.record(z.string(), z.unknown());

export const secretEvents = [
  defineEvent("SecretCreated", z.object({ name: z.string(), kind: z.string(), policy: SecretPolicyShape, at: iso })),
  defineEvent(
    "SecretVersionAdded",
    z.object({
      version: z.number().int(),
      material: SecretMaterialShape,
      publicInfo: PublicInfoShape.optional(),
      /** the rotation that made it; null for the first version and for an imported value */
      rotationId: z.string().nullable(),
      at: iso,
    }),
  ),
  /**
   * The labels after the move, whole: folding needs no history to know them. `cause` says why
   * (created, finish, rollback, cancel, destroy, expired-previous).
   */
  defineEvent(
    "SecretLabelsMoved",
    z.object({
      current: z.number().int().nullable(),
      pending: z.number().int().nullable(),
      previous: z.number().int().nullable(),
      /** until when `previous` is still valid; null: as long as it is labelled */
      previousValidUntil: iso.nullable(),
      cause: z.string(),
      at: iso,
    }),
  ),
  defineEvent("SecretVersionDestroyed", z.object({ version: z.number().int(), reason: z.string(), at: iso })),
  defineEvent("SecretPolicyChanged", z.object({ policy: SecretPolicyShape, at: iso })),
  defineEvent(
    "RotationRequested",
    z.object({ rotationId: z.string(), reason: z.string(), scheduled: z.boolean(), requestedBy: z.string(), at: iso }),
  ),
  defineEvent(
    "RotationStepCompleted",
    z.object({ rotationId: z.string(), step: RotationStepShape, version: z.number().int(), at: iso }),
  ),
  /** a durable timer: the process acts when dueAt has passed, after a restart too */
  defineEvent(
    "RotationTimerSet",
    z.object({ rotationId: z.string(), dueAt: iso, purpose: z.enum(["settle", "retry"]), at: iso }),
  ),
  defineEvent(
    "RotationFailed",
    z.object({
      rotationId: z.string(),
      step: RotationStepShape,
      reason: z.string(),
      /** 1-based attempt of this step that failed */
      attempt: z.number().int(),
      willRetry: z.boolean(),
      at: iso,
    }),
  ),
  /** the pending version is dropped; `current` never moved */
  defineEvent("RotationRolledBack", z.object({ rotationId: z.string(), reason: z.string(), at: iso })),
  defineEvent("RotationCompleted", z.object({ rotationId: z.string(), version: z.number().int(), at: iso })),
  /** retries are used up: the secret needs a person; cleared by the next completed rotation */
  defineEvent("SecretRotationFailing", z.object({ rotationId: z.string(), reason: z.string(), at: iso })),
  /** an audited read of a value (who is in the envelope's actor) */
  defineEvent("SecretValueRead", z.object({ version: z.number().int(), at: iso })),
  defineEvent("SecretExpiryWarned", z.object({ version: z.number().int(), expiresAt: iso, at: iso })),
  /** the data keys of these versions are wrapped by another master key now; values untouched */
  defineEvent("SecretMasterKeyRewrapped", z.object({ kekId: z.string(), versions: z.array(z.number().int()), at: iso })),
] as const;

export type SecretEvent = EventsOf<typeof secretEvents>;
