import { test } from "uvu";
import * as assert from "uvu/assert";
import { telemetryOf } from "../../src/fleet/telemetry.js";
import { ManualClock } from "../../src/platform/clock.js";
import { loadConfig } from "../../src/platform/config.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { goodMetrics, registerAgent } from "../fleet/helpers.js";

// HEARTBEAT_PACING: the share of the heartbeat interval between two stored heartbeats of a node.

const heartbeat = (s: TestServer, nodeId: string, token: string) =>
  s.call(`/api/v1/agents/${nodeId}/heartbeat`, { method: "POST", token, json: { metrics: goodMetrics } });

test("HEARTBEAT_PACING=0 stores every heartbeat, however close together", async () => {
  const clock = new ManualClock(Date.now());
  const s = await startTestServer({ HEARTBEAT_UNHEALTHY_SECONDS: "6", HEARTBEAT_PACING: "0" }, { clock });
  try {
    const a = await registerAgent(s, "qa-unpaced");
    for (let i = 0; i < 5; i++) {
      assert.is((await heartbeat(s, a.nodeId, a.token)).status, 202);
      clock.advance(1); // a sample per instant: one at the same instant replaces the last
    }
    assert.is(await telemetryOf(s.deps.readStore).count(a.nodeId), 5);
  } finally {
    await s.stop();
  }
});

test("HEARTBEAT_PACING=0.25 spaces stored heartbeats a quarter interval apart", async () => {
  const clock = new ManualClock(Date.now());
  const s = await startTestServer({ HEARTBEAT_UNHEALTHY_SECONDS: "6", HEARTBEAT_PACING: "0.25" }, { clock });
  try {
    const a = await registerAgent(s, "qa-quarter");
    const quarterMs = Math.floor(Number(a.body.heartbeatIntervalMs) * 0.25);
    assert.is((await heartbeat(s, a.nodeId, a.token)).status, 202);
    clock.advance(quarterMs - 1);
    const early = await heartbeat(s, a.nodeId, a.token);
    assert.is(early.status, 429);
    await early.text();
    clock.advance(1);
    assert.is((await heartbeat(s, a.nodeId, a.token)).status, 202);
  } finally {
    await s.stop();
  }
});

test("HEARTBEAT_PACING outside 0..1 is a configuration error; the default is half the interval", () => {
  assert.throws(() => loadConfig({ HEARTBEAT_PACING: "2" }));
  assert.throws(() => loadConfig({ HEARTBEAT_PACING: "-0.5" }));
  assert.is(loadConfig({}).heartbeat.pacing, 0.5);
});

test.run();
