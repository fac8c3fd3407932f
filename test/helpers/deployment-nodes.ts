// A deployment over many nodes as plain events (no fleet, no runner): planned in waves, some nodes
// installing, updated or failed. For the tests and measurements of the detail route's node pages.
import type { NodePhase } from "../../src/commands/deployment.js";
import type { DeploymentEvent } from "../../src/events/catalog/deployment.js";
import type { Actor, RecordedEvent } from "../../src/events/envelope.js";
import { deploymentsProjection, type DeploymentDoc } from "../../src/projections/deployments.js";
import type { EventLog } from "../../src/events/event-log.js";
import { streams } from "../../src/events/streams.js";
import { resolveSettings } from "../../src/strategies/settings.js";

export const T0 = Date.parse("2026-03-01T10:00:00.000Z");
const iso = (ms: number) => new Date(ms).toISOString();

/** A deployment's events as its stream records them (positions from 100, all at T0), for projection tests. */
export function recordedDeployment(events: readonly DeploymentEvent[], streamId = "deployment-ex1", actor: Actor = { kind: "system", id: "test" }): RecordedEvent[] {
  return events.map((e, i) => ({
    ...e,
    streamId,
    revision: i,
    position: 100 + i,
    metadata: {
      eventId: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
      occurredAt: iso(T0),
      actor,
      correlationId: "c",
      causationId: "c",
      schemaVersion: 1,
      tenantId: "default",
    },
  }));
}

/** What the projection runner does with a deployment's events: skip those applied, stamp lastPosition, finish before storing. */
export function projectDeployment(events: readonly RecordedEvent[], start: DeploymentDoc | null = null): DeploymentDoc | null {
  let doc = start;
  for (const e of events) {
    if (doc && doc.lastPosition >= e.position) continue;
    const next = deploymentsProjection.apply(doc, e);
    doc = next ? ({ ...next, lastPosition: e.position } as DeploymentDoc) : null;
  }
  return doc && deploymentsProjection.finish!(doc);
}

/** what becomes of a node after the plan: left pending, asked to install, then updated or failed */
export type Outcome = "pending" | "installing" | "updated" | "failed";
export const OUTCOME_PHASE: Record<Outcome, NodePhase> = { pending: "pending", installing: "installing", updated: "updated", failed: "failed" };

export interface BigDeployment {
  executionId: string;
  /** node ids in plan order */
  nodeIds: string[];
  /** each node's wave (index into the plan's waves) */
  waveOf: number[];
  outcomes: Outcome[];
  /** DeploymentRequested, DeploymentPlanned, WaveStarted, then each node's outcome; optionally a terminal DeploymentFailed */
  events: DeploymentEvent[];
}

/**
 * `n` nodes (ids "node-00001"...; `idOf` to name them otherwise) in `waveSizes` waves (the rest
 * in the last), outcome i of node i (pending when absent). `ended`: a DeploymentFailed closes it,
 * so no runner touches it. `deployStage`: a StageStarted Deploy after the plan, so the process
 * step (advance) acts on it.
 */
export function bigDeployment(
  executionId: string,
  outcomes: Outcome[],
  options: { waves?: number; ended?: boolean; idOf?: (i: number) => string; deployStage?: boolean } = {},
): BigDeployment {
  const n = outcomes.length;
  const waveCount = Math.max(1, Math.min(options.waves ?? 4, n || 1));
  const idOf = options.idOf ?? ((i: number) => `node-${String(i + 1).padStart(5, "0")}`);
  const nodeIds = outcomes.map((_, i) => idOf(i));
  // waves of a canary: 10 %, 30 %, ... the last takes the rest
  const waveOf = nodeIds.map((_, i) => Math.min(waveCount - 1, Math.floor((i * waveCount) / Math.max(1, n))));
  const at = (k: number) => iso(T0 + k * 1000);
  const events: DeploymentEvent[] = [
    {
      type: "DeploymentRequested",
      data: {
        executionId,
        moduleName: "netfilter-ext",
        version: "2.0.0",
        targetEnvironment: "Production",
        strategy: "Canary",
        requesterEmail: "dev@example.com",
        requestedBy: "deployer",
        description: null,
        settings: resolveSettings("Production", {}),
        requiresApproval: false,
        approvalExpiresAt: null,
        at: at(0),
      },
    } as DeploymentEvent,
    {
      type: "DeploymentPlanned",
      data: {
        strategy: "Canary",
        waves: Array.from({ length: waveCount }, (_, w) => ({ index: w, label: `wave ${w + 1}`, nodeIds: nodeIds.filter((_, i) => waveOf[i] === w) })),
        nodes: nodeIds.map((nodeId, i) => ({ nodeId, previousVersion: "1.0.0", wave: waveOf[i]! })),
        skippedNodeIds: [],
        deadlineAt: at(3600),
        at: at(1),
      },
    } as DeploymentEvent,
    // the Deploy stage, where the process steps a running deployment (left out unless asked for)
    ...(options.deployStage ? [{ type: "StageStarted", data: { stage: "Deploy", at: at(1), message: "" } } as DeploymentEvent] : []),
    { type: "WaveStarted", data: { wave: 0, nodeIds: nodeIds.filter((_, i) => waveOf[i] === 0), at: at(2) } } as DeploymentEvent,
  ];
  outcomes.forEach((outcome, i) => {
    if (outcome === "pending") return;
    const nodeId = nodeIds[i]!;
    const assignmentId = `${executionId}:${nodeId}:1`;
    events.push({
      type: "NodeUpdateRequested",
      data: { nodeId, assignmentId, moduleName: "netfilter-ext", fromVersion: "1.0.0", toVersion: "2.0.0", kind: "install", timeoutAt: at(3000), at: at(3) },
    } as DeploymentEvent);
    if (outcome === "updated") events.push({ type: "NodeUpdated", data: { nodeId, assignmentId, version: "2.0.0", at: at(4) } } as DeploymentEvent);
    if (outcome === "failed") events.push({ type: "NodeUpdateFailed", data: { nodeId, assignmentId, error: `install of ${nodeId} failed`, at: at(4) } } as DeploymentEvent);
  });
  if (options.ended) {
    const failed = nodeIds.filter((_, i) => outcomes[i] === "failed");
    events.push({ type: "DeploymentFailed", data: { at: at(5), reason: "test: ended", failedNodeIds: failed } } as DeploymentEvent);
  }
  return { executionId, nodeIds, waveOf, outcomes, events };
}

/** Appends the deployment's events to a server's log (one append); returns the last position. */
export async function appendBigDeployment(log: EventLog, d: BigDeployment): Promise<number> {
  const metadata = (i: number) => ({
    actor: { kind: "system" as const, id: "test" },
    correlationId: d.executionId,
    causationId: d.executionId,
    occurredAt: iso(T0 + i),
  });
  const result = await log.append(streams.deployment(d.executionId), log.envelope(d.events, metadata), "no_stream");
  return result.position;
}
