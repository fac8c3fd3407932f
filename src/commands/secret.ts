import type { RotationStep, SecretEvent, SecretMaterial, SecretPolicyStored } from "../events/catalog/secret.js";
import type { Decider } from "./decider.js";
import { conflict, DomainError, notFound } from "./errors.js";

// The secret aggregate (`secret-<name>`). Labels follow AWS Secrets Manager's staging labels
// (current / pending / previous); a rotation is a process over this same stream (steps, timers,
// failures), so its whole state is visible here, and one rotation at a time is an invariant of
// the fold: the expected revision makes it atomic across instances.

export type SecretStatus = "Active" | "Rotating" | "RotationFailing";

export interface SecretVersionState {
  version: number;
  createdAt: string;
  material: SecretMaterial;
  publicInfo: Record<string, unknown> | null;
  rotationId: string | null;
  destroyed: boolean;
  destroyedAt: string | null;
}

export interface RotationStepState {
  step: RotationStep;
  completedAt: string;
}

export interface RotationFailureState {
  step: RotationStep;
  reason: string;
  attempt: number;
  willRetry: boolean;
  at: string;
}

export interface RotationState {
  rotationId: string;
  reason: string;
  scheduled: boolean;
  requestedBy: string;
  requestedAt: string;
  status: "InProgress" | "Completed" | "RolledBack";
  /** the version this rotation made (pending until finish); null before its create step */
  version: number | null;
  steps: RotationStepState[];
  failures: RotationFailureState[];
  /** the durable timer the process waits for, if any */
  timer: { dueAt: string; purpose: "settle" | "retry" } | null;
  endedAt: string | null;
  /** why it rolled back */
  outcome: string | null;
}

export interface SecretLabels {
  current: number | null;
  pending: number | null;
  previous: number | null;
}

export interface SecretState {
  exists: boolean;
  name: string;
  kind: string;
  policy: SecretPolicyStored;
  createdAt: string;
  versions: SecretVersionState[];
  labels: SecretLabels;
  previousValidUntil: string | null;
  /** every rotation of this secret, oldest first */
  rotations: RotationState[];
  /** the rotation in progress, if any (its id) */
  activeRotationId: string | null;
  /** when the current version became current (creation or the last finished rotation) */
  lastRotatedAt: string | null;
  /** rotations rolled back since the last one that completed */
  failedRotations: number;
  lastFailedAt: string | null;
  /** set when retries were used up; cleared by the next completed rotation */
  failing: { reason: string; at: string } | null;
  /** versions whose expiry was warned about */
  expiryWarned: number[];
  /** the master key the data keys are wrapped by, as of the last re-wrap */
  kekId: string | null;
}

export const initialSecretState: SecretState = {
  exists: false,
  name: "",
  kind: "",
  policy: { intervalDays: null, overlapSeconds: 0, notifyBeforeDays: null, expiresAfterDays: null, maxVersions: 10 },
  createdAt: "",
  versions: [],
  labels: { current: null, pending: null, previous: null },
  previousValidUntil: null,
  rotations: [],
  activeRotationId: null,
  lastRotatedAt: null,
  failedRotations: 0,
  lastFailedAt: null,
  failing: null,
  expiryWarned: [],
  kekId: null,
};

export const isoAt = (ms: number) => new Date(ms).toISOString();

function mapRotation(state: SecretState, rotationId: string, f: (r: RotationState) => RotationState): RotationState[] {
  return state.rotations.map((r) => (r.rotationId === rotationId ? f(r) : r));
}

