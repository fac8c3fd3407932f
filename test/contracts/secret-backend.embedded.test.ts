import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import * as assert from "uvu/assert";
import { EmbeddedSecretBackend } from "../../src/secrets/embedded.js";
import { masterKeyId, type MasterKey } from "../../src/secrets/master-key.js";
import { secretBackendContract } from "./secret-backend.js";

const key = (): MasterKey => {
  const k = randomBytes(32);
  return { key: k, id: masterKeyId(k) };
};

const s = secretBackendContract("embedded", async () => {
  const dir = mkdtempSync(join(tmpdir(), "korch-secret-keys-"));
  const backend = new EmbeddedSecretBackend({ file: join(dir, "secret-keys.db"), masterKey: key() });
  return {
    backend,
    cleanup: async () => {
      await backend.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

s("the key store is owner-only, and a destroyed data key leaves no trace of its wrapped bytes in the file", async () => {
  const dir = mkdtempSync(join(tmpdir(), "korch-secret-keys-"));
  const file = join(dir, "secret-keys.db");
  const backend = new EmbeddedSecretBackend({ file, masterKey: key() });
  try {
    assert.is(statSync(file).mode & 0o777, 0o600);
    const material = await backend.write("shred-me", 1, Buffer.from("gone soon"));
    if (material.backend !== "embedded") throw new Error("embedded material expected");
    // the row as stored: find its wrapped bytes in the file, then destroy and look again
    const db = (backend as unknown as { db: { prepare(sql: string): { get(id: string): { wrapped: Buffer } } } }).db;
    const wrapped = Buffer.from(db.prepare("SELECT wrapped FROM data_keys WHERE key_id = ?").get(material.keyId).wrapped);
    assert.ok(readFileSync(file).includes(wrapped), "stored before destroy");
    await backend.destroy("shred-me", 1, material);
    assert.not.ok(readFileSync(file).includes(wrapped), "secure_delete zeroed the row");
  } finally {
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

s("a master-key change re-wraps every data key in one go; values read the same; a key not given fails clearly", async () => {
  const dir = mkdtempSync(join(tmpdir(), "korch-secret-keys-"));
  const file = join(dir, "secret-keys.db");
  const oldKey = key();
  const newKey = key();
  try {
    const before = new EmbeddedSecretBackend({ file, masterKey: oldKey });
    const m1 = await before.write("a", 1, Buffer.from("alpha"));
    const m2 = await before.write("b", 1, Buffer.from("beta"));
    await before.close();

    const without = new EmbeddedSecretBackend({ file, masterKey: newKey });
    assert.match((await without.read("a", 1, m1).catch((e: Error) => e)).toString(), /SECRETS_MASTER_KEY_PREVIOUS/);
    await without.close();

    const after = new EmbeddedSecretBackend({ file, masterKey: newKey, previousKeys: [oldKey] });
    assert.equal(after.rewrap().map((m) => m.secret).sort(), ["a", "b"]);
    assert.equal(after.rewrap(), [], "idempotent");
    await after.close();

    const onlyNew = new EmbeddedSecretBackend({ file, masterKey: newKey });
    assert.is((await onlyNew.read("a", 1, m1)).toString(), "alpha");
    assert.is((await onlyNew.read("b", 1, m2)).toString(), "beta");
    await onlyNew.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

s.run();
