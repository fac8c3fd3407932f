// The registry's I/O around the pure parts: folds the module and trust streams, reads artifacts,
// asks the verifier, and appends through the generic command handler.
import { createHash } from "node:crypto";
import { loadAggregate } from "../commands/aggregate-cache.js";
import { handleCommand, type CommandContext, type CommandResult } from "../commands/handler.js";
import type { EventLog } from "../events/event-log.js";
import { streamKey, streamPrefixes, streams } from "../events/streams.js";
import type { Clock } from "../platform/clock.js";
import type { Logger } from "../platform/logger.js";
import type { Environment } from "../strategies/settings.js";
import { sha256Of, type ArtifactStore } from "./artifacts/port.js";
import { judge, trustMaterial } from "./judge.js";
import { evaluatePolicy, type PolicyDecision } from "./policy.js";
import { moduleDecider, type ModuleCommand, type ModuleState, type ModuleVersionState, type VerdictTrigger } from "./registry.js";
import { policyInForce, trustDecider, type TrustCommand, type TrustState } from "./trust.js";
import { ModuleFormatError, type Verification } from "./verification/index.js";

export interface ModuleServiceDeps {
  log: EventLog;
  artifacts: ArtifactStore;
  clock: Clock;
  logger: Logger;
  /** development mode: the default policy is audit everywhere */
  dev: boolean;
}

/** What a deployment relied on: recorded in its DeploymentRequested. */
export interface ArtifactBinding {
  digest: string;
  size: number;
  status: Verification["status"];
  checks: Verification["checks"];
  level: string | null;
}

export interface GateResult {
  decision: PolicyDecision;
  binding: ArtifactBinding | null;
}

export interface VerdictChange {
  name: string;
  version: string;
  from: string;
  to: string;
  position: number;
}

/** The verdict on an artifact whose stored bytes no longer hash to its registered digest. */
function storedBytesChanged(digest: string): Verification {
  const reason = `the stored bytes no longer match the registered digest ${digest}`;
  return {
    status: "invalid",
    signer: null,
    chain: [],
    chainFingerprints: [],
    chainTbsFingerprints: [],
    checks: { integrity: "failed", authenticity: "skipped", expiry: "skipped", revocation: "skipped" },
    reason,
    failures: [{ check: "integrity", code: "digest-mismatch", reason }],
  };
}

export class ModuleService {
  /** re-verification passes run one at a time in this process; appends are guarded by expected revision anyway */
  private reverifying: Promise<unknown> = Promise.resolve();

  constructor(readonly deps: ModuleServiceDeps) {}

  get artifacts(): ArtifactStore {
    return this.deps.artifacts;
  }

  async trust(): Promise<TrustState> {
    return (await this.trustAt()).state;
  }

  /** The trust store and the revision of its last event (-1 while empty). */
  async trustAt(): Promise<{ state: TrustState; revision: number }> {
    const { state, revision } = await loadAggregate(this.deps.log, streams.trust(), trustDecider);
    return { state, revision: revision ?? -1 };
  }

  async trustRevision(): Promise<number> {
    const [last] = await this.deps.log.readStream(streams.trust(), { direction: "backwards", maxCount: 1 });
    return last?.revision ?? -1;
  }

  async module(name: string): Promise<ModuleState> {
    return (await loadAggregate(this.deps.log, streams.module(name), moduleDecider)).state;
  }

  trustCommand(command: TrustCommand, ctx: CommandContext): Promise<CommandResult<TrustState>> {
    return handleCommand(this.deps.log, streams.trust(), trustDecider, command, ctx);
  }

  moduleCommand(name: string, command: ModuleCommand, ctx: CommandContext): Promise<CommandResult<ModuleState>> {
    return handleCommand(this.deps.log, streams.module(name), moduleDecider, command, ctx);
  }

  /** The version's verdict against the trust store as it is now; null when its bytes are gone from storage. */
  async verifyNow(v: ModuleVersionState, trust: TrustState): Promise<Verification | null> {
    const sha = sha256Of(v.digest);
    const bytes = sha ? await this.deps.artifacts.readAll(sha) : null;
    if (!bytes) return null;
    // storage is not trusted either: bytes changed on disk are not the ones registered
    if (createHash("sha256").update(bytes).digest("hex") !== sha) return storedBytesChanged(v.digest);
    try {
      return judge(bytes, v.signature, v.certificates, trustMaterial(trust, this.deps.clock.now()));
    } catch (err) {
      // accepted at registration, so the format was fine then; a verifier that now refuses it says so in the log
      if (err instanceof ModuleFormatError) {
        this.deps.logger.warn({ err, module: v.name, version: v.version }, "a registered module no longer parses");
        return null;
      }
      throw err;
    }
  }

  /** Judges the version again and records the verdict when it changed; answers the verdict in force. */
  async reverifyOne(name: string, version: string, trigger: VerdictTrigger, ctx: CommandContext, trust?: TrustState): Promise<{ version: ModuleVersionState; change: VerdictChange | null } | null> {
    const state = await this.module(name);
    const v = state.versions.get(version);
    if (!v) return null;
    const verdict = await this.verifyNow(v, trust ?? (await this.trust()));
    if (!verdict) return { version: v, change: null };
    const r = await this.moduleCommand(name, { type: "RecordVerdict", version, verification: verdict, trigger, now: ctx.now }, ctx);
    const now = r.state.versions.get(version) ?? v;
    const change = r.events.length ? { name, version, from: v.verification.status, to: verdict.status, position: r.position } : null;
    return { version: now, change };
  }

  /**
   * Every registered version judged against the trust store in force now; each changed verdict is
   * recorded (ModuleVersionVerified with `trigger`). Called after every trust change, and at start
   * to catch up with a change whose re-verification a crash interrupted.
   */
  reverifyAll(trigger: VerdictTrigger, ctx: CommandContext): Promise<VerdictChange[]> {
    const run = this.reverifying.then(async () => {
      const trust = await this.trust();
      const registered = await this.deps.log.readAll({ filter: { streamPrefixes: [streamPrefixes.module], eventTypes: ["ModuleVersionRegistered"] } });
      const changes: VerdictChange[] = [];
      for (const e of registered) {
        const { version } = e.data as { version: string };
        const r = await this.reverifyOne(streamKey(e.streamId), version, trigger, { ...ctx, now: this.deps.clock.now() }, trust);
        if (r?.change) changes.push(r.change);
      }
      return changes;
    });
    this.reverifying = run.catch(() => undefined);
    return run;
  }

  /**
   * May `moduleName@version` go to `environment`? The version is judged again against the trust
   * store now (a changed verdict is recorded first), then the environment's policy decides.
   */
  async gate(moduleName: string, version: string, environment: Environment, ctx: CommandContext): Promise<GateResult> {
    const trust = await this.trust();
    const policy = policyInForce(trust, this.deps.dev).environments;
    const judged = await this.reverifyOne(moduleName, version, "reconciled", ctx, trust);
    if (!judged) return { decision: evaluatePolicy(policy, environment, { registered: false, name: moduleName, version }), binding: null };
    const v = judged.version;
    const decision = evaluatePolicy(policy, environment, { registered: true, verification: v.verification });
    return {
      decision,
      binding: { digest: v.digest, size: v.size, status: v.verification.status, checks: v.verification.checks, level: decision.level },
    };
  }
}
