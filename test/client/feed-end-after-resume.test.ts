// Server issue found from the client side (src/http/routes/deployments.ts, oneEvents): a client
// that resumes the per-deployment feed with Last-Event-ID = the terminal event's position (its
// connection dropped between the terminal event and `end`, or a browser EventSource reconnecting
// after the server closed) gets no `end` and the connection stays open forever, holding one of the
// caller's SSE slots. Expected: an immediate `end` message, as after a full replay.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";

let server: TestServer;
test.before(async () => {
  server = await startTestServer();
});
test.after(async () => {
  await server?.stop();
});

test("resuming a finished deployment's feed after its terminal event ends at once with `end`", async () => {
  const token = await server.login(...DEMO.admin);
  const res = await server.call("/api/v1/deployments", {
    method: "POST",
    token,
    json: { moduleName: "netfilter", version: "1.0.0", targetEnvironment: "Staging", requesterEmail: "ops@example.com" },
  });
  const { executionId } = (await res.json()) as { executionId: string };
  const decided = await server.call(`/api/v1/approvals/deployments/${executionId}/reject`, { method: "POST", token, json: { reason: "no" } });
  const { position } = (await decided.json()) as { position: number };
  // not a speed check: the bound only turns "never ends" into a failure instead of a hang
  const feed = await server.call(`/api/v1/deployments/${executionId}/events`, { token, headers: { "last-event-id": String(position) }, signal: AbortSignal.timeout(5000) });
  const body = await feed.text().catch((err: unknown) => `(no end: ${String(err)})`);
  assert.match(body, /event: end/);
  assert.not.match(body, /event: Deployment/, "nothing after the terminal event is replayed");
});

test.run();
