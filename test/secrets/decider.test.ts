// The secret decider, given events / when command / then events (or the error's code and field),
// and the pure rotation plan over the folded state.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { fold } from "../../src/commands/decider.js";
import { DomainError } from "../../src/commands/errors.js";
import { foldSecret, secretDecider, type SecretCommand } from "../../src/commands/secret.js";
import type { SecretEvent, SecretMaterial } from "../../src/events/catalog/secret.js";
import { DEFAULT_POLICY } from "../../src/secrets/policy.js";
import { backoffMs, nextRotationAt, onStepFailure, planRotation, DEFAULT_ROTATION_SETTINGS } from "../../src/secrets/rotation-plan.js";

const T0 = Date.parse("2026-05-01T10:00:00.000Z");
const at = (ms = T0) => new Date(ms).toISOString();
const material = (n: number): SecretMaterial => ({ backend: "embedded", keyId: `k${n}`, alg: "A256GCM", iv: "iv", ciphertext: `c${n}`, tag: "t" });
const policy = { ...DEFAULT_POLICY, maxVersions: 3, overlapSeconds: 60 };

const created: SecretEvent[] = [
  { type: "SecretCreated", data: { name: "s", kind: "generic", policy, at: at() } },
  { type: "SecretVersionAdded", data: { version: 1, material: material(1), rotationId: null, at: at() } },
  { type: "SecretLabelsMoved", data: { current: 1, pending: null, previous: null, previousValidUntil: null, cause: "created", at: at() } },
];
const requested = (id = "r1"): SecretEvent => ({ type: "RotationRequested", data: { rotationId: id, reason: "why", scheduled: false, requestedBy: "admin", at: at() } });
const createdStep = (v: number, id = "r1"): SecretEvent[] => [
  { type: "SecretVersionAdded", data: { version: v, material: material(v), rotationId: id, at: at() } },
  { type: "SecretLabelsMoved", data: { current: v - 1, pending: v, previous: v > 2 ? v - 2 : null, previousValidUntil: null, cause: "rotation created a pending version", at: at() } },
  { type: "RotationStepCompleted", data: { rotationId: id, step: "create", version: v, at: at() } },
];
const step = (s: "install" | "test", v: number, id = "r1"): SecretEvent => ({ type: "RotationStepCompleted", data: { rotationId: id, step: s, version: v, at: at() } });

function check(given: SecretEvent[], when: SecretCommand, then: SecretEvent[] | { error: string; path?: string }) {
  const state = fold(secretDecider, given);
  if ("error" in then) {
    try {
      secretDecider.decide(when, state);
      assert.unreachable("expected an error");
    } catch (err) {
      assert.instance(err, DomainError);
      assert.is((err as DomainError).code, then.error);
      if (then.path) assert.equal(((err as DomainError).details.errors as { path: string }[]).map((e) => e.path), [then.path]);
    }
    return;
  }
  assert.equal(secretDecider.decide(when, state), then);
}

const t = suite("secret decider");

t("create: version 1 current; a second create is 409 naming json.name", () => {
  check([], { type: "CreateSecret", name: "s", kind: "generic", policy, first: { version: 1, material: material(1) }, now: T0 }, created);
  check(created, { type: "CreateSecret", name: "s", kind: "generic", policy, first: { version: 1, material: material(1) }, now: T0 }, { error: "conflict", path: "json.name" });
});

t("rotate: one at a time (409 naming path.name); check-and-set on expectedVersion", () => {
  check(created, { type: "RequestRotation", rotationId: "r1", reason: "why", scheduled: false, requestedBy: "admin", now: T0 }, [requested()]);
  check([...created, requested()], { type: "RequestRotation", rotationId: "r2", reason: "x", scheduled: false, requestedBy: "admin", now: T0 }, { error: "conflict", path: "path.name" });
  check(created, { type: "RequestRotation", rotationId: "r1", reason: "x", scheduled: false, requestedBy: "admin", expectedVersion: 2, now: T0 }, { error: "conflict", path: "json.expectedVersion" });
});

