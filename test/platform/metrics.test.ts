import { test } from "uvu";
import * as assert from "uvu/assert";
import { createMetrics } from "../../src/platform/metrics.js";

test("exposes every named metric in Prometheus text format", async () => {
  const m = createMetrics();
  m.httpRequestDuration.observe({ method: "GET", route: "/api/v1/clusters", status: "200" }, 0.012);
  m.deploymentsStarted.inc({ environment: "Production", strategy: "canary" });
  m.deploymentsCompleted.inc({ environment: "Production", strategy: "canary" });
  m.deploymentsFailed.inc({ environment: "QA", strategy: "rolling" });
  m.deploymentsRolledBack.inc({ environment: "QA", strategy: "rolling" });
  m.deploymentDuration.observe({ environment: "Production", strategy: "canary", outcome: "Succeeded" }, 42);
  m.approvalRequests.inc({ environment: "Staging" });
  m.approvalsGranted.inc({ environment: "Staging" });
  m.approvalsRejected.inc({ environment: "Production" });
  m.nodesUpdated.inc({ environment: "Production", strategy: "canary" }, 2);
  m.rateLimited.inc({ class: "auth" });
  m.sseConnections.inc();
  m.sseMessagesSent.inc(3);
  m.sseMessagesDropped.inc();
  m.sseConnectionsDropped.inc();
  m.heartbeatsAccepted.inc();

  const text = await m.registry.metrics();
  assert.is(m.registry.contentType.startsWith("text/plain"), true);
  const expected = [
    'http_request_duration_seconds_bucket{le="0.025",method="GET",route="/api/v1/clusters",status="200"} 1',
    'deployments_started_total{environment="Production",strategy="canary"} 1',
    'deployments_completed_total{environment="Production",strategy="canary"} 1',
    'deployments_failed_total{environment="QA",strategy="rolling"} 1',
    'deployments_rolled_back_total{environment="QA",strategy="rolling"} 1',
    'deployment_duration_seconds_count{environment="Production",strategy="canary",outcome="Succeeded"} 1',
    'approval_requests_total{environment="Staging"} 1',
    'approvals_granted_total{environment="Staging"} 1',
    'approvals_rejected_total{environment="Production"} 1',
    'nodes_updated_total{environment="Production",strategy="canary"} 2',
    'rate_limited_total{class="auth"} 1',
    "sse_connections_open 1",
    "sse_messages_sent_total 3",
    "sse_messages_dropped_total 1",
    "sse_connections_dropped_total 1",
    "heartbeats_accepted_total 1",
  ];
  for (const line of expected) assert.ok(text.includes(line), `missing: ${line}`);
  // collectDefaultMetrics is registered on this registry, not the global one.
  assert.match(text, /^process_cpu_user_seconds_total /m);
  assert.match(text, /^nodejs_eventloop_lag_seconds /m);
});

test("each app instance gets its own registry", async () => {
  const a = createMetrics();
  const b = createMetrics();
  a.heartbeatsAccepted.inc(5);
  assert.ok((await a.registry.metrics()).includes("heartbeats_accepted_total 5"));
  assert.ok((await b.registry.metrics()).includes("heartbeats_accepted_total 0"));
});

test.run();
