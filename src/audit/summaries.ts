import type { RecordedEvent } from "../events/envelope.js";
import { streamKey } from "../events/streams.js";

// Data is read loosely on purpose: summaries must never throw, also for an event written by an
// older schema version or a type added later, so every field is optional here.
type Data = Record<string, unknown>;
type Summarise = (d: Data, e: RecordedEvent) => string;

const s = (v: unknown, fallback = "?"): string => (typeof v === "string" || typeof v === "number" ? String(v) : fallback);
const list = (v: unknown): string => (Array.isArray(v) ? v.map((x) => s(x)).join(", ") : "?");
const count = (v: unknown): number => (Array.isArray(v) ? v.length : 0);
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
const dep = (e: RecordedEvent) => `deployment ${streamKey(e.streamId).slice(0, 8)}`;
const sec = (e: RecordedEvent) => `secret ${streamKey(e.streamId)}`;
const reason = (v: unknown) => (typeof v === "string" && v ? `: ${v}` : "");

const byType: Record<string, Summarise> = {
  // users and sign-in
  UserCreated: (d) => `user ${s(d.username)} created with roles ${list(d.roles)}`,
  UserRolesChanged: (d) => `roles of ${s(d.username)} set to ${list(d.roles)}`,
  UserPasswordChanged: (d) => `password of ${s(d.username)} changed`,
  UserDisabled: (d) => `user ${s(d.username)} disabled`,
  UserEnabled: (d) => `user ${s(d.username)} enabled`,
  UserTokenRevoked: (d) => `a token of ${s(d.username)} revoked (logout)`,
  UserLoggedIn: (d) => `${s(d.username)} logged in`,
  UserLoginFailed: (d) => `failed login for ${s(d.username)} (attempt ${s(d.failedAttempts)})`,
  UserLockedOut: (d) => `${s(d.username)} locked out until ${s(d.until)}`,
  // deployments
  DeploymentRequested: (d) =>
    `${s(d.requestedBy)} requested ${s(d.moduleName)}@${s(d.version)} to ${s(d.targetEnvironment)} (${s(d.strategy)})`,
  StageStarted: (d, e) => `${dep(e)}: stage ${s(d.stage)} started`,
  StageCompleted: (d, e) => `${dep(e)}: stage ${s(d.stage)} ${s(d.outcome)}`,
  ApprovalRequested: (d, e) => `${dep(e)}: approval requested, expires ${s(d.expiresAt)}`,
  ApprovalGranted: (d, e) => `${dep(e)} approved by ${s(d.by)}${reason(d.reason)}`,
  ApprovalRejected: (d, e) => `${dep(e)} rejected by ${s(d.by)}${reason(d.reason)}`,
  ApprovalExpired: (_d, e) => `${dep(e)}: approval expired unanswered`,
  DeploymentQueued: (d, e) => `${dep(e)} queued${reason(d.message)}`,
  DeploymentPlanned: (d, e) => `${dep(e)} planned: ${plural(count(d.waves), "wave")}, ${plural(count(d.nodes), "node")} (${s(d.strategy)})`,
  WaveStarted: (d, e) => `${dep(e)}: wave ${s(d.wave)} started on ${plural(count(d.nodeIds), "node")}`,
  NodeUpdateRequested: (d, e) => `${dep(e)}: ${s(d.kind)} ${s(d.moduleName)} ${s(d.fromVersion, "none")} -> ${s(d.toVersion, "none")} on ${s(d.nodeId)}`,
  NodeUpdated: (d, e) => `${dep(e)}: ${s(d.nodeId)} now runs ${s(d.version)}`,
  NodeUpdateFailed: (d, e) => `${dep(e)}: update of ${s(d.nodeId)} failed${reason(d.error)}`,
  HealthCheckRecorded: (d, e) => `${dep(e)}: wave ${s(d.wave)} health ${s(d.verdict)} (${s(d.consecutiveStable)} stable in a row)`,
  WaveCompleted: (d, e) => `${dep(e)}: wave ${s(d.wave)} completed`,
  TrafficSwitched: (d, e) => `${dep(e)}: traffic switched ${s(d.from)} -> ${s(d.to)}`,
  DeploymentPaused: (d, e) => `${dep(e)} paused by ${s(d.by)}`,
  DeploymentResumed: (d, e) => `${dep(e)} resumed by ${s(d.by)}`,
  RollbackStarted: (d, e) => `${dep(e)}: rollback (${s(d.trigger)}) of ${plural(count(d.nodeIds), "node")}${reason(d.reason)}`,
  NodeRolledBack: (d, e) => `${dep(e)}: ${s(d.nodeId)} rolled back to ${s(d.version, "none")}`,
  NodeRollbackFailed: (d, e) => `${dep(e)}: rollback of ${s(d.nodeId)} failed${reason(d.error)}`,
  DeploymentSucceeded: (_d, e) => `${dep(e)} succeeded`,
  DeploymentFailed: (d, e) => `${dep(e)} failed${reason(d.reason)}`,
  DeploymentRolledBack: (d, e) => `${dep(e)} rolled back${reason(d.reason)}`,
  DeploymentCancelled: (d, e) => `${dep(e)} cancelled by ${s(d.by)}${reason(d.reason)}`,
  DeploymentRejected: (d, e) => `${dep(e)} rejected${d.by ? ` by ${s(d.by)}` : ""}${reason(d.reason)}`,
  // nodes
  NodeRegistered: (d) => `node ${s(d.nodeId)} (${s(d.hostname)}) registered in ${s(d.environment)}`,
  NodeDetailsChanged: (d) => `node ${s(d.nodeId)} details changed`,
  NodeDeregistered: (d) => `node ${s(d.nodeId)} deregistered${reason(d.reason)}`,
  NodeCredentialIssued: (d) => `node ${s(d.nodeId)} given credential generation ${s(d.generation)}`,
  NodeCredentialReset: (d) => `node ${s(d.nodeId)} credential reset (generation ${s(d.generation)})`,
  NodeBecameUnhealthy: (d) => `node ${s(d.nodeId)} unhealthy${reason(d.reason)}`,
  NodeWentOffline: (d) => `node ${s(d.nodeId)} offline (last seen ${s(d.lastSeenAt)})`,
  NodeRecovered: (d) => `node ${s(d.nodeId)} recovered from ${s(d.previousStatus)}`,
  ModuleInstalled: (d) => `node ${s(d.nodeId)} installed ${s(d.moduleName)}@${s(d.version)}`,
  ModuleInstallFailed: (d) => `node ${s(d.nodeId)} failed to install ${s(d.moduleName)}@${s(d.version, "removal")}${reason(d.error)}`,
  ModuleRemoved: (d) => `node ${s(d.nodeId)} removed ${s(d.moduleName)}`,
  // clusters
  ClusterProvisioned: (d) => `cluster ${s(d.environment)} provisioned (${s(d.strategy)})`,
  ClusterSettingsChanged: (d) => `cluster ${s(d.environment)} settings changed (${s(d.strategy)})`,
  // the audit chain itself
  AuditAnchored: (d) => `audit chain anchored: positions ${s(d.fromPosition)}-${s(d.position)} (${plural(typeof d.events === "number" ? d.events : 0, "event")}), hash ${s(d.hash).slice(0, 12)}`,
  // Idempotency-Key records
  IdempotencyKeyClaimed: (d) => `an Idempotency-Key claimed for ${s(d.method)} ${s(d.route)}`,
  IdempotencyKeyAnswered: (d) => `an Idempotency-Key request answered ${s(d.status)}`,
  IdempotencyKeyReleased: (d) => `an Idempotency-Key released after ${s(d.status)}${reason(d.reason)}`,
  // signed modules: the registry and the trust store
  ModuleVersionRegistered: (d) => `module ${s(d.name)}@${s(d.version)} registered (${s(d.digest)}, ${s(d.size)} bytes, ${s((d.signature as Data | undefined)?.source, "?")} signature)`,
  ModuleVersionVerified: (d) => `module ${s(d.name)}@${s(d.version)} judged ${s((d.verification as Data | undefined)?.status)} (${s(d.trigger)})${reason((d.verification as Data | undefined)?.reason)}`,
  TrustRootAdded: (d) => `trusted root ${s(d.subject)} added (${s(d.fingerprint256)})`,
  TrustRootRemoved: (d) => `trusted root ${s(d.subject)} removed (${s(d.fingerprint256)})`,
  TrustCertificateRevoked: (d) => `certificate ${s(d.fingerprint256)} revoked${reason(d.reason)}`,
  TrustPolicyChanged: (d) => `trust policy set: ${d.environments && typeof d.environments === "object" ? Object.entries(d.environments as Data).map(([env, p]) => `${env} ${s((p as Data | null)?.level)}`).join(", ") : "?"}`,
  // secrets (never a value: only versions, labels and reasons)
  SecretCreated: (d) => `secret ${s(d.name)} created (${s(d.kind)})`,
  SecretVersionAdded: (d, e) => `${sec(e)}: version ${s(d.version)} added`,
  SecretLabelsMoved: (d, e) => `${sec(e)}: labels current=${s(d.current, "none")} pending=${s(d.pending, "none")} previous=${s(d.previous, "none")} (${s(d.cause)})`,
  SecretVersionDestroyed: (d, e) => `${sec(e)}: version ${s(d.version)} destroyed${reason(d.reason)}`,
  SecretPolicyChanged: (_d, e) => `${sec(e)}: policy changed`,
  RotationRequested: (d, e) => `${sec(e)}: ${d.scheduled === true ? "scheduled " : ""}rotation ${s(d.rotationId).slice(0, 8)} requested by ${s(d.requestedBy)}${reason(d.reason)}`,
  RotationStepCompleted: (d, e) => `${sec(e)}: rotation ${s(d.rotationId).slice(0, 8)} step ${s(d.step)} done (version ${s(d.version)})`,
  RotationTimerSet: (d, e) => `${sec(e)}: rotation ${s(d.rotationId).slice(0, 8)} waits (${s(d.purpose)}) until ${s(d.dueAt)}`,
  RotationFailed: (d, e) => `${sec(e)}: rotation ${s(d.rotationId).slice(0, 8)} step ${s(d.step)} failed (attempt ${s(d.attempt)})${reason(d.reason)}`,
  RotationRolledBack: (d, e) => `${sec(e)}: rotation ${s(d.rotationId).slice(0, 8)} rolled back${reason(d.reason)}`,
  RotationCompleted: (d, e) => `${sec(e)}: rotation ${s(d.rotationId).slice(0, 8)} completed, version ${s(d.version)} current`,
  SecretRotationFailing: (d, e) => `${sec(e)}: rotation failing${reason(d.reason)}`,
  SecretValueRead: (d, e) => `${sec(e)}: value of version ${s(d.version)} read by ${e.metadata.actor.id}`,
  SecretExpiryWarned: (d, e) => `${sec(e)}: version ${s(d.version)} expires ${s(d.expiresAt)}`,
  SecretMasterKeyRewrapped: (d, e) => `${sec(e)}: ${plural(count(d.versions), "data key")} re-wrapped under master key ${s(d.kekId)}`,
};

