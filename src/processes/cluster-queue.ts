import { isTerminal, type DeploymentStatus } from "../commands/deployment.js";
import type { RecordedEvent } from "../events/envelope.js";

/**
 * What the per-cluster queue needs to know of one deployment: its cluster, its status, when it
 * became ready to start and whether it has said it is queued, as of the event at `position`.
 */
export interface QueueFacts {
  environment: string;
  status: DeploymentStatus;
  /** when it became ready (Pending): its approval, or its request when it needed none; ISO times sort as text */
  readyAt: string;
  /** its stream holds a DeploymentQueued not followed by a plan */
  queued: boolean;
  /** the global position of the last event these facts reflect */
  position: number;
}

const ENDED_KEPT = 10_000;
const ACTIVE: ReadonlySet<DeploymentStatus> = new Set(["Running", "Paused", "RollingBack"]);
const TERMINAL_STATUS: ReadonlyMap<string, DeploymentStatus> = new Map([
  ["DeploymentSucceeded", "Succeeded"],
  ["DeploymentFailed", "Failed"],
  ["DeploymentRolledBack", "RolledBack"],
  ["DeploymentCancelled", "Cancelled"],
  ["DeploymentRejected", "Rejected"],
]);

/**
 * The queue's facts after one event of the deployment's stream: the status part of
 * evolveDeployment (src/commands/deployment.ts), whose status changes depend on the event type
 * alone. Undefined when the event says nothing the queue needs, or when the facts before it are
 * unknown and the event does not start the stream (its cluster is then unknown). Pure.
 */
export function nextQueueFacts(previous: QueueFacts | undefined, event: Pick<RecordedEvent, "type" | "data" | "position">): QueueFacts | undefined {
  const { type, position } = event;
  if (type === "DeploymentRequested") {
    const d = event.data as { targetEnvironment: string; requiresApproval?: boolean; at: string };
    return { environment: d.targetEnvironment, status: d.requiresApproval ? "PendingApproval" : "Pending", readyAt: d.at, queued: false, position };
  }
  if (!previous) return undefined;
  const at = (event.data as { at: string }).at;
  switch (type) {
    case "ApprovalGranted":
      return { ...previous, status: "Pending", readyAt: at, position };
    case "DeploymentQueued":
      return { ...previous, queued: true, position };
    case "DeploymentPlanned":
      return { ...previous, status: "Running", queued: false, position };
    case "DeploymentPaused":
      return { ...previous, status: "Paused", position };
    case "DeploymentResumed":
      return { ...previous, status: "Running", position };
    case "RollbackStarted":
      return { ...previous, status: "RollingBack", position };
  }
  const ended = TERMINAL_STATUS.get(type);
  return ended ? { ...previous, status: ended, position } : undefined;
}

/** Queue order: ready first, then by id, as the read-model scan it replaces sorted them. */
function before(a: { id: string; readyAt: string }, b: { id: string; readyAt: string }): boolean {
  return a.readyAt !== b.readyAt ? a.readyAt < b.readyAt : a.id < b.id;
}

