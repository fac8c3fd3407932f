import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from "node:crypto";
import { chmodSync, closeSync, openSync } from "node:fs";
import Database from "better-sqlite3";
import type { SecretMaterial } from "../events/catalog/secret.js";
import { SecretBackendError, SecretDestroyedError, type SecretBackend } from "./backend.js";
import type { MasterKey } from "./master-key.js";

// Envelope encryption. Each version's value is sealed with AES-256-GCM under a data key of its
// own; the ciphertext goes into the version's event (immutable, replicated, exported), the data
// key, wrapped (AES-256-GCM) by the master key, goes into a small key store of its own:
// DATA_DIR/secret-keys.db. Why not in the event too: an event can never be deleted, so a key in it
// could never be destroyed. Here destroying a version deletes one row, and with it every way to
// open that version's ciphertext (crypto-shredding), while the event log stays append-only.
//
// The key store is SQLite (not a JSON file rewritten on each change) for atomic, crash-safe
// updates and a re-wrap in one transaction; secure_delete zeroes a deleted row's bytes in the file,
// and the rollback journal (not WAL, which would keep old page images until a checkpoint) holds a
// changed page only while its transaction runs. What the file system does with freed blocks is
// beyond any application; the row is a *wrapped* key, useless without the master key.

const ALG = "aes-256-gcm";
const VALUE_AAD = "korch-secret-value:v1";
const WRAP_AAD = "korch-secret-dek:v1";

interface KeyRow {
  key_id: string;
  secret: string;
  version: number;
  kek_id: string;
  wrapped: Buffer;
}

export interface EmbeddedBackendOptions {
  /** the key store's file, or ":memory:" */
  file: string;
  /** the master key new data keys are wrapped by */
  masterKey: MasterKey;
  /** earlier master keys, still able to unwrap until rewrap() has moved every data key on */
  previousKeys?: MasterKey[];
}

const b64 = (b: Buffer) => b.toString("base64url");
const unb64 = (s: string) => Buffer.from(s, "base64url");

function seal(key: Buffer, plaintext: Buffer, aad: string): { iv: Buffer; ciphertext: Buffer; tag: Buffer } {
  const iv = randomBytes(12);
  const cipher = createCipheriv(ALG, key, iv);
  cipher.setAAD(Buffer.from(aad));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { iv, ciphertext, tag: cipher.getAuthTag() };
}

function open(key: Buffer, iv: Buffer, ciphertext: Buffer, tag: Buffer, aad: string): Buffer {
  const decipher = createDecipheriv(ALG, key, iv);
  decipher.setAAD(Buffer.from(aad));
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
}

/** AAD of a value: the secret, version and data key it belongs to, so material moved elsewhere does not open. */
const valueAad = (secret: string, version: number, keyId: string) => `${VALUE_AAD}:${secret}:${version}:${keyId}`;

export class EmbeddedSecretBackend implements SecretBackend {
  readonly kind = "embedded" as const;
  private readonly db: Database.Database;
  private readonly keks = new Map<string, Buffer>();

  constructor(private readonly options: EmbeddedBackendOptions) {
    if (options.file !== ":memory:") {
      // created owner-only before SQLite opens it; the journal takes the database's mode
      closeSync(openSync(options.file, "a", 0o600));
      chmodSync(options.file, 0o600);
    }
    this.db = new Database(options.file);
    this.db.pragma("journal_mode = DELETE");
    this.db.pragma("secure_delete = ON");
    this.db.pragma("synchronous = FULL");
    this.db.pragma("busy_timeout = 5000");
    this.db.exec(`CREATE TABLE IF NOT EXISTS data_keys (
      key_id  TEXT PRIMARY KEY,
      secret  TEXT NOT NULL,
      version INTEGER NOT NULL,
      kek_id  TEXT NOT NULL,
      wrapped BLOB NOT NULL,
      created_at TEXT NOT NULL
    )`);
    this.keks.set(options.masterKey.id, options.masterKey.key);
    for (const k of options.previousKeys ?? []) if (!this.keks.has(k.id)) this.keks.set(k.id, k.key);
  }

  /** the id of the master key new data keys are wrapped by */
  get masterKeyId(): string {
    return this.options.masterKey.id;
  }