export function evolveSecret(state: SecretState, event: SecretEvent): SecretState {
  switch (event.type) {
    case "SecretCreated":
      return { ...state, exists: true, name: event.data.name, kind: event.data.kind, policy: event.data.policy, createdAt: event.data.at };
    case "SecretVersionAdded": {
      const v: SecretVersionState = {
        version: event.data.version,
        createdAt: event.data.at,
        material: event.data.material,
        publicInfo: event.data.publicInfo ?? null,
        rotationId: event.data.rotationId,
        destroyed: false,
        destroyedAt: null,
      };
      return { ...state, versions: [...state.versions.filter((x) => x.version !== v.version), v].sort((a, b) => a.version - b.version) };
    }
    case "SecretLabelsMoved": {
      const { current, pending, previous, previousValidUntil, cause, at } = event.data;
      const becameCurrent = current !== null && current !== state.labels.current;
      return {
        ...state,
        labels: { current, pending, previous },
        previousValidUntil,
        lastRotatedAt: becameCurrent || cause === "created" ? at : state.lastRotatedAt,
      };
    }
    case "SecretVersionDestroyed":
      return {
        ...state,
        versions: state.versions.map((v) => (v.version === event.data.version ? { ...v, destroyed: true, destroyedAt: event.data.at } : v)),
      };
    case "SecretPolicyChanged":
      return { ...state, policy: event.data.policy };
    case "RotationRequested": {
      const r: RotationState = {
        rotationId: event.data.rotationId,
        reason: event.data.reason,
        scheduled: event.data.scheduled,
        requestedBy: event.data.requestedBy,
        requestedAt: event.data.at,
        status: "InProgress",
        version: null,
        steps: [],
        failures: [],
        timer: null,
        endedAt: null,
        outcome: null,
      };
      return { ...state, rotations: [...state.rotations, r], activeRotationId: r.rotationId };
    }
    case "RotationStepCompleted": {
      const { rotationId, step, version, at } = event.data;
      return {
        ...state,
        rotations: mapRotation(state, rotationId, (r) => ({ ...r, version, steps: [...r.steps, { step, completedAt: at }], timer: null })),
      };
    }
    case "RotationTimerSet": {
      const { rotationId, dueAt, purpose } = event.data;
      return { ...state, rotations: mapRotation(state, rotationId, (r) => ({ ...r, timer: { dueAt, purpose } })) };
    }
    case "RotationFailed": {
      const { rotationId, step, reason, attempt, willRetry, at } = event.data;
      return {
        ...state,
        rotations: mapRotation(state, rotationId, (r) => ({ ...r, failures: [...r.failures, { step, reason, attempt, willRetry, at }], timer: null })),
      };
    }
    case "RotationRolledBack": {
      const { rotationId, reason, at } = event.data;
      return {
        ...state,
        rotations: mapRotation(state, rotationId, (r) => ({ ...r, status: "RolledBack", endedAt: at, outcome: reason, timer: null })),
        activeRotationId: state.activeRotationId === rotationId ? null : state.activeRotationId,
        failedRotations: state.failedRotations + 1,
        lastFailedAt: at,
      };
    }
    case "RotationCompleted": {
      const { rotationId, at } = event.data;
      return {
        ...state,
        rotations: mapRotation(state, rotationId, (r) => ({ ...r, status: "Completed", endedAt: at, timer: null })),
        activeRotationId: state.activeRotationId === rotationId ? null : state.activeRotationId,
        failedRotations: 0,
        failing: null,
      };
    }
    case "SecretRotationFailing":
      return { ...state, failing: { reason: event.data.reason, at: event.data.at } };
    case "SecretValueRead":
      return state; // audit only
    case "SecretExpiryWarned":
      return { ...state, expiryWarned: state.expiryWarned.includes(event.data.version) ? state.expiryWarned : [...state.expiryWarned, event.data.version] };
    case "SecretMasterKeyRewrapped":
      return { ...state, kekId: event.data.kekId };
  }
}

// ---- queries over the state (pure; used by the process, the projection and the routes) ----

export function secretStatus(state: SecretState): SecretStatus {
  if (state.failing) return "RotationFailing";
  return state.activeRotationId ? "Rotating" : "Active";
}

export function activeRotation(state: SecretState): RotationState | null {
  if (!state.activeRotationId) return null;
  return state.rotations.find((r) => r.rotationId === state.activeRotationId) ?? null;
}

export function versionOf(state: SecretState, version: number): SecretVersionState | undefined {
  return state.versions.find((v) => v.version === version);
}

export function nextVersionNumber(state: SecretState): number {
  return (state.versions.at(-1)?.version ?? 0) + 1;
}

