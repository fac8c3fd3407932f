import { deploymentDecider, foldDeployment, initialDeploymentState, type DeploymentCommand, type DeploymentState } from "./deployment.js";
import { handleCommand, type CommandContext, type CommandResult } from "./handler.js";
import type { Loaded } from "./aggregate-cache.js";
import { notFound } from "./errors.js";
import type { DeploymentEvent } from "../events/catalog/deployment.js";
import type { EventLog } from "../events/event-log.js";
import type { RecordedEvent } from "../events/envelope.js";
import { loadStream, type StreamFold } from "../events/snapshots.js";
import { streams } from "../events/streams.js";
import type { ReadStore } from "../projections/store/port.js";
import type { Metrics } from "../platform/metrics.js";
import { recordDeploymentMetrics } from "../processes/deployment-metrics.js";

/** Bump the version whenever deploymentDecider.evolve changes meaning: stored snapshots then stop matching. */
export const deploymentFold: StreamFold<DeploymentState> = {
  // 3: waves count their updated nodes, nodeCounts has inFlight and failed
  name: "deployment@3",
  initial: deploymentDecider.initialState,
  evolve: (state, event) => deploymentDecider.evolve(state, event as unknown as DeploymentEvent),
  foldAll: (state, events) => foldDeployment(state, events as unknown as DeploymentEvent[]),
  weight: (state) => state.nodeCounts.planned,
};

/**
 * The deployment's state folded from its stream, optionally only up to an instant. Given a read
 * store, it starts from the newest snapshot there (see events/snapshots.ts) and `events` holds
 * only the events folded after it; `position` is that of the last event the state includes.
 */
export async function loadDeployment(
  log: EventLog,
  executionId: string,
  untilTime?: string,
  readStore?: ReadStore,
): Promise<{ state: DeploymentState; events: RecordedEvent[]; position: number | null }> {
  if (!readStore) {
    const events = await log.readStream(streams.deployment(executionId), untilTime ? { untilTime } : undefined);
    return { state: foldDeployment(initialDeploymentState, events as unknown as DeploymentEvent[]), events, position: events.at(-1)?.position ?? null };
  }
  return loadStream(log, streams.deployment(executionId), deploymentFold, { untilTime, readStore });
}

/**
 * Deployments a process keeps folded as it drives them (the runner: those it drives, and those it
 * finished lately). `folded` gives a copy the caller owns, and the revision it is folded up to.
 */
export interface DeploymentFolds {
  folded(executionId: string): Loaded<DeploymentState> | undefined;
}

/**
 * The deployment as it stands: from where a process keeps it folded (`folds`) and what the stream
 * gained since, else from its newest snapshot in `readStore`, else folded from the start.
 */
export async function loadCurrentDeployment(log: EventLog, executionId: string, readStore?: ReadStore, folds?: DeploymentFolds): Promise<Loaded<DeploymentState>> {
  const streamId = streams.deployment(executionId);
  const start = folds?.folded(executionId);
  if (!start || start.revision === null) {
    const { state, revision, position } = await loadStream(log, streamId, deploymentFold, { readStore });
    return { state, revision: revision < 0 ? null : revision, position };
  }
  const gained = await log.readStream(streamId, { fromRevision: start.revision + 1 });
  const last = gained.at(-1);
  if (!last) return start;
  return { state: foldDeployment(start.state, gained as unknown as DeploymentEvent[], { ownsNodes: true }), revision: last.revision, position: last.position };
}

/**
 * Runs a user command against an existing deployment and counts what it appended. The deployment
 * is folded from where a process already folded it (`folds`), reading only what the stream gained
 * since; else, given a read store, from its newest snapshot (a 10,000-node deployment's stream
 * holds some 20,000 events: a first command on it folded them all, 0.6 s of a blocked event loop).
 */
export async function deploymentCommand(
  log: EventLog,
  metrics: Metrics,
  executionId: string,
  command: DeploymentCommand,
  ctx: CommandContext,
  readStore?: ReadStore,
  folds?: DeploymentFolds,
): Promise<CommandResult<DeploymentState>> {
  const streamId = streams.deployment(executionId);
  if (command.type !== "RequestDeployment" && (await log.readStream(streamId, { maxCount: 1 })).length === 0) throw notFound(`deployment ${executionId}`);
  // asked on every attempt: after a concurrent write, the process's fold may have moved on
  const load = () => loadCurrentDeployment(log, executionId, readStore, folds);
  const result = await handleCommand(log, streamId, deploymentDecider, command, ctx, readStore || folds ? { load } : {});
  if (!result.replayed) recordDeploymentMetrics(metrics, result.state, result.events);
  return result;
}
