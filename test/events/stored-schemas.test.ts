// Event schemas are a storage format: an event stored under rules that were later tightened (or
// that an input check would refuse today) still reads, folds, projects and shows over HTTP.
// Input validation lives at the edge and never re-judges history.
import { randomUUID } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { z } from "zod";
import { defineEvent } from "../../src/events/catalog/define.js";
import { buildCatalog } from "../../src/events/catalog/index.js";
import { deploymentDecider } from "../../src/commands/deployment.js";
import { EventLog } from "../../src/events/event-log.js";
import { streams } from "../../src/events/streams.js";
import { SqliteEventStore } from "../../src/events/store/sqlite.js";
import * as shapes from "../../src/events/catalog/stored-shapes.js";
import type { Capacity } from "../../src/events/catalog/node.js";
import type { MetricName, Thresholds, Verdict } from "../../src/strategies/health-analysis.js";
import type { BlueGreenLayout, Color, Wave } from "../../src/strategies/plan-types.js";
import { defaultSettings, StrategySettingsSchema, type Environment, type StrategyName, type StrategySettings } from "../../src/strategies/settings.js";
import { newEvent } from "../contracts/event-store.js";
import { DEMO, startTestServer } from "../helpers/server.js";

/** Settings today's StrategySettingsSchema refuses: min wait above max wait, a canary going backwards. */
const looseSettings = {
  ...defaultSettings.Staging,
  minWaitMs: 600_000,
  maxWaitMs: 60_000,
  canaryPercentages: [50, 10, 100],
  thresholds: { ...defaultSettings.Staging.thresholds, maxCpu: 250 },
};

function requested(executionId: string, at: string) {
  return {
    executionId,
    moduleName: "legacymod",
    version: "1.0.0",
    targetEnvironment: "Staging",
    strategy: "BlueGreen",
    requesterEmail: "old@example.com",
    requestedBy: "deployer",
    description: "written under older rules",
    settings: looseSettings,
    requiresApproval: true,
    approvalExpiresAt: new Date(Date.parse(at) + 3600_000).toISOString(),
    at,
  };
}