/** Where `entry` is or would go in `line` (kept in queue order): the first place not before it. */
function placeOf(line: readonly { id: string; readyAt: string }[], entry: { id: string; readyAt: string }): number {
  let lo = 0;
  let hi = line.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(line[mid]!, entry)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

interface Cluster {
  active: Set<string>;
  /** the ready (Pending) deployments, in queue order */
  waiting: { id: string; readyAt: string }[];
  /** the head last woken while the cluster was free: woken once per change */
  woken: string | undefined;
}

/**
 * One started deployment per cluster, and the ready ones in the order they became ready, kept in
 * memory from the deployments' own events (the live feed, the runner's folds, the read model at
 * start) instead of re-reading the read model: a queued deployment needs no step until it reaches
 * the head of its queue with the cluster free, and then `wake` is called for it, once each time.
 * Ready means Pending: requested (no approval needed) or approved, so an approval given late does
 * not put its deployment ahead of one approved earlier that has waited since; one waiting for its
 * approval is not in line.
 *
 * Facts older than what is held (a lower position) are ignored, so the sources may overlap and
 * arrive in any order. A deployment whose cluster is not known yet (an event of a stream started
 * before the feed and not yet listed or folded) is left out until one of them names it.
 */
export class ClusterQueue {
  private readonly facts = new Map<string, QueueFacts>();
  private readonly clusters = new Map<string, Cluster>();
  /** the position at which recently ended deployments ended: an older source cannot bring them back; bounded, oldest out first */
  private readonly ended = new Map<string, number>();

  constructor(private readonly wake: (executionId: string) => void) {}

  /** A deployment event, in the order of the log. */
  apply(executionId: string, event: Pick<RecordedEvent, "type" | "data" | "position">): void {
    const held = this.facts.get(executionId);
    if ((held?.position ?? this.ended.get(executionId) ?? -1) >= event.position) return;
    const next = nextQueueFacts(held, event);
    if (next) this.set(executionId, next);
  }

  /** Facts read elsewhere (a fold of the stream, a read-model document): kept when newer than what is held. */
  set(executionId: string, next: QueueFacts): void {
    const held = this.facts.get(executionId);
    if ((held?.position ?? this.ended.get(executionId) ?? -1) >= next.position) return;
    if (held && held.environment === next.environment && held.status === next.status && held.readyAt === next.readyAt) {
      // its place in line is the same (most facts: a step of a queued deployment)
      this.facts.set(executionId, next);
      return;
    }
    if (held) this.leave(executionId, held);
    if (isTerminal(next.status)) {
      this.facts.delete(executionId);
      this.ended.delete(executionId);
      this.ended.set(executionId, next.position);
      if (this.ended.size > ENDED_KEPT) this.ended.delete(this.ended.keys().next().value!);
    } else {
      this.ended.delete(executionId);
      this.facts.set(executionId, next);
      this.join(executionId, next);
    }
    this.wakeHead(next.environment);
    if (held && held.environment !== next.environment) this.wakeHead(held.environment);
  }

  /** Whether this deployment is first in line and its cluster has no started deployment. */
  mayGo(environment: string, executionId: string): boolean {
    const c = this.clusters.get(environment);
    return !c || (c.active.size === 0 && (c.waiting.length === 0 || c.waiting[0]!.id === executionId));
  }

  /**
   * Whether the deployment is ready, has said it is queued, and is not the one to go: nothing
   * needs doing for it until `wake` names it.
   */
  waitingBehind(executionId: string): boolean {
    const f = this.facts.get(executionId);
    return f !== undefined && f.status === "Pending" && f.queued && !this.mayGo(f.environment, executionId);
  }

  /**
   * Wakes the cluster's head again if the cluster is free: the slot lease it may have found held
   * a moment ago (by the deployment that just ended) was released.
   */
  slotReleased(environment: string): void {
    const c = this.clusters.get(environment);
    if (c) c.woken = undefined;
    this.wakeHead(environment);
  }

  /** The ready deployments of a cluster in queue order, and whether it has a started one (tests, diagnostics). */
  cluster(environment: string): { busy: boolean; waiting: string[] } {
    const c = this.clusters.get(environment);
    return { busy: (c?.active.size ?? 0) > 0, waiting: c?.waiting.map((w) => w.id) ?? [] };
  }

  private clusterOf(environment: string): Cluster {
    let c = this.clusters.get(environment);
    if (!c) this.clusters.set(environment, (c = { active: new Set(), waiting: [], woken: undefined }));
    return c;
  }

  private join(id: string, f: QueueFacts): void {
    const c = this.clusterOf(f.environment);
    if (ACTIVE.has(f.status)) c.active.add(id);
    else if (f.status === "Pending") {
      const entry = { id, readyAt: f.readyAt };
      c.waiting.splice(placeOf(c.waiting, entry), 0, entry);
    }
  }

  private leave(id: string, f: QueueFacts): void {
    const c = this.clusters.get(f.environment);
    if (!c) return;
    c.active.delete(id);
    if (f.status === "Pending") {
      const i = placeOf(c.waiting, { id, readyAt: f.readyAt });
      if (c.waiting[i]?.id === id) c.waiting.splice(i, 1);
    }
    if (c.active.size === 0 && c.waiting.length === 0) this.clusters.delete(f.environment);
  }

  private wakeHead(environment: string): void {
    const c = this.clusters.get(environment);
    if (!c) return;
    if (c.active.size > 0) {
      // once it frees again, its head is woken again
      c.woken = undefined;
      return;
    }
    const head = c.waiting[0]?.id;
    if (head === undefined || head === c.woken) return;
    c.woken = head;
    this.wake(head);
  }
}

/** The queue's facts from a folded deployment (the runner's own fold, a read-model document's state). */
export function queueFactsOf(
  state: { targetEnvironment: string | null; status: DeploymentStatus; createdAt: string | null; approval: { decidedAt: string | null }; queued?: boolean },
  position: number,
): QueueFacts | undefined {
  if (!state.targetEnvironment) return undefined;
  return {
    environment: state.targetEnvironment,
    status: state.status,
    readyAt: state.approval.decidedAt ?? state.createdAt ?? "",
    queued: state.queued ?? false,
    position,
  };
}