  async write(secret: string, version: number, value: Buffer): Promise<SecretMaterial> {
    const keyId = randomUUID();
    const dataKey = randomBytes(32);
    try {
      const sealed = seal(dataKey, value, valueAad(secret, version, keyId));
      const wrapped = this.wrap(keyId, dataKey, this.options.masterKey);
      this.db
        .prepare("INSERT INTO data_keys (key_id, secret, version, kek_id, wrapped, created_at) VALUES (?, ?, ?, ?, ?, ?)")
        .run(keyId, secret, version, this.options.masterKey.id, wrapped, new Date().toISOString());
      return { backend: "embedded", keyId, alg: "A256GCM", iv: b64(sealed.iv), ciphertext: b64(sealed.ciphertext), tag: b64(sealed.tag) };
    } finally {
      dataKey.fill(0);
    }
  }

  async read(secret: string, version: number, material: SecretMaterial): Promise<Buffer> {
    if (material.backend !== "embedded") throw new SecretBackendError(`version ${version} of ${secret} is stored in ${material.backend}, not here`);
    const row = this.db.prepare("SELECT key_id, secret, version, kek_id, wrapped FROM data_keys WHERE key_id = ?").get(material.keyId) as KeyRow | undefined;
    if (!row) throw new SecretDestroyedError(secret, version);
    if (row.secret !== secret || row.version !== version) throw new SecretBackendError(`data key ${material.keyId} belongs to another secret version`);
    const dataKey = this.unwrap(row);
    try {
      return open(dataKey, unb64(material.iv), unb64(material.ciphertext), unb64(material.tag), valueAad(secret, version, row.key_id));
    } catch (err) {
      throw new SecretBackendError(`version ${version} of ${secret} does not decrypt (damaged or substituted ciphertext)`, { cause: err });
    } finally {
      dataKey.fill(0);
    }
  }

  async destroy(_secret: string, _version: number, material: SecretMaterial): Promise<void> {
    if (material.backend !== "embedded") return;
    this.db.prepare("DELETE FROM data_keys WHERE key_id = ?").run(material.keyId);
  }

  /** Keys of the versions a data key exists for (the reconciler destroys those the log says are destroyed). */
  keyIdsOf(secret: string): { keyId: string; version: number }[] {
    return (this.db.prepare("SELECT key_id, version FROM data_keys WHERE secret = ?").all(secret) as { key_id: string; version: number }[]).map((r) => ({
      keyId: r.key_id,
      version: r.version,
    }));
  }

  /**
   * Re-wraps every data key not wrapped by the current master key, in one transaction: values and
   * events are untouched. Answers which (secret, version) moved; throws (changing nothing) when a
   * key is wrapped by a master key this instance was not given.
   */
  rewrap(): { secret: string; version: number }[] {
    const current = this.options.masterKey;
    const rows = this.db.prepare("SELECT key_id, secret, version, kek_id, wrapped FROM data_keys WHERE kek_id != ?").all(current.id) as KeyRow[];
    const update = this.db.prepare("UPDATE data_keys SET kek_id = ?, wrapped = ? WHERE key_id = ?");
    const moved: { secret: string; version: number }[] = [];
    this.db.transaction(() => {
      for (const row of rows) {
        const dataKey = this.unwrap(row);
        try {
          update.run(current.id, this.wrap(row.key_id, dataKey, current), row.key_id);
        } finally {
          dataKey.fill(0);
        }
        moved.push({ secret: row.secret, version: row.version });
      }
    })();
    return moved;
  }

  async check(): Promise<void> {
    this.db.prepare("SELECT 1").get();
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  private wrap(keyId: string, dataKey: Buffer, kek: MasterKey): Buffer {
    const { iv, ciphertext, tag } = seal(kek.key, dataKey, `${WRAP_AAD}:${keyId}`);
    return Buffer.concat([iv, tag, ciphertext]);
  }

  private unwrap(row: KeyRow): Buffer {
    const kek = this.keks.get(row.kek_id);
    if (!kek) throw new SecretBackendError(`data key ${row.key_id} is wrapped by master key ${row.kek_id}, which this instance was not given (SECRETS_MASTER_KEY_PREVIOUS)`);
    const w = Buffer.from(row.wrapped);
    try {
      return open(kek, w.subarray(0, 12), w.subarray(28), w.subarray(12, 28), `${WRAP_AAD}:${row.key_id}`);
    } catch (err) {
      throw new SecretBackendError(`data key ${row.key_id} does not unwrap under master key ${row.kek_id}`, { cause: err });
    }
  }
}
