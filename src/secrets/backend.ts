import type { SecretMaterial } from "../events/catalog/secret.js";

/**
 * Where secret values live. A version's value is written once and referenced from its
 * SecretVersionAdded event by the material the backend returns; the event log never holds a value
 * in clear. Embedded: AES-256-GCM ciphertext in the event, its data key wrapped by the master key
 * in a key store outside the log. Vault/OpenBao: the value in KV v2, the event holding the path and
 * KV version. Contract: test/contracts/secret-backend.ts.
 */
export interface SecretBackend {
  readonly kind: "embedded" | "vault";
  /**
   * Stores the value of `version` of `secret`. Check-and-set: each call makes a new stored item and
   * never replaces one a recorded material points at; a retry after a crash leaves at most an
   * unreferenced orphan. `secret` and `version` are bound into the result (AAD, path), so material
   * copied onto another version does not open.
   */
  write(secret: string, version: number, value: Buffer): Promise<SecretMaterial>;
  /** The value; SecretDestroyedError when its key (or KV version) was destroyed. */
  read(secret: string, version: number, material: SecretMaterial): Promise<Buffer>;
  /** Destroys the value for good (crypto-shredding for embedded). Idempotent. */
  destroy(secret: string, version: number, material: SecretMaterial): Promise<void>;
  /** Throws when the backend cannot serve (for /health). */
  check(): Promise<void>;
  close(): Promise<void>;
}

export class SecretDestroyedError extends Error {
  constructor(secret: string, version: number) {
    super(`version ${version} of secret ${secret} was destroyed`);
    this.name = "SecretDestroyedError";
  }
}

/** The backend cannot be reached or refused the request; transient from the rotation's point of view. */
export class SecretBackendError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SecretBackendError";
  }
}

/** A check-and-set write lost: someone wrote the same item first. */
export class SecretWriteConflictError extends SecretBackendError {
  constructor(message: string) {
    super(message);
    this.name = "SecretWriteConflictError";
  }
}
