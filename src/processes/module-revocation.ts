// Revocation after the fact: when a module version's verdict turns to a failed revocation check
// (a certificate in its chain was revoked), every in-flight deployment of that version in an
// environment whose policy enforces revocation is stopped with reason "signer revoked": rolled
// back when it has touched nodes, cancelled before that. Follows the live feed; at start it sweeps
// the deployments in flight, so a revocation recorded while this instance was down is acted on.
// Several instances may act on one deployment: the second finds the status moved on (a conflict),
// which is the outcome it wanted.
import { randomUUID } from "node:crypto";
import { isTerminal, touchedNodeIds, type DeploymentCommand } from "../commands/deployment.js";
import { deploymentCommand, loadCurrentDeployment, type DeploymentFolds } from "../commands/deployments.js";
import { DomainError } from "../commands/errors.js";
import type { CommandContext } from "../commands/handler.js";
import type { ModuleEventOf } from "../events/catalog/module.js";
import type { RecordedEvent } from "../events/envelope.js";
import type { EventLog } from "../events/event-log.js";
import type { Attachment, LiveFeed } from "../events/live-feed.js";
import { enforces, policyFor } from "../modules/policy.js";
import type { ModuleService } from "../modules/service.js";
import { policyInForce } from "../modules/trust.js";
import type { Clock } from "../platform/clock.js";
import type { Logger } from "../platform/logger.js";
import type { Metrics } from "../platform/metrics.js";
import type { DeploymentDoc } from "../projections/deployments.js";
import type { ReadModelProgress } from "../projections/progress.js";
import type { ReadStore } from "../projections/store/port.js";

const SIGNER_REVOKED = "signer revoked";
const ACTOR = { kind: "system" as const, id: "module-revocation" };
const IN_FLIGHT = ["Pending", "PendingApproval", "Running", "Paused"];
/** how long a revocation waits for the deployments read model to have applied it */
const READ_WAIT_MS = 5000;

export interface ModuleRevocationDeps {
  log: EventLog;
  readStore: ReadStore;
  feed: Pick<LiveFeed, "attach">;
  projections: Pick<ReadModelProgress, "waitFor">;
  modules: ModuleService;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  dev: boolean;
  /** the runner's folds, so stopping a big deployment reads only what its stream gained since */
  folds?: DeploymentFolds;
}

type Verified = ModuleEventOf<"ModuleVersionVerified">["data"];

export class ModuleRevocation {
  private attachment: Attachment | undefined;
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly deps: ModuleRevocationDeps) {}

  async start(): Promise<void> {
    this.attachment = this.deps.feed.attach((e) => this.onEvent(e));
    this.enqueue(() => this.sweep());
  }

  /** Waits for the work in hand; later events are ignored. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.attachment?.detach();
    await this.queue;
  }

  private onEvent(e: RecordedEvent): void {
    if (e.type === "ModuleVersionVerified") {
      const d = e.data as Verified;
      if (d.verification.checks.revocation === "failed") this.enqueue(() => this.stopDeploymentsOf(d.name, d.version, e.position));
    } else if (e.type === "TrustPolicyChanged") {
      // a policy that now enforces revocation applies to what is already running
      this.enqueue(() => this.sweep());
    }
  }

  private enqueue(work: () => Promise<void>): void {
    if (this.stopped) return;
    this.queue = this.queue.then(work).catch((err: unknown) => this.deps.logger.warn({ err }, "module revocation: could not stop deployments of a revoked module"));
  }

  /** Every in-flight deployment whose module version's current verdict fails revocation. */
  private async sweep(): Promise<void> {
    const docs = await this.inFlight({});
    const seen = new Set<string>();
    for (const d of docs) {
      const key = `${d.moduleName}@${d.version}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const v = (await this.deps.modules.module(d.moduleName)).versions.get(d.version);
      if (v?.verification.checks.revocation === "failed") await this.stopDeploymentsOf(d.moduleName, d.version);
    }
  }

  private inFlight(filter: Record<string, unknown>): Promise<DeploymentDoc[]> {
    return this.deps.readStore.collection<DeploymentDoc>("deployments").find({ ...filter, status: { $in: IN_FLIGHT } }, { projection: { state: 0 } });
  }

  private async stopDeploymentsOf(moduleName: string, version: string, position?: number): Promise<void> {
    if (position !== undefined) await this.deps.projections.waitFor(position, READ_WAIT_MS);
    const docs = await this.inFlight({ moduleName, version });
    if (!docs.length) return;
    const policy = policyInForce(await this.deps.modules.trust(), this.deps.dev).environments;
    for (const doc of docs) {
      const environment = doc.targetEnvironment;
      const entry = environment ? policyFor(policy, environment) : null;
      if (!entry || !enforces(entry.level, "revocation")) {
        this.deps.logger.warn({ executionId: doc.executionId, moduleName, version, environment, level: entry?.level ?? null }, "a deployment of a revoked module goes on: its environment's policy only logs revocation");
        continue;
      }
      await this.stopDeployment(doc.executionId);
    }
  }

  private async stopDeployment(executionId: string): Promise<void> {
    const now = this.deps.clock.now();
    const { state } = await loadCurrentDeployment(this.deps.log, executionId, this.deps.readStore, this.deps.folds);
    if (!state.exists || isTerminal(state.status) || state.status === "RollingBack") return;
    const touched = (state.status === "Running" || state.status === "Paused") && touchedNodeIds(state).length > 0;
    const command: DeploymentCommand = touched
      ? { type: "Rollback", by: ACTOR.id, reason: SIGNER_REVOKED, now }
      : { type: "Abort", by: ACTOR.id, reason: SIGNER_REVOKED, now };
    const ctx: CommandContext = { actor: ACTOR, correlationId: randomUUID(), now };
    try {
      await deploymentCommand(this.deps.log, this.deps.metrics, executionId, command, ctx, this.deps.readStore, this.deps.folds);
      this.deps.logger.info({ executionId, action: command.type }, "deployment of a revoked module stopped");
    } catch (err) {
      // another instance (or the runner) moved it on first: stopped either way
      if (err instanceof DomainError && err.code === "conflict") return;
      throw err;
    }
  }
}
