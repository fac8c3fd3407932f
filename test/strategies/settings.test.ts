import { test } from "uvu";
import * as assert from "uvu/assert";
import { DomainError } from "../../src/commands/errors.js";
import { defaultSettings, resolveSettings } from "../../src/strategies/settings.js";

test("per-environment defaults", () => {
  assert.is(resolveSettings("Development", undefined).strategy, "Direct");
  const qa = resolveSettings("QA", {});
  assert.equal([qa.strategy, qa.batchSize, qa.maxUnavailable], ["Rolling", 2, 1]);
  assert.is(resolveSettings("Staging", {}).strategy, "BlueGreen");
  const prod = resolveSettings("Production", {});
  assert.equal([prod.strategy, prod.canaryPercentages], ["Canary", [10, 30, 50, 100]]);
  assert.equal([prod.checkIntervalMs, prod.requiredStableChecks, prod.minWaitMs, prod.maxWaitMs], [30_000, 3, 60_000, 900_000]);
  assert.equal(
    (["Development", "QA", "Staging", "Production"] as const).map((e) => defaultSettings[e].approval.required),
    [false, false, true, true],
  );
});

test("overrides deep-merge: '*' first, then the environment; base values below both", () => {
  const s = resolveSettings(
    "Production",
    { "*": { checkIntervalMs: 500, minWaitMs: 0, thresholds: { minSamplesPerNode: 1 } }, Production: { maxWaitMs: 5000, thresholds: { maxErrorRate: 0.1 } } },
    { approval: { timeoutMs: 60_000, allowSelfApproval: true } },
  );
  assert.equal([s.checkIntervalMs, s.minWaitMs, s.maxWaitMs], [500, 0, 5000]);
  assert.equal([s.thresholds.minSamplesPerNode, s.thresholds.maxErrorRate, s.thresholds.maxCpu], [1, 0.1, 85]);
  assert.equal(s.approval, { required: true, timeoutMs: 60_000, allowSelfApproval: true });
});

test("bad overrides are refused with the offending path", () => {
  const bad = (o: unknown) => {
    try {
      resolveSettings("QA", o);
      return null;
    } catch (err) {
      assert.instance(err, DomainError);
      return JSON.stringify((err as DomainError).details);
    }
  };
  assert.match(bad({ QA: { batchSize: 0 } }) ?? "", /QA.batchSize/);
  assert.match(bad({ QA: { canaryPercentages: [50, 30, 100] } }) ?? "", /canaryPercentages/);
  assert.match(bad({ QA: { canaryPercentages: [10, 50] } }) ?? "", /end at 100/);
  assert.match(bad({ QA: { bogus: 1 } }) ?? "", /bogus/);
  assert.match(bad({ Mars: {} }) ?? "", /Mars/);
  assert.match(bad({ QA: { minWaitMs: 10_000, maxWaitMs: 5000 } }) ?? "", /minWaitMs/);
  assert.match(bad({ QA: { maxInFlight: 0 } }) ?? "", /QA.maxInFlight/);
  assert.match(bad({ QA: { maxInFlight: 2.5 } }) ?? "", /QA.maxInFlight/);
  // a rolling update could never take maxUnavailable nodes out at once
  assert.match(bad({ QA: { maxUnavailable: 5, maxInFlight: 3 } }) ?? "", /maxInFlight must be at least maxUnavailable/);
  assert.is(bad({ Production: { maxUnavailable: 5, maxInFlight: 3 } }), null, "only Rolling takes nodes out by maxUnavailable");
  assert.is(bad({}), null);
});

test("maxInFlight: 100 by default in every environment, overridable", () => {
  for (const env of ["Development", "QA", "Staging", "Production"] as const) assert.is(resolveSettings(env, {}).maxInFlight, 100);
  assert.is(resolveSettings("Production", { Production: { maxInFlight: 7 } }).maxInFlight, 7);
});

test.run();
