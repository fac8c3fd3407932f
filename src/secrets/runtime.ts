import { mkdirSync } from "node:fs";
import type { CommandContext } from "../commands/handler.js";
import { handleCommand } from "../commands/handler.js";
import { secretDecider } from "../commands/secret.js";
import type { EventLog } from "../events/event-log.js";
import type { LiveFeed } from "../events/live-feed.js";
import { streams } from "../events/streams.js";
import type { Clock } from "../platform/clock.js";
import type { Config } from "../platform/config.js";
import type { Coordination } from "../platform/coordination/port.js";
import type { Logger } from "../platform/logger.js";
import type { Metrics } from "../platform/metrics.js";
import { SecretRotationRunner } from "../processes/secret-rotation.js";
import type { SecretBackend } from "./backend.js";
import type { SecretsBackendConfig } from "./config.js";
import { EmbeddedSecretBackend } from "./embedded.js";
import type { SecretKindRegistry } from "./kind.js";
import { loadOrCreateDevMasterKey } from "./master-key.js";
import { registerSecretGauges } from "./monitoring.js";
import { SecretDirectory } from "./read-model.js";
import { SecretsService } from "./service.js";
import { SecretValues } from "./values.js";
import { VaultSecretBackend } from "./vault.js";

/** The secrets every installation has from its first start; seeded only when their kind is registered. */
export function builtInSecrets(config: Config): { name: string; kind: string; value?: string }[] {
  return [
    { name: "jwt-signing-key", kind: "jwt-signing-key" },
    // agents configured with AGENT_JOIN_TOKEN keep registering: it is the token's first version
    { name: "agent-join-token", kind: "agent-join-token", value: config.agentJoinToken },
  ];
}

export function openSecretBackend(config: SecretsBackendConfig, dataDir: string): SecretBackend {
  if (config.kind === "vault") {
    return new VaultSecretBackend({ address: config.address, token: config.token, mount: config.mount, prefix: config.prefix, namespace: config.namespace });
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const masterKey = config.masterKey ?? loadOrCreateDevMasterKey(dataDir);
  return new EmbeddedSecretBackend({ file: config.keyStoreFile, masterKey, previousKeys: config.previousKeys });
}

export interface SecretsRuntimeDeps {
  config: Config;
  log: EventLog;
  feed: LiveFeed;
  coordination: Coordination;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  instanceId: string;
  kinds: SecretKindRegistry;
  /** tests inject one (a fault-injecting wrapper, a fake Vault) */
  backend?: SecretBackend;
}

export type SecretsRuntime = Awaited<ReturnType<typeof startSecrets>>;

const systemCtx = (clock: Clock, what: string): CommandContext => ({
  actor: { kind: "system", id: what },
  correlationId: `${what}-${clock.now()}`,
  now: clock.now(),
});

/**
 * Secrets for the composition root: the backend, the read model (caught up before anything reads
 * it), the write service, values, built-in secrets seeded, data keys re-wrapped after a master-key
 * change; the rotation process starts with startRotation(), once the rest of the service is up.
 */
export async function startSecrets(deps: SecretsRuntimeDeps) {
  const { config, log, feed, clock, logger, metrics, kinds } = deps;
  const backend = deps.backend ?? openSecretBackend(config.secrets.backend, config.dataDir);
  const directory = new SecretDirectory(log, feed);
  await directory.start();
  const service = new SecretsService({
    log,
    directory,
    backend,
    kinds,
    config,
    clock,
    logger,
    onRolledBack: (kind) => metrics.secretRotations.inc({ kind, outcome: "rolled_back" }),
  });
  const values = new SecretValues(backend, directory);
  registerSecretGauges(metrics.registry, directory, clock);
  if (backend instanceof EmbeddedSecretBackend) await recordRewrap(backend, log, clock, logger);
  const seeded = await service.seed(builtInSecrets(config), systemCtx(clock, "secrets-seed"));
  if (seeded.length) logger.info({ secrets: seeded }, "built-in secrets created");
  if (seeded.length) await directory.waitFor(await log.headPosition(), config.readWaitTimeoutMs);

  const runner = new SecretRotationRunner({
    log,
    directory,
    backend,
    kinds,
    coordination: deps.coordination,
    clock,
    logger,
    config,
    settings: config.secrets.rotation,
    instanceId: deps.instanceId,
    leaseTtlMs: config.leaseTtlMs,
    onOutcome: (kind, outcome) => metrics.secretRotations.inc({ kind, outcome }),
  });
  let stopped = false;
  return {
    backend,
    directory,
    service,
    values,
    kinds,
    runner,
    startRotation: () => runner.start(),
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      await runner.stop();
      directory.stop();
      await backend.close();
    },
  };
}

/**
 * A master-key change (SECRETS_MASTER_KEY new, the old one in SECRETS_MASTER_KEY_PREVIOUS): every
 * data key is re-wrapped under the new key in one transaction, values untouched, and the log
 * records which versions moved (one event per secret).
 */
async function recordRewrap(backend: EmbeddedSecretBackend, log: EventLog, clock: Clock, logger: Logger): Promise<void> {
  const moved = backend.rewrap();
  if (!moved.length) return;
  const bySecret = new Map<string, number[]>();
  for (const m of moved) bySecret.set(m.secret, [...(bySecret.get(m.secret) ?? []), m.version]);
  for (const [name, versions] of bySecret) {
    const existing = await log.readStream(streams.secret(name), { maxCount: 1 });
    if (!existing.length) continue; // keys of a secret that was never recorded: nothing to audit on
    await handleCommand(log, streams.secret(name), secretDecider, { type: "RecordRewrap", kekId: backend.masterKeyId, versions, now: clock.now() }, systemCtx(clock, "secrets-rewrap"));
  }
  logger.info({ dataKeys: moved.length, secrets: bySecret.size, masterKey: backend.masterKeyId }, "secret data keys re-wrapped under the new master key");
}
