import { createHash } from "node:crypto";
import { activeRotation, expiresAtOf, versionOf, type SecretCommand, type SecretState } from "../commands/secret.js";
import type { RotationStep } from "../events/catalog/secret.js";
import { deterministicUuid } from "../platform/ids.js";

// The rotation process, one step at a time, as a pure function of the folded secret stream and the
// time (like advance() for deployments): what comes next is either a command to append or a
// kind-specific effect (generate + store, install, test) whose outcome the runner turns into a
// command. The runner may ask as often as it likes: once the answer's events are in the stream,
// the same question answers the next thing.

const DAY_MS = 86_400_000;

export interface RotationSettings {
  /** a step that throws is tried this many times (with backoff) before its rotation rolls back */
  maxStepAttempts: number;
  /** first retry delay; doubles per attempt up to retryMaxMs */
  retryBaseMs: number;
  retryMaxMs: number;
  /** rotations rolled back in a row before the secret is marked RotationFailing (and no longer scheduled) */
  maxFailedRotations: number;
  /** scheduled rotations are spread over up to this much after their due time (seeded by name and time) */
  jitterMaxMs: number;
}

export const DEFAULT_ROTATION_SETTINGS: RotationSettings = {
  maxStepAttempts: 5,
  retryBaseMs: 30_000,
  retryMaxMs: 30 * 60_000,
  maxFailedRotations: 3,
  jitterMaxMs: 30 * 60_000,
};

export type RotationPlan =
  /** nothing to do before wakeAt (epoch ms; null: until the stream changes) */
  | { kind: "idle"; wakeAt: number | null }
  | { kind: "command"; command: SecretCommand }
  | { kind: "effect"; step: Exclude<RotationStep, "finish">; rotationId: string; version: number };

export function backoffMs(attempt: number, s: Pick<RotationSettings, "retryBaseMs" | "retryMaxMs">): number {
  return Math.min(s.retryMaxMs, s.retryBaseMs * 2 ** Math.max(0, attempt - 1));
}

/** A fraction in [0, 1) fixed by the seed: every instance computes the same jitter. */
function seededFraction(seed: string): number {
  return createHash("sha256").update(seed).digest().readUInt32BE(0) / 2 ** 32;
}

/**
 * When the next scheduled rotation is due (epoch ms), or null: none scheduled (no interval, a
 * rotation running, or RotationFailing, which waits for a person). After rolled-back rotations
 * it backs off from the last failure.
 */
export function nextRotationAt(state: SecretState, s: RotationSettings): number | null {
  if (!state.exists || state.policy.intervalDays === null || state.failing || state.activeRotationId) return null;
  const since = state.lastRotatedAt ?? state.createdAt;
  if (!since) return null;
  const intervalMs = state.policy.intervalDays * DAY_MS;
  const jitter = Math.floor(seededFraction(`${state.name}|${since}`) * Math.min(s.jitterMaxMs, intervalMs * 0.05));
  const due = Date.parse(since) + intervalMs + jitter;
  if (state.failedRotations > 0 && state.lastFailedAt) return Math.max(due, Date.parse(state.lastFailedAt) + backoffMs(state.failedRotations, s));
  return due;
}

/** When the current version's expiry is to be warned about (epoch ms), if it still is to be. */
function expiryWarningAt(state: SecretState): { at: number; version: number; expiresAt: string } | null {
  const { notifyBeforeDays } = state.policy;
  if (notifyBeforeDays === null || state.labels.current === null || state.expiryWarned.includes(state.labels.current)) return null;
  const v = versionOf(state, state.labels.current);
  const expiresAt = v ? expiresAtOf(state, v) : null;
  if (!v || !expiresAt) return null;
  return { at: Date.parse(expiresAt) - notifyBeforeDays * DAY_MS, version: v.version, expiresAt };
}

export function planRotation(state: SecretState, now: number, s: RotationSettings): RotationPlan {
  if (!state.exists) return { kind: "idle", wakeAt: null };
  const r = activeRotation(state);
  if (r) {
    if (r.timer && Date.parse(r.timer.dueAt) > now) return { kind: "idle", wakeAt: Date.parse(r.timer.dueAt) };
    const done = new Set(r.steps.map((x) => x.step));
    if (!done.has("create")) return { kind: "effect", step: "create", rotationId: r.rotationId, version: (state.versions.at(-1)?.version ?? 0) + 1 };
    const version = r.version!;
    if (!done.has("install")) return { kind: "effect", step: "install", rotationId: r.rotationId, version };
    if (!done.has("test")) return { kind: "effect", step: "test", rotationId: r.rotationId, version };
    return { kind: "command", command: { type: "FinishRotation", rotationId: r.rotationId, now } };
  }
  const warning = expiryWarningAt(state);
  if (warning && warning.at <= now) return { kind: "command", command: { type: "WarnExpiry", version: warning.version, expiresAt: warning.expiresAt, now } };
  const due = nextRotationAt(state, s);
  if (due !== null && due <= now) {
    const since = state.lastRotatedAt ?? state.createdAt;
    return {
      kind: "command",
      command: {
        type: "RequestRotation",
        // the same on every instance that decides it: a lost race appends nothing twice
        rotationId: deterministicUuid(`scheduled-rotation:${state.name}:${since}:${state.failedRotations}`),
        reason: state.failedRotations > 0 ? `scheduled (retry ${state.failedRotations} after rollback)` : `scheduled: every ${state.policy.intervalDays} day(s)`,
        scheduled: true,
        requestedBy: "system",
        now,
      },
    };
  }
  const wakes = [warning?.at, due ?? undefined].filter((x): x is number => x !== undefined);
  return { kind: "idle", wakeAt: wakes.length ? Math.min(...wakes) : null };
}

/**
 * What a step's failure becomes: thrown errors (the backend is down, a timeout) are retried with
 * backoff up to maxStepAttempts; a test that answers "not ok", or a step out of attempts, rolls
 * the rotation back (and may mark the secret RotationFailing).
 */
export function onStepFailure(
  state: SecretState,
  rotationId: string,
  step: RotationStep,
  reason: string,
  retryable: boolean,
  now: number,
  s: RotationSettings,
): SecretCommand {
  const r = activeRotation(state);
  const attempt = (r?.failures.filter((f) => f.step === step).length ?? 0) + 1;
  const retryAt = retryable && attempt < s.maxStepAttempts ? now + backoffMs(attempt, s) : null;
  return { type: "FailRotationStep", rotationId, step, reason, retryAt, maxFailedRotations: s.maxFailedRotations, now };
}

