// The rotation process against a real embedded log and key store, on a clock the test moves:
// steps as events, durable settle and retry timers, rollback on a failing test, bounded retries
// then RotationFailing, scheduled rotations, expiry warnings, maxVersions, resume after a restart.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { SecretEvent } from "../../src/events/catalog/secret.js";
import { streams } from "../../src/events/streams.js";
import { SecretDestroyedError } from "../../src/secrets/backend.js";
import type { SecretKindHandler, SecretTestResult } from "../../src/secrets/kind.js";
import { secretAlerts } from "../../src/secrets/monitoring.js";
import { DEFAULT_POLICY } from "../../src/secrets/policy.js";
import { secretsHarness, type SecretsHarness } from "./harness.js";

const DAY = 86_400_000;

interface Behaviour {
  settleMs?: number;
  install?: () => Promise<void>;
  test?: () => SecretTestResult;
}

/** A kind whose install and test the test controls. */
function probeKind(b: Behaviour): SecretKindHandler {
  return {
    kind: "probe",
    clientValueAllowed: false,
    async generate(ctx) {
      return { value: Buffer.from(`probe-value-${ctx.version}`), publicInfo: { version: ctx.version } };
    },
    install: async () => b.install?.(),
    installSettleMs: () => b.settleMs ?? 0,
    test: async (ctx) => {
      assert.is((await ctx.readValue()).toString(), `probe-value-${ctx.version}`, "the test step reads the pending value");
      return b.test?.() ?? { ok: true };
    },
    defaultPolicy: () => DEFAULT_POLICY,
  };
}

async function types(h: SecretsHarness, name: string): Promise<string[]> {
  return (await h.log.readStream(streams.secret(name))).map((e) => e.type);
}

async function events(h: SecretsHarness, name: string): Promise<SecretEvent[]> {
  return (await h.log.readStream(streams.secret(name))) as unknown as SecretEvent[];
}

const t = suite("secret rotation process");

t("a rotation runs create -> install -> test -> finish, each an event; labels move; the new value reads back", async () => {
  const h = await secretsHarness({ kinds: [probeKind({})] });
  try {
    await h.service.create({ name: "p", kind: "probe" }, h.ctx());
    const { rotationId } = await h.service.rotate("p", { reason: "test" }, h.ctx());
    await h.drive();
    const steps = (await events(h, "p")).filter((e) => e.type === "RotationStepCompleted").map((e) => (e.type === "RotationStepCompleted" ? e.data.step : ""));
    assert.equal(steps, ["create", "install", "test", "finish"]);
    const s = h.directory.get("p")!;
    assert.equal(s.labels, { current: 2, pending: null, previous: 1 });
    assert.is(s.rotations.find((r) => r.rotationId === rotationId)!.status, "Completed");
    assert.is((await h.values.read("p", 2)).toString(), "probe-value-2");
    assert.equal(h.outcomes, ["probe:completed"]);
    assert.ok(s.previousValidUntil && Date.parse(s.previousValidUntil) === h.clock.now() + DEFAULT_POLICY.overlapSeconds * 1000);
  } finally {
    await h.close();
  }
});

t("install's settle time is a durable timer: pending is published, nothing finishes before it is due", async () => {
  const h = await secretsHarness({ kinds: [probeKind({ settleMs: 60_000 })] });
  try {
    await h.service.create({ name: "p", kind: "probe" }, h.ctx());
    await h.service.rotate("p", {}, h.ctx());
    await h.drive();
    let s = h.directory.get("p")!;
    assert.equal(s.labels, { current: 1, pending: 2, previous: null });
    assert.is((await types(h, "p")).at(-1), "RotationTimerSet");
    h.clock.advance(59_000);
    await h.drive();
    assert.equal(h.directory.get("p")!.labels.current, 1, "not before the timer");
    h.clock.advance(1_000);
    await h.drive();
    s = h.directory.get("p")!;
    assert.equal(s.labels, { current: 2, pending: null, previous: 1 });
  } finally {
    await h.close();
  }
});

t("a failing test rolls back: pending removed and its value destroyed, current untouched, the reason recorded", async () => {
  const h = await secretsHarness({ kinds: [probeKind({ test: () => ({ ok: false, reason: "downstream refused the new key" }) })] });
  try {
    await h.service.create({ name: "p", kind: "probe" }, h.ctx());
    const { rotationId } = await h.service.rotate("p", {}, h.ctx());
    await h.drive();
    const s = h.directory.get("p")!;
    assert.equal(s.labels, { current: 1, pending: null, previous: null });
    const r = s.rotations.find((x) => x.rotationId === rotationId)!;
    assert.is(r.status, "RolledBack");
    assert.match(r.outcome ?? "", /downstream refused the new key/);
    assert.ok(s.versions.find((v) => v.version === 2)!.destroyed);
    assert.instance(await h.values.read("p", 2).catch((e: Error) => e), SecretDestroyedError);
    assert.is((await h.values.read("p", 1)).toString(), "probe-value-1");
    assert.is(s.failing, null, "one rollback is not yet failing");
    assert.equal(h.outcomes, ["probe:rolled_back"]);
  } finally {
    await h.close();
  }
});

