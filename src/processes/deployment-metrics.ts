import type { DomainEvent } from "../commands/decider.js";
import type { DeploymentState } from "../commands/deployment.js";
import type { Metrics } from "../platform/metrics.js";

/** Counts what was appended, once, by whoever appended it (so two instances never double count). */
export function recordDeploymentMetrics(metrics: Metrics, state: DeploymentState, events: readonly DomainEvent[]): void {
  const environment = state.targetEnvironment ?? "unknown";
  const labels = { environment, strategy: state.strategy ?? "unknown" };
  const duration = () => (state.createdAt ? (Date.parse(state.updatedAt ?? state.createdAt) - Date.parse(state.createdAt)) / 1000 : 0);
  for (const e of events) {
    switch (e.type) {
      case "DeploymentPlanned":
        metrics.deploymentsStarted.inc(labels);
        break;
      case "NodeUpdated":
        metrics.nodesUpdated.inc(labels);
        break;
      case "ApprovalRequested":
        metrics.approvalRequests.inc({ environment });
        break;
      case "ApprovalGranted":
        metrics.approvalsGranted.inc({ environment });
        break;
      case "ApprovalRejected":
      case "ApprovalExpired":
        metrics.approvalsRejected.inc({ environment });
        break;
      case "DeploymentSucceeded":
        metrics.deploymentsCompleted.inc(labels);
        metrics.deploymentDuration.observe({ ...labels, outcome: "succeeded" }, duration());
        break;
      case "DeploymentFailed":
        metrics.deploymentsFailed.inc(labels);
        metrics.deploymentDuration.observe({ ...labels, outcome: "failed" }, duration());
        break;
      case "DeploymentRolledBack":
        metrics.deploymentsRolledBack.inc(labels);
        metrics.deploymentDuration.observe({ ...labels, outcome: "rolled_back" }, duration());
        break;
    }
  }
}
