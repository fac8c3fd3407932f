import { join } from "node:path";
import { z } from "zod";
import { DEFAULT_ROTATION_SETTINGS, type RotationSettings } from "./rotation-plan.js";
import { DEV_MASTER_KEY_FILE, parseMasterKey, type MasterKey } from "./master-key.js";

const int = (min = 0) => z.coerce.number().int().min(min);

/** The secrets variables (merged into the EnvSchema of src/platform/config.ts). */
export const SecretsEnvShape = {
  /** embedded (envelope encryption, keys in DATA_DIR/secret-keys.db) or vault (HashiCorp Vault / OpenBao KV v2) */
  SECRETS_BACKEND: z.enum(["embedded", "vault"]).default("embedded"),
  /** 32 random bytes, base64 or hex: wraps every data key of the embedded backend; required in production */
  SECRETS_MASTER_KEY: z.string().optional(),
  /** comma-separated earlier master keys: data keys they wrap are re-wrapped under SECRETS_MASTER_KEY at start */
  SECRETS_MASTER_KEY_PREVIOUS: z.string().optional(),
  VAULT_ADDR: z.string().url().optional(),
  VAULT_TOKEN: z.string().optional(),
  VAULT_MOUNT: z.string().regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/, "a mount path such as secret").default("secret"),
  VAULT_PATH_PREFIX: z.string().regex(/^([A-Za-z0-9._-]+\/)*$/, "empty, or path segments ending in /").default("korch/"),
  VAULT_NAMESPACE: z.string().optional(),
  /** a rotation step that throws is tried this many times before the rotation rolls back */
  SECRET_ROTATION_MAX_ATTEMPTS: int(1).default(DEFAULT_ROTATION_SETTINGS.maxStepAttempts),
  /** first retry delay of a failed step (doubles per attempt); development 1 s, production 30 s */
  SECRET_ROTATION_RETRY_SECONDS: z.coerce.number().positive().optional(),
  /** rotations rolled back in a row before a secret is marked RotationFailing */
  SECRET_ROTATION_MAX_FAILURES: int(1).default(DEFAULT_ROTATION_SETTINGS.maxFailedRotations),
  /** scheduled rotations spread over up to this many seconds after they are due (development 0) */
  SECRET_ROTATION_JITTER_SECONDS: z.coerce.number().min(0).optional(),
};

const SecretsEnvSchema = z.object(SecretsEnvShape);
type SecretsEnv = z.infer<typeof SecretsEnvSchema>;

export type SecretsBackendConfig =
  | {
      kind: "embedded";
      /** null in development: DATA_DIR/secrets-master.key is made on first use */
      masterKey: MasterKey | null;
      previousKeys: MasterKey[];
      keyStoreFile: string;
      devMasterKeyFile: string;
    }
  | { kind: "vault"; address: string; token: string; mount: string; prefix: string; namespace?: string };

export interface SecretsConfig {
  backend: SecretsBackendConfig;
  rotation: RotationSettings;
}

/** The secrets part of the configuration; problems name the variable. */
export function secretsConfig(e: SecretsEnv, dev: boolean, dataDir: string, problems: string[]): SecretsConfig {
  const rotation: RotationSettings = {
    maxStepAttempts: e.SECRET_ROTATION_MAX_ATTEMPTS,
    retryBaseMs: (e.SECRET_ROTATION_RETRY_SECONDS ?? (dev ? 1 : 30)) * 1000,
    retryMaxMs: dev ? 30_000 : DEFAULT_ROTATION_SETTINGS.retryMaxMs,
    maxFailedRotations: e.SECRET_ROTATION_MAX_FAILURES,
    jitterMaxMs: (e.SECRET_ROTATION_JITTER_SECONDS ?? (dev ? 0 : DEFAULT_ROTATION_SETTINGS.jitterMaxMs / 1000)) * 1000,
  };
  if (e.SECRETS_BACKEND === "vault") {
    if (!e.VAULT_ADDR) problems.push("VAULT_ADDR: required with SECRETS_BACKEND=vault");
    if (!e.VAULT_TOKEN) problems.push("VAULT_TOKEN: required with SECRETS_BACKEND=vault");
    return {
      rotation,
      backend: { kind: "vault", address: e.VAULT_ADDR ?? "", token: e.VAULT_TOKEN ?? "", mount: e.VAULT_MOUNT, prefix: e.VAULT_PATH_PREFIX, namespace: e.VAULT_NAMESPACE },
    };
  }
  let masterKey: MasterKey | null = null;
  if (e.SECRETS_MASTER_KEY !== undefined) {
    const parsed = parseMasterKey(e.SECRETS_MASTER_KEY);
    if (typeof parsed === "string") problems.push(`SECRETS_MASTER_KEY: ${parsed}`);
    else masterKey = parsed;
  } else if (!dev) {
    problems.push("SECRETS_MASTER_KEY: required in production mode with the embedded secrets backend (32 random bytes, base64 or hex: openssl rand -base64 32)");
  }
  const previousKeys: MasterKey[] = [];
  for (const [i, part] of (e.SECRETS_MASTER_KEY_PREVIOUS ?? "").split(",").map((s) => s.trim()).filter(Boolean).entries()) {
    const parsed = parseMasterKey(part);
    if (typeof parsed === "string") problems.push(`SECRETS_MASTER_KEY_PREVIOUS: entry ${i + 1} ${parsed}`);
    else previousKeys.push(parsed);
  }
  return {
    rotation,
    backend: { kind: "embedded", masterKey, previousKeys, keyStoreFile: join(dataDir, "secret-keys.db"), devMasterKeyFile: join(dataDir, DEV_MASTER_KEY_FILE) },
  };
}
