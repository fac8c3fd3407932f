import { metadataFor, type CommandContext } from "../commands/handler.js";
import { DomainError } from "../commands/errors.js";
import { foldSecret, secretDecider, versionOf, type SecretCommand, type SecretState } from "../commands/secret.js";
import type { SecretEvent } from "../events/catalog/secret.js";
import type { RecordedEvent } from "../events/envelope.js";
import type { EventLog } from "../events/event-log.js";
import { streams } from "../events/streams.js";
import { WrongExpectedRevisionError } from "../events/store/port.js";
import type { Clock } from "../platform/clock.js";
import type { Config } from "../platform/config.js";
import type { Coordination, Lease } from "../platform/coordination/port.js";
import type { Logger } from "../platform/logger.js";
import type { SecretBackend } from "../secrets/backend.js";
import type { SecretKindRegistry, SecretVersionContext } from "../secrets/kind.js";
import type { SecretDirectory } from "../secrets/read-model.js";
import { onStepFailure, planRotation, type RotationPlan, type RotationSettings } from "../secrets/rotation-plan.js";

const STEP_RETRY_MS = 1000;
const STOP_WAIT_MS = 10_000;

export interface SecretRotationDeps {
  log: EventLog;
  directory: SecretDirectory;
  backend: SecretBackend;
  kinds: SecretKindRegistry;
  coordination: Coordination;
  clock: Clock;
  logger: Pick<Logger, "info" | "warn" | "error">;
  config: Config;
  settings: RotationSettings;
  /** this instance, as lease owner */
  instanceId: string;
  leaseTtlMs?: number;
  /** how often due secrets are looked at (ms) */
  tickMs?: number;
  /** rotations that ended, for secret_rotations_total{kind,outcome} */
  onOutcome?: (kind: string, outcome: "completed" | "rolled_back" | "failing") => void;
}

interface Tracked {
  wakeAt: number | null;
  busy: boolean;
  again: boolean;
  /** versions this instance has destroyed in the backend since it started */
  shredded: Set<number>;
}

/**
 * Drives every secret's rotation through the pure plan (src/secrets/rotation-plan.ts): steps
 * create -> install -> test -> finish, each an event; timers (settle, retry) are events too, so a
 * restart (or another instance) folds the stream and goes on where it stopped, after SIGKILL as
 * well. A lease per secret keeps two instances from working one secret at once; the stream's
 * expected revision is the final guard (and makes "one rotation at a time" atomic).
 */
export class SecretRotationRunner {
  private readonly tracked = new Map<string, Tracked>();
  private readonly leases = new Map<string, Lease>();
  private readonly inFlight = new Set<Promise<void>>();
  private timer?: NodeJS.Timeout;
  private detach?: () => void;
  private stopped = false;
  private stopping?: Promise<void>;
  private readonly leaseTtlMs: number;

  constructor(private readonly deps: SecretRotationDeps) {
    this.leaseTtlMs = deps.leaseTtlMs ?? 10_000;
  }

  async start(): Promise<void> {
    this.detach = this.deps.directory.onChange((name) => this.track(name, 0));
    for (const s of this.deps.directory.list()) this.track(s.name, 0);
    this.timer = setInterval(() => void this.tick(), this.deps.tickMs ?? 500);
    this.timer.unref();
    await this.tick();
  }

  /** Starts no more steps, lets those in flight finish (bounded), then lets go of the leases. */
  stop(timeoutMs = STOP_WAIT_MS): Promise<void> {
    this.stopping ??= (async () => {
      this.stopped = true;
      clearInterval(this.timer);
      this.detach?.();
      let bound: NodeJS.Timeout | undefined;
      await Promise.race([Promise.allSettled([...this.inFlight]), new Promise((r) => (bound = setTimeout(r, timeoutMs)))]);
      clearTimeout(bound);
      await Promise.all([...this.leases.values()].map((l) => this.deps.coordination.release(l).catch(() => {})));
    })();
    return this.stopping;
  }

