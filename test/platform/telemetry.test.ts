import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { currentTraceparent, startTelemetry, withSpan } from "../../src/platform/telemetry.js";

// Only the variables a test sets explicitly, so a developer's shell OTEL_* cannot change results.
const cleanEnv = {};

/** A stand-in OTLP receiver collecting the JSON bodies POSTed to /v1/traces. */
async function startCollector() {
  const bodies: unknown[] = [];
  let onBody: () => void = () => {};
  const server = createServer(async (req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (req.method === "POST" && req.url === "/v1/traces") bodies.push(JSON.parse(Buffer.concat(chunks).toString("utf8")));
    res.writeHead(200, { "content-type": "application/json" }).end("{}");
    onBody();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bodies,
    /** Resolves once a body arrived, or after `ms` at most so a broken exporter fails, not hangs. */
    waitForBody: (ms: number) =>
      new Promise<void>((resolve) => {
        if (bodies.length) return resolve();
        const t = setTimeout(resolve, ms);
        onBody = () => (clearTimeout(t), resolve());
      }),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

interface OtlpSpan {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  attributes: { key: string; value: { stringValue?: string; intValue?: number | string } }[];
  status?: { code?: number };
}
function spansOf(bodies: unknown[]): OtlpSpan[] {
  type Body = { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] };
  return (bodies as Body[]).flatMap((b) => b.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)));
}

test("without an endpoint telemetry is a no-op that shuts down cleanly", async () => {
  const telemetry = await startTelemetry({ serviceName: "test", env: cleanEnv });
  const result = await withSpan("noop", { "deployment.id": "d1" }, async () => currentTraceparent());
  assert.is(result, undefined, "no traceparent when not tracing");
  await telemetry.shutdown();
  await telemetry.shutdown();
});

test("a span created by withSpan is exported over OTLP HTTP, joining a given traceparent", async () => {
  const collector = await startCollector();
  const telemetry = await startTelemetry({ serviceName: "orchestrator-test", endpoint: collector.endpoint, env: cleanEnv });
  try {
    const remoteTrace = "0af7651916cd43dd8448eb211c80319c";
    const remoteSpan = "b7ad6b7169203331";
    const seen = await withSpan(
      "runner.step",
      { traceparent: `00-${remoteTrace}-${remoteSpan}-01`, "deployment.id": "dep-1", "wave.index": 2, skipped: undefined },
      async () => currentTraceparent(),
    );
    assert.match(seen ?? "", new RegExp(`^00-${remoteTrace}-[0-9a-f]{16}-01$`));

    const failed = await withSpan("failing.step", {}, async () => Promise.reject(new Error("boom"))).then(
      () => undefined,
      (err: unknown) => err,
    );
    assert.instance(failed, Error, "withSpan rethrows");

    await telemetry.shutdown(); // flushes the batch processor
    await collector.waitForBody(3000);

    const spans = spansOf(collector.bodies);
    const step = spans.find((s) => s.name === "runner.step");
    assert.ok(step, `runner.step exported (got ${spans.map((s) => s.name).join(", ") || "nothing"})`);
    assert.is(step.traceId, remoteTrace);
    assert.is(step.parentSpanId, remoteSpan);
    assert.is(seen?.split("-")[2], step.spanId, "currentTraceparent names the active span");
    const attrs = Object.fromEntries(step.attributes.map((a) => [a.key, a.value.stringValue ?? Number(a.value.intValue)]));
    assert.equal(attrs, { "deployment.id": "dep-1", "wave.index": 2 });

    const failing = spans.find((s) => s.name === "failing.step");
    assert.ok(failing, "failing.step exported");
    assert.is(failing.status?.code, 2, "error status");
    assert.is.not(failing.traceId, remoteTrace, "a span without traceparent starts its own trace");
  } finally {
    await telemetry.shutdown();
    await collector.close();
  }
});

test("after shutdown a new telemetry instance can start again in the same process", async () => {
  const collector = await startCollector();
  const telemetry = await startTelemetry({ serviceName: "again", endpoint: `${collector.endpoint}/`, env: cleanEnv });
  try {
    await withSpan("second.start", {}, async () => {});
    await telemetry.shutdown();
    await collector.waitForBody(3000);
    assert.ok(spansOf(collector.bodies).some((s) => s.name === "second.start"));
  } finally {
    await telemetry.shutdown();
    await collector.close();
  }
});

test.run();
