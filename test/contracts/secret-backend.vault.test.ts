import { suite } from "uvu";
import { VaultSecretBackend } from "../../src/secrets/vault.js";
import { secretBackendContract } from "./secret-backend.js";

const address = process.env.VAULT_ADDR;

if (address) {
  // one shared server (docker compose up openbao): each test uses its own secret name
  secretBackendContract("vault", async () => {
    const backend = new VaultSecretBackend({
      address,
      token: process.env.VAULT_TOKEN ?? "",
      mount: process.env.VAULT_MOUNT ?? "secret",
      prefix: `korch-contract-${process.pid}/`,
    });
    return { backend, cleanup: () => backend.close() };
  }).run();
} else {
  console.log("SKIPPED: Vault/OpenBao secret backend contract suite (set VAULT_ADDR and VAULT_TOKEN to run, e.g. against docker compose's openbao)");
  suite("secret backend contract: vault (skipped)").run();
}
