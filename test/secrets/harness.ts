// A secrets stack on a real embedded log and key store, with a clock the test moves and the
// rotation process ticked by hand: what the runner and property tests drive.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CommandContext } from "../../src/commands/handler.js";
import { catalog } from "../../src/events/catalog/index.js";
import { EventLog } from "../../src/events/event-log.js";
import { LiveFeed } from "../../src/events/live-feed.js";
import type { EventStore } from "../../src/events/store/port.js";
import { SqliteEventStore } from "../../src/events/store/sqlite.js";
import { ManualClock } from "../../src/platform/clock.js";
import { loadConfig } from "../../src/platform/config.js";
import { MemoryCoordination } from "../../src/platform/coordination/memory.js";
import { createLogger } from "../../src/platform/logger.js";
import { SecretRotationRunner } from "../../src/processes/secret-rotation.js";
import type { SecretBackend } from "../../src/secrets/backend.js";
import { EmbeddedSecretBackend } from "../../src/secrets/embedded.js";
import { SecretKindRegistry, type SecretKindHandler } from "../../src/secrets/kind.js";
import { genericKind } from "../../src/secrets/kinds/generic.js";
import { loadOrCreateDevMasterKey } from "../../src/secrets/master-key.js";
import { SecretDirectory } from "../../src/secrets/read-model.js";
import { DEFAULT_ROTATION_SETTINGS, type RotationSettings } from "../../src/secrets/rotation-plan.js";
import { SecretsService } from "../../src/secrets/service.js";
import { SecretValues } from "../../src/secrets/values.js";

export const T0 = Date.parse("2026-03-01T10:00:00.000Z");

export interface HarnessOptions {
  kinds?: SecretKindHandler[];
  settings?: Partial<RotationSettings>;
  /** wraps the event store (fault injection) */
  wrapStore?: (s: EventStore) => EventStore;
  /** wraps the backend (fault injection) */
  wrapBackend?: (b: SecretBackend) => SecretBackend;
  dir?: string;
  clock?: ManualClock;
}

export async function secretsHarness(options: HarnessOptions = {}) {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "korch-secrets-"));
  const ownDir = !options.dir;
  const clock = options.clock ?? new ManualClock(T0);
  const config = loadConfig({ APP_MODE: "development", DATA_DIR: dir, LOG_LEVEL: "silent", AGENT_JOIN_TOKEN: "test-join-token-0123" });
  const store = new SqliteEventStore({ file: join(dir, "events.db"), synchronous: "NORMAL" });
  const log = new EventLog(options.wrapStore ? options.wrapStore(store) : store, catalog);
  const feed = new LiveFeed(log);
  await feed.start();
  const directory = new SecretDirectory(log, feed);
  await directory.start();
  const embedded = new EmbeddedSecretBackend({ file: join(dir, "secret-keys.db"), masterKey: loadOrCreateDevMasterKey(dir) });
  const backend = options.wrapBackend ? options.wrapBackend(embedded) : embedded;
  const kinds = new SecretKindRegistry([genericKind(), ...(options.kinds ?? [])]);
  const logger = createLogger("silent");
  const service = new SecretsService({ log, directory, backend, kinds, config, clock, logger });
  const values = new SecretValues(backend, directory);
  const settings: RotationSettings = { ...DEFAULT_ROTATION_SETTINGS, retryBaseMs: 1000, retryMaxMs: 8000, jitterMaxMs: 0, ...options.settings };
  const outcomes: string[] = [];
  const runner = new SecretRotationRunner({
    log,
    directory,
    backend,
    kinds,
    coordination: new MemoryCoordination(clock),
    clock,
    logger,
    config,
    settings,
    instanceId: "test",
    tickMs: 3_600_000, // the test ticks by hand
    onOutcome: (kind, outcome) => outcomes.push(`${kind}:${outcome}`),
  });
  await runner.start();

  let requests = 0;
  const ctx = (actor = "admin"): CommandContext => ({ actor: { kind: "user", id: actor }, correlationId: `req-${++requests}`, now: clock.now() });

  /** lets the process run until the log stops growing (bounded) at the current time */
  async function drive(rounds = 50): Promise<void> {
    for (let i = 0; i < rounds; i++) {
      const head = await log.headPosition();
      await directory.waitFor(head, 5000);
      await runner.tick();
      await runner.whenIdle();
      await new Promise((r) => setImmediate(r));
      await runner.whenIdle();
      if ((await log.headPosition()) === head) return;
    }
    throw new Error("the rotation process did not settle");
  }

  return {
    dir,
    clock,
    config,
    log,
    store,
    feed,
    directory,
    backend,
    embedded,
    kinds,
    service,
    values,
    runner,
    settings,
    outcomes,
    ctx,
    drive,
    async close(removeDir = ownDir) {
      await runner.stop();
      directory.stop();
      await feed.stop();
      await embedded.close();
      await store.close();
      if (removeDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export type SecretsHarness = Awaited<ReturnType<typeof secretsHarness>>;
