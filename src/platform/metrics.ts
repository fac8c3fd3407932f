import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** Deployments run from seconds (dev simulator) to hours (production canary with long waits). */
const DEPLOYMENT_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400];

/**
 * One registry per app instance rather than prom-client's global one, so tests can build several
 * apps in one process without "metric already registered" errors.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const deploymentCounter = (name: string, help: string) =>
    new Counter({ name, help, labelNames: ["environment", "strategy"] as const, registers });
  const approvalCounter = (name: string, help: string) =>
    new Counter({ name, help, labelNames: ["environment"] as const, registers });

  return {
    registry,
    httpRequestDuration: new Histogram({
      name: "http_request_duration_seconds",
      help: "HTTP request duration in seconds, by method, route pattern and status code",
      labelNames: ["method", "route", "status"] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    deploymentsStarted: deploymentCounter("deployments_started_total", "Deployments that started running"),
    deploymentsCompleted: deploymentCounter("deployments_completed_total", "Deployments that succeeded"),
    deploymentsFailed: deploymentCounter("deployments_failed_total", "Deployments that failed"),
    deploymentsRolledBack: deploymentCounter("deployments_rolled_back_total", "Deployments that were rolled back"),
    deploymentDuration: new Histogram({
      name: "deployment_duration_seconds",
      help: "Time from a deployment starting to its terminal status",
      labelNames: ["environment", "strategy", "outcome"] as const,
      buckets: DEPLOYMENT_BUCKETS,
      registers,
    }),
    approvalRequests: approvalCounter("approval_requests_total", "Approvals requested"),
    approvalsGranted: approvalCounter("approvals_granted_total", "Approvals granted"),
    approvalsRejected: approvalCounter("approvals_rejected_total", "Approvals rejected or expired"),
    nodesUpdated: deploymentCounter("nodes_updated_total", "Node module updates applied by deployments"),
    rateLimited: new Counter({
      name: "rate_limited_total",
      help: "Requests refused with 429, by rate-limit class",
      labelNames: ["class"] as const,
      registers,
    }),
    sseConnections: new Gauge({ name: "sse_connections_open", help: "Open SSE connections", registers }),
    sseMessagesSent: new Counter({ name: "sse_messages_sent_total", help: "SSE messages written", registers }),
    sseMessagesDropped: new Counter({
      name: "sse_messages_dropped_total",
      help: "Live SSE messages not written because the client was behind (it reads them from the log once it drains)",
      registers,
    }),
    sseConnectionsDropped: new Counter({
      name: "sse_connections_dropped_total",
      help: "SSE connections closed by the server (slow consumer or limit)",
      registers,
    }),
    eventsUnknownType: new Counter({
      name: "events_unknown_type_total",
      help: "Events of a type this version does not know (written by newer code), skipped on read; an event read twice counts twice",
      labelNames: ["type"] as const,
      registers,
    }),
    eventSubscriptionDrops: new Counter({
      name: "event_subscription_drops_total",
      help: "Event-log subscriptions whose store stream failed or ended, each followed by a resubscription",
      registers,
    }),
    passwordChecks: new Counter({
      name: "auth_password_checks_total",
      help: "Password hashes computed to answer logins (scrypt, ~150 ms and 32 MiB each), unknown usernames included",
      registers,
    }),
    projectionRetries: new Counter({
      name: "projection_retries_total",
      help: "Read-store calls of the projection runner retried after a transient failure, by projection (\"all\": on behalf of every projection)",
      labelNames: ["projection"] as const,
      registers,
    }),
    storeErrors: new Counter({
      name: "store_errors_total",
      help: "Failed read-store calls, by adapter and operation (each failed attempt counts)",
      labelNames: ["adapter", "op"] as const,
      registers,
    }),
    secretRotations: new Counter({
      name: "secret_rotations_total",
      help: "Secret rotations that ended, by kind and outcome (completed, rolled_back; failing: retries used up)",
      labelNames: ["kind", "outcome"] as const,
      registers,
    }),
    artifactsSwept: new Counter({
      name: "artifacts_swept_total",
      help: "Committed module artifacts removed by the artifact sweep because no registered module version names them",
      registers,
    }),
    artifactsSweptBytes: new Counter({
      name: "artifacts_swept_bytes_total",
      help: "Bytes of the committed module artifacts the artifact sweep removed",
      registers,
    }),
    artifactSweepFailures: new Counter({
      name: "artifact_sweep_failures_total",
      help: "Artifact sweep passes that failed (store or event log unavailable); each is retried on the next interval",
      registers,
    }),
    heartbeatsAccepted: new Counter({
      name: "heartbeats_accepted_total",
      help: "Node agent heartbeats accepted",
      registers,
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