t("a step that throws is retried with backoff (timers as events) and then succeeds", async () => {
  let calls = 0;
  const h = await secretsHarness({
    kinds: [
      probeKind({
        install: async () => {
          if (++calls < 3) throw new Error(`backend unavailable (${calls})`);
        },
      }),
    ],
  });
  try {
    await h.service.create({ name: "p", kind: "probe" }, h.ctx());
    await h.service.rotate("p", {}, h.ctx());
    await h.drive();
    let failures = (await events(h, "p")).filter((e) => e.type === "RotationFailed");
    assert.is(failures.length, 1);
    h.clock.advance(1000); // first backoff: retryBaseMs
    await h.drive();
    failures = (await events(h, "p")).filter((e) => e.type === "RotationFailed");
    assert.is(failures.length, 2);
    h.clock.advance(1999);
    await h.drive();
    assert.is(calls, 2, "the second backoff doubles");
    h.clock.advance(1);
    await h.drive();
    assert.equal(h.directory.get("p")!.labels, { current: 2, pending: null, previous: 1 });
    assert.equal(
      failures.map((e) => (e.type === "RotationFailed" ? [e.data.attempt, e.data.willRetry] : [])),
      [
        [1, true],
        [2, true],
      ],
    );
  } finally {
    await h.close();
  }
});

t("retries used up roll the rotation back; rollbacks in a row mark the secret RotationFailing (health, metric), a completed rotation clears it", async () => {
  let broken = true;
  const h = await secretsHarness({
    kinds: [
      probeKind({
        install: async () => {
          if (broken) throw new Error("vault sealed");
        },
      }),
    ],
    settings: { maxStepAttempts: 2, maxFailedRotations: 2 },
  });
  try {
    await h.service.create({ name: "p", kind: "probe" }, h.ctx());
    for (let i = 0; i < 2; i++) {
      await h.service.rotate("p", {}, h.ctx());
      await h.drive();
      h.clock.advance(1000);
      await h.drive();
    }
    const s = h.directory.get("p")!;
    assert.is(s.rotations.filter((r) => r.status === "RolledBack").length, 2);
    assert.ok(s.failing);
    assert.match(s.failing!.reason, /vault sealed/);
    assert.equal(s.labels.current, 1);
    assert.equal(secretAlerts(h.directory, h.clock.now()).failing.map((f) => f.name), ["p"]);
    assert.ok(h.outcomes.includes("probe:failing"));
    broken = false;
    await h.service.rotate("p", { reason: "fixed" }, h.ctx());
    await h.drive();
    assert.is(h.directory.get("p")!.failing, null);
    assert.equal(h.directory.get("p")!.labels.current, 4);
  } finally {
    await h.close();
  }
});

t("scheduled rotations: due at lastRotatedAt + interval; an expiry warning at notifyBeforeDays, once", async () => {
  const h = await secretsHarness();
  try {
    await h.service.create({ name: "g", kind: "generic", value: "v1", policy: { intervalDays: 2, notifyBeforeDays: 1, expiresAfterDays: 3 } }, h.ctx());
    await h.drive();
    assert.equal(await types(h, "g"), ["SecretCreated", "SecretVersionAdded", "SecretLabelsMoved"]);
    h.clock.advance(DAY + 1);
    await h.drive();
    assert.not.ok((await types(h, "g")).includes("SecretExpiryWarned"), "3-day expiry, 1 day notice: not yet");
    h.clock.advance(DAY);
    await h.drive();
    const all = await events(h, "g");
    const warned = all.filter((e) => e.type === "SecretExpiryWarned");
    const requested = all.filter((e) => e.type === "RotationRequested");
    assert.is(warned.length, 1);
    assert.is(requested.length, 1);
    assert.ok(requested[0]!.type === "RotationRequested" && requested[0]!.data.scheduled);
    assert.equal(h.directory.get("g")!.labels.current, 2);
    await h.drive();
    assert.is((await events(h, "g")).filter((e) => e.type === "SecretExpiryWarned").length, 1, "once");
  } finally {
    await h.close();
  }
});

t("beyond maxVersions the oldest unlabelled versions are destroyed, in the log and in the key store", async () => {
  const h = await secretsHarness();
  try {
    await h.service.create({ name: "g", kind: "generic", value: "v1", policy: { maxVersions: 2 } }, h.ctx());
    for (let i = 0; i < 3; i++) {
      await h.service.rotate("g", {}, h.ctx());
      await h.drive();
    }
    const s = h.directory.get("g")!;
    assert.equal(s.labels, { current: 4, pending: null, previous: 3 });
    assert.equal(s.versions.filter((v) => v.destroyed).map((v) => v.version), [1, 2]);
    assert.equal(h.embedded.keyIdsOf("g").map((k) => k.version).sort(), [3, 4]);
  } finally {
    await h.close();
  }
});

t("a rotation stopped between steps resumes after a restart and completes once", async () => {
  let installs = 0;
  const kind = () => probeKind({ settleMs: 10_000, install: async () => void installs++ });
  const first = await secretsHarness({ kinds: [kind()] });
  const dir = first.dir;
  await first.service.create({ name: "p", kind: "probe" }, first.ctx());
  await first.service.rotate("p", {}, first.ctx());
  await first.drive();
  assert.equal(first.directory.get("p")!.labels, { current: 1, pending: 2, previous: null });
  const clock = first.clock;
  await first.close(false);

  clock.advance(10_000);
  const second = await secretsHarness({ kinds: [kind()], dir, clock });
  try {
    await second.drive();
    const all = await events(second, "p");
    assert.equal(second.directory.get("p")!.labels, { current: 2, pending: null, previous: 1 });
    assert.is(all.filter((e) => e.type === "RotationCompleted").length, 1);
    assert.is(all.filter((e) => e.type === "SecretVersionAdded").length, 2);
    assert.is(installs, 1, "install ran once: the restart found it done");
  } finally {
    await second.close(true);
  }
});

t.run();