/** Labels of one version, in the order current, pending, previous. */
export function labelsOf(state: SecretState, version: number): ("current" | "pending" | "previous")[] {
  const out: ("current" | "pending" | "previous")[] = [];
  if (state.labels.current === version) out.push("current");
  if (state.labels.pending === version) out.push("pending");
  if (state.labels.previous === version) out.push("previous");
  return out;
}

/** When a version expires under the policy, or null. */
export function expiresAtOf(state: SecretState, version: SecretVersionState): string | null {
  if (state.policy.expiresAfterDays === null) return null;
  return isoAt(Date.parse(version.createdAt) + state.policy.expiresAfterDays * 86_400_000);
}

// ---- commands ----

export interface NewVersion {
  version: number;
  material: SecretMaterial;
  publicInfo?: Record<string, unknown>;
}

export type SecretCommand =
  | { type: "CreateSecret"; name: string; kind: string; policy: SecretPolicyStored; first: NewVersion; now: number }
  | { type: "RequestRotation"; rotationId: string; reason: string; scheduled: boolean; requestedBy: string; expectedVersion?: number; now: number }
  | { type: "CompleteCreateStep"; rotationId: string; added: NewVersion; now: number }
  /** settleUntil: the test waits for this instant (a durable timer) */
  | { type: "CompleteInstallStep"; rotationId: string; settleUntil: number | null; now: number }
  | { type: "CompleteTestStep"; rotationId: string; now: number }
  | { type: "FinishRotation"; rotationId: string; now: number }
  /** retryAt null: no retry left (or the failure is final): the rotation rolls back */
  | { type: "FailRotationStep"; rotationId: string; step: RotationStep; reason: string; retryAt: number | null; maxFailedRotations: number; now: number }
  | { type: "Rollback"; reason: string; expectedVersion?: number; now: number }
  | { type: "DestroyVersion"; version: number; reason: string; now: number }
  | { type: "ChangePolicy"; policy: SecretPolicyStored; expectedVersion?: number; now: number }
  | { type: "RecordValueRead"; version: number; now: number }
  | { type: "WarnExpiry"; version: number; expiresAt: string; now: number }
  | { type: "RecordRewrap"; kekId: string; versions: number[]; now: number };

/** details naming the request field at fault, as the HTTP edge spells it (problem+json errors[].path) */
const field = (path: string, message: string) => ({ errors: [{ path, message }] });

function expectVersion(state: SecretState, expected: number | undefined): void {
  if (expected !== undefined && expected !== state.labels.current) {
    throw conflict(`the current version is ${state.labels.current ?? "none"}, not ${expected}`, { ...field("json.expectedVersion", "does not match the current version"), current: state.labels.current });
  }
}

function requireRotation(state: SecretState, rotationId: string): RotationState {
  const r = activeRotation(state);
  if (!r || r.rotationId !== rotationId) throw conflict(`rotation ${rotationId} is not in progress`);
  return r;
}

/** Versions beyond maxVersions that still hold a value and carry no label, oldest first. */
function beyondMax(state: SecretState, labels: SecretLabels, maxVersions: number): number[] {
  const live = state.versions.filter((v) => !v.destroyed);
  const excess = live.length - maxVersions;
  if (excess <= 0) return [];
  const labelled = new Set([labels.current, labels.pending, labels.previous]);
  return live.filter((v) => !labelled.has(v.version)).slice(0, excess).map((v) => v.version);
}

/** The events that end a rotation without moving `current`: pending dropped and its value destroyed. */
function rollBackRotation(state: SecretState, r: RotationState, reason: string, at: string): SecretEvent[] {
  const events: SecretEvent[] = [{ type: "RotationRolledBack", data: { rotationId: r.rotationId, reason, at } }];
  if (r.version !== null && state.labels.pending === r.version) {
    events.push({ type: "SecretLabelsMoved", data: { ...state.labels, pending: null, previousValidUntil: state.previousValidUntil, cause: "rollback", at } });
  }
  const made = r.version !== null ? versionOf(state, r.version) : undefined;
  if (made && !made.destroyed && state.labels.current !== made.version) {
    events.push({ type: "SecretVersionDestroyed", data: { version: made.version, reason: `rotation rolled back: ${reason}`.slice(0, 500), at } });
  }
  return events;
}