t("steps in order: install before create and finish before test are refused; finish moves labels with the overlap", () => {
  check([...created, requested()], { type: "CompleteInstallStep", rotationId: "r1", settleUntil: null, now: T0 }, { error: "conflict" });
  const afterTest = [...created, requested(), ...createdStep(2), step("install", 2), step("test", 2)];
  check([...created, requested(), ...createdStep(2), step("install", 2)], { type: "FinishRotation", rotationId: "r1", now: T0 }, { error: "conflict" });
  check(afterTest, { type: "FinishRotation", rotationId: "r1", now: T0 }, [
    { type: "SecretLabelsMoved", data: { current: 2, pending: null, previous: 1, previousValidUntil: at(T0 + 60_000), cause: "rotation finished", at: at() } },
    { type: "RotationStepCompleted", data: { rotationId: "r1", step: "finish", version: 2, at: at() } },
    { type: "RotationCompleted", data: { rotationId: "r1", version: 2, at: at() } },
  ]);
  check([...created, requested(), ...createdStep(2)], { type: "CompleteInstallStep", rotationId: "r1", settleUntil: T0 + 5000, now: T0 }, [
    step("install", 2),
    { type: "RotationTimerSet", data: { rotationId: "r1", dueAt: at(T0 + 5000), purpose: "settle", at: at() } },
  ]);
});

t("a final step failure rolls back: pending dropped and destroyed; the Nth rollback in a row marks RotationFailing", () => {
  const given = [...created, requested(), ...createdStep(2), step("install", 2)];
  check(given, { type: "FailRotationStep", rotationId: "r1", step: "test", reason: "nope", retryAt: null, maxFailedRotations: 3, now: T0 }, [
    { type: "RotationFailed", data: { rotationId: "r1", step: "test", reason: "nope", attempt: 1, willRetry: false, at: at() } },
    { type: "RotationRolledBack", data: { rotationId: "r1", reason: "test failed: nope", at: at() } },
    { type: "SecretLabelsMoved", data: { current: 1, pending: null, previous: null, previousValidUntil: null, cause: "rollback", at: at() } },
    { type: "SecretVersionDestroyed", data: { version: 2, reason: "rotation rolled back: test failed: nope", at: at() } },
  ]);
  const failing = secretDecider.decide({ type: "FailRotationStep", rotationId: "r1", step: "test", reason: "nope", retryAt: null, maxFailedRotations: 1, now: T0 }, fold(secretDecider, given));
  assert.is(failing.at(-1)!.type, "SecretRotationFailing");
  check(given, { type: "FailRotationStep", rotationId: "r1", step: "install", reason: "down", retryAt: T0 + 1000, maxFailedRotations: 3, now: T0 }, [
    { type: "RotationFailed", data: { rotationId: "r1", step: "install", reason: "down", attempt: 1, willRetry: true, at: at() } },
    { type: "RotationTimerSet", data: { rotationId: "r1", dueAt: at(T0 + 1000), purpose: "retry", at: at() } },
  ]);
});

t("rollback: abandons a rotation in progress, else swaps current and previous; nothing to roll back is 409", () => {
  check(created, { type: "Rollback", reason: "r", now: T0 }, { error: "conflict", path: "path.name" });
  const rotated = foldSecret([...created, requested(), ...createdStep(2), step("install", 2), step("test", 2)]);
  const finished = secretDecider.decide({ type: "FinishRotation", rotationId: "r1", now: T0 }, rotated);
  const state = finished.reduce(secretDecider.evolve, rotated);
  assert.equal(secretDecider.decide({ type: "Rollback", reason: "bad key", now: T0 }, state), [
    { type: "SecretLabelsMoved", data: { current: 1, pending: null, previous: 2, previousValidUntil: at(T0 + 60_000), cause: "rollback: bad key", at: at() } },
  ]);
});

t("destroy: never current or pending (409 naming path.version); previous loses its label; unknown is 404", () => {
  const rotated = [...created, requested(), ...createdStep(2)];
  check(created, { type: "DestroyVersion", version: 1, reason: "x", now: T0 }, { error: "conflict", path: "path.version" });
  check(rotated, { type: "DestroyVersion", version: 2, reason: "x", now: T0 }, { error: "conflict", path: "path.version" });
  check(created, { type: "DestroyVersion", version: 7, reason: "x", now: T0 }, { error: "not_found", path: "path.version" });
  const withPrevious: SecretEvent[] = [...created, { type: "SecretVersionAdded", data: { version: 2, material: material(2), rotationId: null, at: at() } }, { type: "SecretLabelsMoved", data: { current: 2, pending: null, previous: 1, previousValidUntil: at(T0 + 1), cause: "x", at: at() } }];
  check(withPrevious, { type: "DestroyVersion", version: 1, reason: "leaked", now: T0 }, [
    { type: "SecretLabelsMoved", data: { current: 2, pending: null, previous: null, previousValidUntil: null, cause: "previous destroyed", at: at() } },
    { type: "SecretVersionDestroyed", data: { version: 1, reason: "leaked", at: at() } },
  ]);
  const destroyed = [...withPrevious, { type: "SecretVersionDestroyed", data: { version: 1, reason: "leaked", at: at() } } as SecretEvent];
  check(destroyed, { type: "RecordValueRead", version: 1, now: T0 }, { error: "conflict", path: "query.version" });
});