  /** Resolves once no step is running (tests on a manual clock wait for it after a tick). */
  async whenIdle(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }

  /** Steps every secret that is due. Tests on a manual clock call it after moving time. */
  async tick(): Promise<void> {
    const now = this.deps.clock.now();
    await Promise.all([...this.tracked.entries()].filter(([, t]) => t.wakeAt !== null && t.wakeAt <= now).map(([name]) => this.stepTracked(name)));
  }

  private track(name: string, wakeAt: number): void {
    const t = this.tracked.get(name);
    if (!t) this.tracked.set(name, { wakeAt, busy: false, again: false, shredded: new Set() });
    else if (t.wakeAt === null || wakeAt < t.wakeAt) t.wakeAt = wakeAt;
    if (!this.stopped) queueMicrotask(() => void this.tick());
  }

  private stepTracked(name: string): Promise<void> {
    const running = this.step(name);
    this.inFlight.add(running);
    return running.finally(() => this.inFlight.delete(running));
  }

  private async step(name: string): Promise<void> {
    const t = this.tracked.get(name);
    if (!t || this.stopped) return;
    if (t.busy) {
      t.again = true;
      return;
    }
    t.busy = true;
    try {
      do {
        t.again = false;
        await this.stepOnce(name, t);
        await new Promise((resolve) => setImmediate(resolve));
      } while (t.again && !this.stopped);
    } catch (err) {
      t.wakeAt = this.deps.clock.now() + STEP_RETRY_MS;
      if (!this.stopped) this.deps.logger.error({ err, secret: name }, "secret rotation step failed; retrying");
    } finally {
      t.busy = false;
    }
  }

  private async stepOnce(name: string, t: Tracked): Promise<void> {
    const { log, coordination, clock } = this.deps;
    const lease = await coordination.acquire(`lease:secret:${name}`, this.deps.instanceId, this.leaseTtlMs);
    if (!lease) {
      // another instance works this secret; look again once its lease could have run out
      this.leases.delete(name);
      t.wakeAt = clock.now() + this.leaseTtlMs / 2;
      return;
    }
    this.leases.set(name, lease);
    const history = await log.readStream(streams.secret(name));
    const last = history.at(-1);
    if (!last) {
      t.wakeAt = null;
      return;
    }
    const state = foldSecret(history as unknown as SecretEvent[]);
    await this.shredDestroyed(name, state, t);
    if (!this.deps.kinds.get(state.kind)) {
      // a kind this instance does not know (an older version beside a newer one): leave it to one that does
      t.wakeAt = null;
      await this.releaseLease(name);
      return;
    }
    const now = clock.now();
    const plan = planRotation(state, now, this.deps.settings);
    if (plan.kind === "idle") {
      t.wakeAt = plan.wakeAt;
      if (!state.activeRotationId) await this.releaseLease(name);
      return;
    }
    t.wakeAt = null;
    const command = plan.kind === "command" ? plan.command : await this.runEffect(name, state, plan, now);
    if (!command) return;
    await this.append(name, state, last, command, t);
  }

