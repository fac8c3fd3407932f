import { activeRotation, expiresAtOf, labelsOf, secretStatus, type RotationState, type SecretState } from "../commands/secret.js";
import { nextRotationAt, type RotationSettings } from "./rotation-plan.js";

// What the API shows of a secret: metadata, labels, policy, timings. Never a value, and not the
// material either (ciphertext or a Vault path is nobody's business outside the service).

type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function toRotationView(r: RotationState) {
  let from = Date.parse(r.requestedAt);
  const steps = r.steps.map((s) => {
    const at = Date.parse(s.completedAt);
    const view = { step: s.step, completedAt: s.completedAt, durationMs: Math.max(0, at - from) };
    from = at;
    return view;
  });
  return {
    rotationId: r.rotationId,
    status: r.status,
    reason: r.reason,
    scheduled: r.scheduled,
    requestedBy: r.requestedBy,
    requestedAt: r.requestedAt,
    endedAt: r.endedAt,
    version: r.version,
    outcome: r.status === "Completed" ? "completed" : r.status === "RolledBack" ? `rolled back: ${r.outcome ?? ""}` : null,
    steps,
    failures: r.failures,
    waitingUntil: r.timer ? { dueAt: r.timer.dueAt, purpose: r.timer.purpose } : null,
  };
}

export function toSecretSummary(s: SecretState, settings: RotationSettings) {
  const current = s.versions.find((v) => v.version === s.labels.current);
  return {
    name: s.name,
    kind: s.kind,
    status: secretStatus(s),
    currentVersion: s.labels.current,
    lastRotatedAt: s.lastRotatedAt,
    nextRotationAt: iso(nextRotationAt(s, settings)),
    expiresAt: current ? expiresAtOf(s, current) : null,
  };
}

export function toSecretView(s: SecretState, settings: RotationSettings) {
  const active = activeRotation(s);
  return {
    ...toSecretSummary(s, settings),
    createdAt: s.createdAt,
    policy: s.policy,
    labels: s.labels,
    previousValidUntil: s.previousValidUntil,
    versions: s.versions.map((v) => ({
      version: v.version,
      labels: labelsOf(s, v.version),
      createdAt: v.createdAt,
      expiresAt: expiresAtOf(s, v),
      destroyed: v.destroyed,
      destroyedAt: v.destroyedAt,
      rotationId: v.rotationId,
      // plain JSON by construction: it came out of an event's JSON data
      publicInfo: v.publicInfo as Record<string, JsonValue> | null,
    })),
    rotation: active ? toRotationView(active) : null,
    failing: s.failing,
    rotations: s.rotations.length,
  };
}

export type SecretView = ReturnType<typeof toSecretView>;
