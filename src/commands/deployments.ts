import { deploymentDecider, type DeploymentCommand, type DeploymentState } from "./deployment.js";
import { fold } from "./decider.js";
import { handleCommand, type CommandContext, type CommandResult } from "./handler.js";
import { notFound } from "./errors.js";
import type { DeploymentEvent } from "../events/catalog/deployment.js";
import type { EventLog } from "../events/event-log.js";
import type { RecordedEvent } from "../events/envelope.js";
import { streams } from "../events/streams.js";
import type { Metrics } from "../platform/metrics.js";
import { recordDeploymentMetrics } from "../processes/deployment-metrics.js";

/** The deployment's state folded from its stream, optionally only up to an instant. */
export async function loadDeployment(log: EventLog, executionId: string, untilTime?: string): Promise<{ state: DeploymentState; events: RecordedEvent[] }> {
  const events = await log.readStream(streams.deployment(executionId), untilTime ? { untilTime } : undefined);
  return { state: fold(deploymentDecider, events as unknown as DeploymentEvent[]), events };
}

/** Runs a user command against an existing deployment and counts what it appended. */
export async function deploymentCommand(
  log: EventLog,
  metrics: Metrics,
  executionId: string,
  command: DeploymentCommand,
  ctx: CommandContext,
): Promise<CommandResult<DeploymentState>> {
  if (command.type !== "RequestDeployment" && !(await loadDeployment(log, executionId)).state.exists) throw notFound(`deployment ${executionId}`);
  const result = await handleCommand(log, streams.deployment(executionId), deploymentDecider, command, ctx);
  if (!result.replayed) recordDeploymentMetrics(metrics, result.state, result.events);
  return result;
}
