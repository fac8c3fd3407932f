import * as assert from "uvu/assert";
import { VaultSecretBackend } from "../../src/secrets/vault.js";
import { SecretBackendError } from "../../src/secrets/backend.js";
import { startFakeVault, type FakeVault } from "../secrets/fake-vault.js";
import { secretBackendContract } from "./secret-backend.js";

// The same contract over HTTP against a KV v2 stand-in, so the Vault adapter's requests, cas
// handling and status codes run in CI; the run against a real server is secret-backend.vault.test.ts.
let vault: FakeVault;
const s = secretBackendContract("vault over HTTP (KV v2 stand-in)", async () => {
  vault = await startFakeVault();
  const backend = new VaultSecretBackend({ address: vault.address, token: vault.token, mount: "secret", prefix: "korch/" });
  return {
    backend,
    cleanup: async () => {
      await backend.close();
      await vault.close();
    },
  };
});

s("every write is check-and-set; a retried version replaces only its own orphan", async () => {
  const backend = new VaultSecretBackend({ address: vault.address, token: vault.token, mount: "secret", prefix: "korch/" });
  const first = await backend.write("cas", 1, Buffer.from("a"));
  const second = await backend.write("cas", 1, Buffer.from("b"));
  assert.equal([first.backend === "vault" && first.vaultVersion, second.backend === "vault" && second.vaultVersion], [1, 2]);
  assert.ok(vault.requests.filter((r) => r.startsWith("POST")).length >= 3, "cas=0, then cas=1 after reading metadata");
});

s("a wrong token is a SecretBackendError naming the status, never the value", async () => {
  const backend = new VaultSecretBackend({ address: vault.address, token: "wrong", mount: "secret", prefix: "korch/" });
  const err = await backend.write("x", 1, Buffer.from("the-value")).catch((e: Error) => e);
  assert.instance(err, SecretBackendError);
  assert.match((err as Error).message, /403/);
  assert.not.match((err as Error).message, /the-value/);
});

s("an unreachable server is a SecretBackendError (the rotation retries it)", async () => {
  const backend = new VaultSecretBackend({ address: "http://127.0.0.1:1", token: "t", mount: "secret", prefix: "korch/", timeoutMs: 1000 });
  assert.instance(await backend.write("x", 1, Buffer.from("v")).catch((e: Error) => e), SecretBackendError);
});

s.run();