/** "PascalCaseWords" -> "pascal case words" */
const words = (type: string) => type.replace(/([a-z0-9])([A-Z])/g, "$1 $2").toLowerCase();

/** A one-line human summary of any event; types without a dedicated line get a generic one. */
export function summarize(event: RecordedEvent): string {
  const data = event.data && typeof event.data === "object" ? (event.data as Data) : {};
  const f = Object.hasOwn(byType, event.type) ? byType[event.type] : undefined;
  if (f) {
    try {
      return f(data, event);
    } catch {
      // fall through to the generic line
    }
  }
  return `${words(event.type)} on ${event.streamId}`;
}

/** Types with a dedicated summary (the tests check every catalog type is covered). */
export const summarizedTypes: readonly string[] = Object.keys(byType);

const ENVIRONMENTS = new Set(["Development", "QA", "Staging", "Production"]);
const isEnvironment = (v: unknown): v is string => typeof v === "string" && ENVIRONMENTS.has(v);

/** The environment an event names itself (deployment request, node registration, cluster settings), if any. */
export function environmentIn(event: RecordedEvent): string | null {
  // asked up to three times an event (the audit entry, the audit-streams keys and apply): no array, no {}
  const d = event.data && typeof event.data === "object" ? (event.data as Data) : undefined;
  if (d) {
    if (isEnvironment(d.targetEnvironment)) return d.targetEnvironment;
    if (isEnvironment(d.environment)) return d.environment;
  }
  if (event.streamId.startsWith("cluster-")) {
    const env = streamKey(event.streamId);
    if (ENVIRONMENTS.has(env)) return env;
  }
  return null;
}

/** The trace id inside a W3C traceparent ("00-<trace-id>-<span-id>-<flags>"). */
export function traceIdOf(traceparent: string | undefined): string | null {
  if (!traceparent) return null;
  const m = /^[\da-f]{2}-([\da-f]{32})-[\da-f]{16}-[\da-f]{2}$/.exec(traceparent.trim().toLowerCase());
  return m ? m[1]! : null;
}