export const secretDecider: Decider<SecretState, SecretCommand, SecretEvent> = {
  initialState: initialSecretState,
  cacheable: true,
  evolve: evolveSecret,
  decide(command, state) {
    if (command.type === "CreateSecret") {
      if (state.exists) throw conflict(`secret ${command.name} already exists`, field("json.name", "already exists"));
      const at = isoAt(command.now);
      return [
        { type: "SecretCreated", data: { name: command.name, kind: command.kind, policy: command.policy, at } },
        { type: "SecretVersionAdded", data: { ...newVersionData(command.first), rotationId: null, at } },
        { type: "SecretLabelsMoved", data: { current: command.first.version, pending: null, previous: null, previousValidUntil: null, cause: "created", at } },
      ];
    }
    if (!state.exists) throw notFound("secret");
    const at = isoAt(command.now);
    switch (command.type) {
      case "RequestRotation": {
        const running = activeRotation(state);
        if (running) throw conflict(`rotation ${running.rotationId} is in progress; wait for it or roll it back`, { ...field("path.name", "a rotation is in progress"), rotationId: running.rotationId });
        expectVersion(state, command.expectedVersion);
        return [
          {
            type: "RotationRequested",
            data: { rotationId: command.rotationId, reason: command.reason, scheduled: command.scheduled, requestedBy: command.requestedBy, at },
          },
        ];
      }
      case "CompleteCreateStep": {
        const r = requireRotation(state, command.rotationId);
        if (r.steps.some((s) => s.step === "create")) throw conflict("create step already done");
        if (command.added.version !== nextVersionNumber(state)) throw conflict(`version ${command.added.version} is not the next version`);
        return [
          { type: "SecretVersionAdded", data: { ...newVersionData(command.added), rotationId: r.rotationId, at } },
          { type: "SecretLabelsMoved", data: { ...state.labels, pending: command.added.version, previousValidUntil: state.previousValidUntil, cause: "rotation created a pending version", at } },
          { type: "RotationStepCompleted", data: { rotationId: r.rotationId, step: "create", version: command.added.version, at } },
        ];
      }
      case "CompleteInstallStep": {
        const r = requireRotation(state, command.rotationId);
        if (r.version === null || !r.steps.some((s) => s.step === "create")) throw conflict("install before create");
        if (r.steps.some((s) => s.step === "install")) throw conflict("install step already done");
        const events: SecretEvent[] = [{ type: "RotationStepCompleted", data: { rotationId: r.rotationId, step: "install", version: r.version, at } }];
        if (command.settleUntil !== null && command.settleUntil > command.now) {
          events.push({ type: "RotationTimerSet", data: { rotationId: r.rotationId, dueAt: isoAt(command.settleUntil), purpose: "settle", at } });
        }
        return events;
      }
      case "CompleteTestStep": {
        const r = requireRotation(state, command.rotationId);
        if (r.version === null || !r.steps.some((s) => s.step === "install")) throw conflict("test before install");
        if (r.steps.some((s) => s.step === "test")) throw conflict("test step already done");
        return [{ type: "RotationStepCompleted", data: { rotationId: r.rotationId, step: "test", version: r.version, at } }];
      }
      case "FinishRotation": {
        const r = requireRotation(state, command.rotationId);
        if (r.version === null || !r.steps.some((s) => s.step === "test")) throw conflict("finish before test");
        const labels: SecretLabels = { current: r.version, pending: null, previous: state.labels.current };
        const previousValidUntil = labels.previous === null ? null : isoAt(command.now + state.policy.overlapSeconds * 1000);
        return [
          { type: "SecretLabelsMoved", data: { ...labels, previousValidUntil, cause: "rotation finished", at } },
          { type: "RotationStepCompleted", data: { rotationId: r.rotationId, step: "finish", version: r.version, at } },
          { type: "RotationCompleted", data: { rotationId: r.rotationId, version: r.version, at } },
          ...beyondMax(state, labels, state.policy.maxVersions).map(
            (version): SecretEvent => ({ type: "SecretVersionDestroyed", data: { version, reason: `more than maxVersions (${state.policy.maxVersions})`, at } }),
          ),
        ];
      }
      case "FailRotationStep": {
        const r = requireRotation(state, command.rotationId);
        const attempt = r.failures.filter((f) => f.step === command.step).length + 1;
        const reason = command.reason.slice(0, 1000);
        const willRetry = command.retryAt !== null;
        const events: SecretEvent[] = [{ type: "RotationFailed", data: { rotationId: r.rotationId, step: command.step, reason, attempt, willRetry, at } }];
        if (willRetry) {
          events.push({ type: "RotationTimerSet", data: { rotationId: r.rotationId, dueAt: isoAt(command.retryAt!), purpose: "retry", at } });
          return events;
        }
        events.push(...rollBackRotation(state, r, `${command.step} failed: ${reason}`, at));
        if (state.failedRotations + 1 >= command.maxFailedRotations && !state.failing) {
          events.push({ type: "SecretRotationFailing", data: { rotationId: r.rotationId, reason: `${state.failedRotations + 1} rotation(s) in a row rolled back; last: ${command.step} failed: ${reason}`.slice(0, 1000), at } });
        }
        return events;
      }
      case "Rollback": {
        expectVersion(state, command.expectedVersion);
        const running = activeRotation(state);
        if (running) return rollBackRotation(state, running, command.reason, at);
        const previous = state.labels.previous !== null ? versionOf(state, state.labels.previous) : undefined;
        if (!previous || previous.destroyed) throw conflict("there is no previous version to roll back to", field("path.name", "no previous version"));
        const labels: SecretLabels = { current: previous.version, pending: null, previous: state.labels.current };
        return [
          {
            type: "SecretLabelsMoved",
            data: { ...labels, previousValidUntil: isoAt(command.now + state.policy.overlapSeconds * 1000), cause: `rollback: ${command.reason}`.slice(0, 500), at },
          },
        ];
      }
      case "DestroyVersion": {
        const v = versionOf(state, command.version);
        if (!v) throw new DomainError("not_found", `version ${command.version} not found`, field("path.version", "no such version"));
        if (v.destroyed) throw conflict(`version ${command.version} is already destroyed`, field("path.version", "already destroyed"));
        if (state.labels.current === v.version) throw conflict("the current version cannot be destroyed; rotate first", field("path.version", "is the current version"));
        if (state.labels.pending === v.version) throw conflict("the pending version belongs to a rotation in progress; roll it back instead", field("path.version", "is the pending version"));
        const events: SecretEvent[] = [];
        if (state.labels.previous === v.version) {
          events.push({ type: "SecretLabelsMoved", data: { ...state.labels, previous: null, previousValidUntil: null, cause: "previous destroyed", at } });
        }
        events.push({ type: "SecretVersionDestroyed", data: { version: v.version, reason: command.reason.slice(0, 500), at } });
        return events;
      }
      case "ChangePolicy": {
        expectVersion(state, command.expectedVersion);
        if (JSON.stringify(command.policy) === JSON.stringify(state.policy)) return [];
        return [{ type: "SecretPolicyChanged", data: { policy: command.policy, at } }];
      }
      case "RecordValueRead": {
        const v = versionOf(state, command.version);
        if (!v) throw new DomainError("not_found", `version ${command.version} not found`, field("query.version", "no such version"));
        if (v.destroyed) throw conflict(`version ${command.version} was destroyed; its value is gone`, field("query.version", "destroyed"));
        return [{ type: "SecretValueRead", data: { version: v.version, at } }];
      }
      case "WarnExpiry":
        if (state.expiryWarned.includes(command.version)) return [];
        return [{ type: "SecretExpiryWarned", data: { version: command.version, expiresAt: command.expiresAt, at } }];
      case "RecordRewrap":
        return [{ type: "SecretMasterKeyRewrapped", data: { kekId: command.kekId, versions: command.versions, at } }];
    }
  },
};

function newVersionData(v: NewVersion) {
  return { version: v.version, material: v.material, ...(v.publicInfo ? { publicInfo: v.publicInfo } : {}) };
}

export function foldSecret(events: SecretEvent[], from: SecretState = initialSecretState): SecretState {
  return events.reduce(evolveSecret, from);
}