t("policy: an unchanged policy writes nothing; an expiry warning is written once per version", () => {
  check(created, { type: "ChangePolicy", policy, now: T0 }, []);
  const warned: SecretEvent = { type: "SecretExpiryWarned", data: { version: 1, expiresAt: at(T0 + 1), at: at() } };
  check(created, { type: "WarnExpiry", version: 1, expiresAt: at(T0 + 1), now: T0 }, [warned]);
  check([...created, warned], { type: "WarnExpiry", version: 1, expiresAt: at(T0 + 1), now: T0 }, []);
});

const p = suite("rotation plan");
const s = DEFAULT_ROTATION_SETTINGS;

p("steps come in order; a timer holds them; finish is a command", () => {
  const base = [...created, requested()];
  assert.equal(planRotation(foldSecret(base), T0, s), { kind: "effect", step: "create", rotationId: "r1", version: 2 });
  const installed = [...base, ...createdStep(2), step("install", 2), { type: "RotationTimerSet", data: { rotationId: "r1", dueAt: at(T0 + 5000), purpose: "settle", at: at() } } as SecretEvent];
  assert.equal(planRotation(foldSecret(installed), T0 + 4999, s), { kind: "idle", wakeAt: T0 + 5000 });
  assert.equal(planRotation(foldSecret(installed), T0 + 5000, s), { kind: "effect", step: "test", rotationId: "r1", version: 2 });
  const tested = [...installed, step("test", 2)];
  assert.equal(planRotation(foldSecret(tested), T0 + 5000, s).kind, "command");
});

p("schedule: lastRotatedAt + interval plus a seeded jitter within bounds; backoff after rollbacks; none while failing", () => {
  const daily = foldSecret([{ ...created[0]!, data: { ...(created[0]!.data as object), policy: { ...policy, intervalDays: 1 } } } as SecretEvent, ...created.slice(1)]);
  const due = nextRotationAt(daily, s)!;
  assert.ok(due >= T0 + 86_400_000 && due <= T0 + 86_400_000 + Math.min(s.jitterMaxMs, 86_400_000 * 0.05));
  assert.is(nextRotationAt(daily, s), due, "deterministic");
  assert.equal(planRotation(daily, due - 1, s), { kind: "idle", wakeAt: due });
  const plan = planRotation(daily, due, s);
  assert.ok(plan.kind === "command" && plan.command.type === "RequestRotation" && plan.command.scheduled);
  const afterFailure = { ...daily, failedRotations: 2, lastFailedAt: at(due + 10) };
  assert.is(nextRotationAt(afterFailure, s), due + 10 + backoffMs(2, s));
  assert.is(nextRotationAt({ ...daily, failing: { reason: "x", at: at() } }, s), null);
});

p("a thrown step is retried up to maxStepAttempts with doubling backoff; a test that says no is final", () => {
  const state = foldSecret([...created, requested()]);
  const first = onStepFailure(state, "r1", "create", "down", true, T0, s);
  assert.ok(first.type === "FailRotationStep" && first.retryAt === T0 + s.retryBaseMs);
  const tired = foldSecret([
    ...created,
    requested(),
    ...Array.from({ length: s.maxStepAttempts - 1 }, (_, i): SecretEvent => ({ type: "RotationFailed", data: { rotationId: "r1", step: "create", reason: "down", attempt: i + 1, willRetry: true, at: at() } })),
  ]);
  const last = onStepFailure(tired, "r1", "create", "down", true, T0, s);
  assert.ok(last.type === "FailRotationStep" && last.retryAt === null);
  const no = onStepFailure(state, "r1", "test", "bad", false, T0, s);
  assert.ok(no.type === "FailRotationStep" && no.retryAt === null);
});

t.run();
p.run();