  /** Runs a kind-specific step; its outcome (or failure) as the command to append. */
  private async runEffect(name: string, state: SecretState, plan: Extract<RotationPlan, { kind: "effect" }>, now: number): Promise<SecretCommand | null> {
    const { kinds, backend, settings } = this.deps;
    const handler = kinds.get(state.kind);
    const fail = (reason: string, retryable: boolean) => onStepFailure(state, plan.rotationId, plan.step, reason, retryable, this.deps.clock.now(), settings);
    if (!handler) return fail(`no handler for kind ${state.kind} on this instance`, false);
    const base = { name, version: plan.version, policy: state.policy, now };
    try {
      if (plan.step === "create") {
        const made = await handler.generate(base);
        const material = await backend.write(name, plan.version, made.value);
        made.value.fill(0);
        return { type: "CompleteCreateStep", rotationId: plan.rotationId, added: { version: plan.version, material, ...(made.publicInfo ? { publicInfo: made.publicInfo } : {}) }, now };
      }
      const v = versionOf(state, plan.version);
      if (!v || v.destroyed) return fail(`version ${plan.version} is gone`, false);
      const ctx: SecretVersionContext = { ...base, publicInfo: v.publicInfo ?? undefined, readValue: () => backend.read(name, plan.version, v.material) };
      if (plan.step === "install") {
        await handler.install(ctx);
        const settleMs = handler.installSettleMs(state.policy, this.deps.config);
        return { type: "CompleteInstallStep", rotationId: plan.rotationId, settleUntil: settleMs > 0 ? now + settleMs : null, now };
      }
      const result = await handler.test(ctx);
      if (result.ok) return { type: "CompleteTestStep", rotationId: plan.rotationId, now };
      return fail(result.reason, false);
    } catch (err) {
      return fail(err instanceof Error ? err.message : String(err), true);
    }
  }

  private async append(name: string, state: SecretState, last: RecordedEvent, command: SecretCommand, t: Tracked): Promise<void> {
    const { log, clock } = this.deps;
    let events: SecretEvent[];
    try {
      events = secretDecider.decide(command, state);
    } catch (err) {
      // the stream moved on under the plan (a rollback by hand): fold again and plan again
      if (err instanceof DomainError) {
        await this.discard(name, command);
        t.again = true;
        return;
      }
      throw err;
    }
    if (!events.length) return;
    const streamId = streams.secret(name);
    const trigger = last.metadata;
    const ctx: CommandContext = {
      actor: { kind: "system", id: "secret-rotation" },
      correlationId: trigger.correlationId,
      causationId: trigger.eventId,
      traceparent: trigger.traceparent,
      tenantId: trigger.tenantId,
      now: clock.now(),
    };
    try {
      await log.append(streamId, log.envelope(events, (i) => metadataFor(ctx, streamId, i)), last.revision);
    } catch (err) {
      if (!(err instanceof WrongExpectedRevisionError)) {
        await this.discard(name, command);
        throw err;
      }
      await this.discard(name, command);
      t.again = true; // someone else wrote first: fold again and decide again
      return;
    }
    t.again = true;
    this.count(name, state.kind, events);
  }

  /** A created version that was not recorded is destroyed again: nothing points at it. */
  private async discard(name: string, command: SecretCommand): Promise<void> {
    if (command.type !== "CompleteCreateStep") return;
    await this.deps.backend.destroy(name, command.added.version, command.added.material).catch(() => {});
  }

  private count(name: string, kind: string, events: SecretEvent[]): void {
    for (const e of events) {
      if (e.type === "RotationCompleted") this.deps.onOutcome?.(kind, "completed");
      else if (e.type === "RotationRolledBack") this.deps.onOutcome?.(kind, "rolled_back");
      else if (e.type === "SecretRotationFailing") {
        this.deps.onOutcome?.(kind, "failing");
        this.deps.logger.error({ secret: name, rotationId: e.data.rotationId, reason: e.data.reason }, "secret rotation is failing; it needs a person");
      }
    }
  }

  /** What the log says is destroyed is destroyed in the backend too (idempotent; covers a crash between the two). */
  private async shredDestroyed(name: string, state: SecretState, t: Tracked): Promise<void> {
    for (const v of state.versions) {
      if (!v.destroyed || t.shredded.has(v.version)) continue;
      await this.deps.backend.destroy(name, v.version, v.material);
      t.shredded.add(v.version);
    }
  }

  private async releaseLease(name: string): Promise<void> {
    const lease = this.leases.get(name);
    if (!lease) return;
    this.leases.delete(name);
    await this.deps.coordination.release(lease).catch(() => {});
  }
}