/** Compiles only when A and B are the same type: a stored shape that drifts from the live type fails `npm run typecheck`. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const sameShapes: [
  Same<z.infer<typeof shapes.StrategySettingsShape>, StrategySettings>,
  Same<z.infer<typeof shapes.ThresholdsShape>, Thresholds>,
  Same<z.infer<typeof shapes.VerdictShape>, Verdict>,
  Same<z.infer<typeof shapes.MetricNameShape>, MetricName>,
  Same<z.infer<typeof shapes.WaveShape>, Wave>,
  Same<z.infer<typeof shapes.BlueGreenLayoutShape>, BlueGreenLayout>,
  Same<z.infer<typeof shapes.ColorShape>, Color>,
  Same<z.infer<typeof shapes.EnvironmentShape>, Environment>,
  Same<z.infer<typeof shapes.StrategyNameShape>, StrategyName>,
  Same<z.infer<typeof shapes.CapacityShape>, Capacity>,
] = [true, true, true, true, true, true, true, true, true, true];

test("stored shapes describe the live types and accept every default", () => {
  assert.ok(sameShapes.every(Boolean));
  for (const settings of Object.values(defaultSettings)) assert.equal(shapes.StrategySettingsShape.parse(settings), settings);
});

test("no catalog file borrows a schema from outside the catalog", () => {
  const dir = new URL("../../src/events/catalog/", import.meta.url);
  for (const file of readdirSync(dir)) {
    const source = readFileSync(new URL(file, dir), "utf8");
    const outside = [...source.matchAll(/^import [^;]* from "(\.\.\/[^"]+)";/gm)].map((m) => m[1]);
    assert.equal(outside, [], `${file} imports from outside src/events/catalog`);
  }
});

test("the input schema refuses these settings (so the test means something)", () => {
  assert.not.ok(StrategySettingsSchema.safeParse(looseSettings).success);
});

test("a stored DeploymentRequested with settings today's rules refuse reads, folds, projects and shows over HTTP", async () => {
  const s = await startTestServer();
  try {
    const admin = await s.login(...DEMO.admin);
    const executionId = randomUUID();
    const at = new Date().toISOString();
    // written below the catalog, as an older release would have stored it
    const r = await s.deps.log.store.append(streams.deployment(executionId), [newEvent("DeploymentRequested", requested(executionId, at), { occurredAt: at })], "no_stream");

    const [read] = await s.deps.log.readStream(streams.deployment(executionId));
    assert.equal((read!.data as { settings: unknown }).settings, looseSettings, "read back as stored");

    const res = await s.call(`/api/v1/deployments/${executionId}?minPosition=${r.position}`, { token: admin });
    assert.is(res.status, 200, await res.clone().text());
    const view = (await res.json()) as { moduleName: string; targetEnvironment: string };
    assert.is(view.moduleName, "legacymod");
    assert.is(view.targetEnvironment, "Staging");

    const asOf = await s.call(`/api/v1/deployments/${executionId}?at=${encodeURIComponent(new Date(Date.parse(at) + 1).toISOString())}`, { token: admin });
    assert.is(asOf.status, 200, "time travel folds it");
    const history = await s.call(`/api/v1/deployments/${executionId}/history`, { token: admin });
    assert.is(history.status, 200);

    // commands fold it too: an Admin can act on the old deployment
    const reject = await s.call(`/api/v1/approvals/deployments/${executionId}/reject`, { method: "POST", token: admin, json: { reason: "from the past" } });
    assert.is(reject.status, 200, await reject.clone().text());
    assert.is((await s.call("/health")).status, 200, "projections and feeds still up");
  } finally {
    await s.stop();
  }
});

test("a restart on a log holding such an event starts and serves it", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "korch-stored-"));
  try {
    const executionId = randomUUID();
    const at = new Date().toISOString();
    const store = new SqliteEventStore({ file: join(dataDir, "events.db"), synchronous: "NORMAL" });
    await store.append(streams.deployment(executionId), [newEvent("DeploymentRequested", requested(executionId, at), { occurredAt: at })], "no_stream");
    await store.close();
    const s = await startTestServer({}, { dataDir });
    try {
      const admin = await s.login(...DEMO.admin);
      const res = await s.call(`/api/v1/deployments/${executionId}`, { token: admin });
      assert.is(res.status, 200);
    } finally {
      await s.stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test("new events are still checked at the edge: the decider refuses those settings", () => {
  assert.throws(() =>
    deploymentDecider.decide(
      {
        type: "RequestDeployment",
        executionId: randomUUID(),
        moduleName: "m",
        version: "1.0.0",
        targetEnvironment: "Staging",
        requesterEmail: "a@example.com",
        requestedBy: "deployer",
        settings: looseSettings,
        now: Date.now(),
      },
      deploymentDecider.initialState,
    ),
  );
});

test("an event stored with schemaVersion 1 is upcast to the current version on read; the log keeps version 1", async () => {
  const dir = mkdtempSync(join(tmpdir(), "korch-upcast-"));
  const store = new SqliteEventStore({ file: join(dir, "events.db"), synchronous: "OFF" });
  const v2 = buildCatalog([
    defineEvent("Measured", z.object({ valueMs: z.number(), unit: z.literal("ms") }), {
      version: 2,
      upcasters: [(d) => ({ valueMs: Number(d.seconds) * 1000, unit: "ms" })],
    }),
  ]);
  const log = new EventLog(store, v2);
  await store.append("m", [newEvent("Measured", { seconds: 1.5 }, { schemaVersion: 1 })], "no_stream");
  const [e] = await log.readStream("m");
  assert.equal(e!.data, { valueMs: 1500, unit: "ms" });
  assert.is(e!.metadata.schemaVersion, 2);
  assert.is((await store.readStream("m"))[0]!.metadata.schemaVersion, 1);
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

test.run();
