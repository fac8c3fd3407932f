// The knowledge graph as a projection of the log (docs/graph.md). Each event is turned into a plan:
// document id -> a pure update of that document; keys() lists the plan's ids and apply() runs the
// update for the key it is given. Nothing is ever deleted: edges that stop being true are closed
// at the position that ended them, so any past position can be read back by filtering.
import type { RecordedEvent } from "../events/envelope.js";
import { streamKey } from "../events/streams.js";
import { moduleVersionId, vertexKey, type EdgeType, type VertexKey, type VertexType } from "../graph/model.js";
import { own } from "../platform/own-keys.js";
import {
  eventEdgeId,
  factEdgeId,
  GRAPH,
  nodeModulesDocId,
  runsDocId,
  vertexDocId,
  type EdgeDoc,
  type GraphDoc,
  type NodeModulesDoc,
  type NodeModulesFields,
  type RunsDoc,
  type RunsInterval,
  type VertexDoc,
} from "./graph-docs.js";
import type { Projection } from "./projection.js";
import type { IndexSpec } from "./store/port.js";

type Stored<D> = Omit<D, "lastPosition">;
/**
 * A document, or one for the runner to finish with lastPosition. The documents every node event
 * writes (what it runs, its slot, an edge per update) come finished: built from literals, frozen,
 * and at the event's position, so the runner keeps them as they are and a store that freezes what
 * it keeps shares them instead of copying them (V8 freezes a copy made by a spread in ~0.5-1 us,
 * a literal in ~0.05: the memory store's copies were a third of the replay's time).
 */
type Update = (doc: GraphDoc | null) => GraphDoc | Stored<GraphDoc> | null;

const DEPLOYMENT_STATUS: Readonly<Record<string, string>> = {
  ApprovalGranted: "Pending",
  DeploymentPlanned: "Running",
  DeploymentPaused: "Paused",
  DeploymentResumed: "Running",
  RollbackStarted: "RollingBack",
  DeploymentSucceeded: "Succeeded",
  DeploymentFailed: "Failed",
  DeploymentRolledBack: "RolledBack",
  DeploymentCancelled: "Cancelled",
  DeploymentRejected: "Rejected",
};

const NODE_STATUS: Readonly<Record<string, string>> = {
  NodeBecameUnhealthy: "Unhealthy",
  NodeWentOffline: "Offline",
  NodeRecovered: "Healthy",
};

const UPDATE_OUTCOMES: Readonly<Record<string, { kind: string; outcome: string }>> = {
  NodeUpdated: { kind: "install", outcome: "succeeded" },
  NodeUpdateFailed: { kind: "install", outcome: "failed" },
  NodeRolledBack: { kind: "rollback", outcome: "succeeded" },
  NodeRollbackFailed: { kind: "rollback", outcome: "failed" },
};

const GRAPH_EVENT_TYPES = [
  "NodeRegistered",
  "NodeDeregistered",
  "NodeDetailsChanged",
  "ModuleInstalled",
  "ModuleRemoved",
  ...Object.keys(NODE_STATUS),
  "DeploymentRequested",
  "ApprovalRejected",
  ...Object.keys(DEPLOYMENT_STATUS),
  ...Object.keys(UPDATE_OUTCOMES),
  "ModuleVersionRegistered",
  "ModuleVersionVerified",
  "TrustRootAdded",
  "TrustRootRemoved",
  "TrustCertificateRevoked",
  "SecretCreated",
  "RotationRequested",
  "UserCreated",
  "UserRolesChanged",
  "UserDisabled",
  "UserEnabled",
];

/** "<executionId>:<nodeId>:<seq>" (src/processes/deployment-process.ts) -> the deployment */
function deploymentOfAssignment(assignmentId: string): string | null {
  const colon = assignmentId.indexOf(":");
  return colon > 0 ? assignmentId.slice(0, colon) : null;
}

/** Collects the updates one event makes; several updates of one document compose in order. */
class Plan {
  /** the ids of the documents planned, in the order first planned: what keys() hands out */
  readonly ids: string[] = [];
  /** the update of ids[i] (a handful per event: a list beats a map's table and hashing) */
  private readonly updates: Update[] = [];
  /** documents this event makes whatever was stored under their ids (its own edges); most events have none */
  ownDocs: Set<string> | undefined;
  readonly position: number;
  readonly at: string;

  constructor(readonly event: RecordedEvent) {
    this.position = event.position;
    this.at = event.metadata.occurredAt;
  }

  private add(id: string, update: Update): void {
    const at = this.ids.indexOf(id);
    if (at < 0) {
      this.ids.push(id);
      this.updates.push(update);
      return;
    }
    const before = this.updates[at]!;
    this.updates[at] = (doc) => update(before(doc) as GraphDoc | null);
  }

  /** the update planned for document `id` */
  updateOf(id: string): Update | undefined {
    const at = this.ids.indexOf(id);
    return at < 0 ? undefined : this.updates[at];
  }

  /**
   * A vertex mentioned with fixed props: unless `set` changes them, the document as it was, found
   * without copying it (a node event mentions its module and version, which exist but the first time).
   */
  mention(type: VertexType, id: string, set: Readonly<Record<string, unknown>>, key = vertexKey(type, id), docId = vertexDocId(key)): VertexKey {
    return this.vertex(type, id, (v) => void Object.assign(v.props, set), true, set, key, docId);
  }

  /** the vertex, created on first mention; `change` edits a copy (null: only if it exists) */
  vertex(
    type: VertexType,
    id: string,
    change: (v: VertexDoc) => void = () => {},
    createIfMissing = true,
    onlySets?: Readonly<Record<string, unknown>>,
    key = vertexKey(type, id),
    docId = vertexDocId(key),
  ): VertexKey {
    this.add(docId, (doc) => {
      if (!doc && !createIfMissing) return null;
      const base = doc as VertexDoc | null;
      // `change` only sets these props: when they hold these values already, it changes nothing
      if (base && onlySets && holds(base.props, onlySets)) return base;
      const v: VertexDoc = base
        ? { ...base, props: { ...base.props } }
        : { _id: docId, kind: "vertex", vtype: type, vid: id, key, firstPosition: this.position, firstAt: this.at, props: {}, lastPosition: 0 };
      change(v);
      // nothing changed (most mentions: a module version installed again): the document as it was,
      // whose parts the store then shares instead of copying and freezing them once more
      if (base && sameFields(base, v, "props") && sameFields(base.props, v.props)) return base;
      const { lastPosition: _runnerSetsIt, ...stored } = v;
      return stored;
    });
    return key;
  }

  /** an edge that holds from its first assertion on; later assertions change nothing */
  fact(type: EdgeType, from: VertexKey, to: VertexKey, props: Record<string, unknown> = {}, id = factEdgeId(type, from, to)): void {
    this.add(id, (doc) => doc ?? this.edge(id, type, from, to, props));
  }

  /** an edge per event: the same pair may be joined again and again (UPDATED, ROTATED_BY) */
  eventEdge(type: EdgeType, from: VertexKey, to: VertexKey, props: Record<string, unknown>): void {
    const id = eventEdgeId(type, from, to, this.position);
    this.add(id, () => this.edge(id, type, from, to, props));
    // its id names this event's position: no other event writes it, and this one ignores what is stored
    (this.ownDocs ??= new Set()).add(id);
  }

  /** `props`: made by the caller for this edge alone (it is frozen here) */
  private edge(id: string, type: EdgeType, from: VertexKey, to: VertexKey, props: Record<string, unknown>): EdgeDoc {
    Object.freeze(props);
    return Object.freeze<EdgeDoc>({ _id: id, kind: "edge", type, from, to, open: this.position, openedAt: this.at, props, lastPosition: this.position });
  }

  /** a module version mentioned anywhere: its vertex, its module's, and the VERSION_OF between */
  moduleVersion(name: string, version: string, change?: (v: VertexDoc) => void): VertexKey {
    if (!change) {
      const m = versionIdsOf(name, version);
      this.mention("Module", name, m.moduleProps, m.moduleKey, m.moduleDocId);
      this.mention("ModuleVersion", m.id, m.props, m.key, m.docId);
      this.fact("VERSION_OF", m.key, m.moduleKey, {}, m.versionOfId);
      return m.key;
    }
    const moduleKey = this.mention("Module", name, { name });
    const key = this.vertex("ModuleVersion", moduleVersionId(name, version), (v) => {
      v.props.name = name;
      v.props.version = version;
      change(v);
    });
    this.fact("VERSION_OF", key, moduleKey);
    return key;
  }

  /** what node `nodeId` runs now: `change` edits a copy of its document (if it exists, unless `create`) */
  nodeModules(nodeId: string, change: (m: NodeModulesFields) => void, create = false): void {
    const id = nodeModulesDocId(nodeId);
    this.add(id, (doc) => {
      const before = doc as NodeModulesDoc | null;
      if (!before && !create) return null;
      const m: NodeModulesDoc = { _id: id, kind: "modules", node: nodeId, registeredIn: before?.registeredIn ?? null, modules: before?.modules ?? [], lastPosition: this.position };
      change(m);
      // `change` sets a new list (or keeps the old, frozen by its store or by us): nothing else holds it
      Object.freeze(m.modules);
      return Object.freeze(m);
    });
  }

  /** what node `nodeId` runs of `module` from here on: `next` (null: nothing) */
  runs(nodeId: string, module: string, next: Omit<RunsInterval, "open" | "openedAt" | "close" | "closedAt"> | null): void {
    const id = runsDocId(nodeId, module);
    this.add(id, (doc) => {
      const slot = doc as RunsDoc | null;
      if (!slot && !next) return null;
      // a spread, not slice(): slicing a frozen array (the stored list) takes V8's slow path
      const intervals = [...(slot?.intervals ?? [])];
      const last = intervals.at(-1);
      if (last && last.close === null) intervals[intervals.length - 1] = runsInterval(last, last.open, last.openedAt, this.position, this.at);
      if (next) intervals.push(runsInterval(next, this.position, this.at, null, null));
      Object.freeze(intervals);
      return Object.freeze<RunsDoc>({ _id: id, kind: "runs", from: vertexKey("Node", nodeId), node: nodeId, module, current: next?.version ?? null, intervals, lastPosition: this.position });
    });
  }
}

/** What a plain mention of a module version plans: its vertex, its module's, and the VERSION_OF between. */
interface VersionIds {
  moduleKey: VertexKey;
  moduleDocId: string;
  moduleProps: Readonly<{ name: string }>;
  id: string;
  key: VertexKey;
  docId: string;
  props: Readonly<{ name: string; version: string }>;
  versionOfId: string;
}

/**
 * The ids of every module version mentioned so far, made once per version: every install
 * mentions one of the same few again, and ids made anew per event cost their concatenation and a
 * hash in every map they are looked up in (the plan's, the runner's batch). No larger than the
 * graph's own ModuleVersion vertices.
 */
const versionIds = new Map<string, Map<string, VersionIds>>();

function versionIdsOf(name: string, version: string): VersionIds {
  let byVersion = versionIds.get(name);
  if (!byVersion) versionIds.set(name, (byVersion = new Map()));
  let m = byVersion.get(version);
  if (!m) {
    const moduleKey = vertexKey("Module", name);
    const id = moduleVersionId(name, version);
    const key = vertexKey("ModuleVersion", id);
    m = {
      moduleKey,
      moduleDocId: vertexDocId(moduleKey),
      moduleProps: Object.freeze({ name }),
      id,
      key,
      docId: vertexDocId(key),
      props: Object.freeze({ name, version }),
      versionOfId: factEdgeId("VERSION_OF", key, moduleKey),
    };
    byVersion.set(version, m);
  }
  return m;
}

/** A frozen interval, its fields in the order they always had (a literal: no copy of a frozen object to freeze again). */
function runsInterval(
  what: Pick<RunsInterval, "version" | "via" | "digest">,
  open: number,
  openedAt: string,
  close: number | null,
  closedAt: string | null,
): RunsInterval {
  return Object.freeze({ version: what.version, via: what.via, digest: what.digest, open, openedAt, close, closedAt });
}

/** every field of `set` is an own field of `props` holding the same value */
function holds(props: Record<string, unknown>, set: Readonly<Record<string, unknown>>): boolean {
  for (const k in set) if (!Object.hasOwn(props, k) || props[k] !== set[k]) return false;
  return true;
}

/** the same own fields holding the same values (but `skip`, which the caller compares itself) */
function sameFields(a: Record<string, unknown>, b: Record<string, unknown>, skip?: string): boolean {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const k of keys) if (k !== skip && (!Object.hasOwn(b, k) || a[k] !== b[k])) return false;
  return true;
}

function envsSeen(v: VertexDoc, environment: string): string | string[] {
  const all = new Set([...(Array.isArray(v.environment) ? v.environment : v.environment ? [v.environment] : []), environment]);
  return all.size === 1 ? environment : [...all].sort();
}

/** Ends the node's open registration (and with it every RUNS edge of that registration). */
function endEpoch(v: VertexDoc, position: number, at: string): void {
  const epochs = [...(v.epochs ?? [])];
  const last = epochs.at(-1);
  if (last && last.close === null) epochs[epochs.length - 1] = { ...last, close: position, closedAt: at };
  v.epochs = epochs;
  v.registered = false;
}

/** where `module` sits in a node's flat module, version list (-1: not there) */
function moduleIndex(modules: readonly string[], module: string): number {
  for (let i = 0; i < modules.length; i += 2) if (modules[i] === module) return i;
  return -1;
}

type Data = Record<string, unknown>;
const str = (d: Data, k: string): string => String(d[k]);

function nodeEvent(p: Plan, e: RecordedEvent, d: Data): void {
  // named loads, not str(): one keyed load shared by every field of every event went megamorphic
  const nodeId = String(d.nodeId);
  switch (e.type) {
    case "NodeRegistered": {
      const environment = str(d, "environment");
      const modules = d.modules as Record<string, string>;
      p.vertex("Environment", environment, (v) => void (v.props.name = environment));
      p.vertex("Node", nodeId, (v) => {
        endEpoch(v, p.position, p.at);
        v.epochs = [...(v.epochs ?? []), { environment, open: p.position, openedAt: p.at, close: null, closedAt: null }];
        v.environment = envsSeen(v, environment);
        v.registered = true;
        v.props = { ...v.props, hostname: d.hostname, labels: d.labels, status: "Healthy", environment };
      });
      p.nodeModules(nodeId, (m) => {
        m.modules = Object.entries(modules).flat();
        m.registeredIn = environment;
      }, true);
      for (const [module, version] of Object.entries(modules)) {
        p.moduleVersion(module, version);
        p.runs(nodeId, module, { version, via: null, digest: null });
      }
      return;
    }
    case "NodeDeregistered":
      p.vertex("Node", nodeId, (v) => {
        if (v.registered) endEpoch(v, p.position, p.at);
        v.props.status = "Deregistered";
      }, false);
      p.nodeModules(nodeId, (m) => {
        m.registeredIn = null;
        m.modules = [];
      });
      return;
    case "NodeDetailsChanged":
      p.vertex("Node", nodeId, (v) => void (v.props.labels = d.labels), false);
      return;
    case "ModuleInstalled": {
      const module = String(d.moduleName);
      const version = String(d.version);
      p.nodeModules(nodeId, (m) => {
        if (m.registeredIn === null) return;
        const modules = [...m.modules];
        const at = moduleIndex(modules, module);
        if (at < 0) modules.push(module, version);
        else modules[at + 1] = version;
        m.modules = modules;
      });
      p.moduleVersion(module, version);
      const digest = typeof d.digest === "string" ? d.digest : null;
      p.runs(nodeId, module, { version, via: deploymentOfAssignment(String(d.assignmentId)), digest });
      return;
    }
    case "ModuleRemoved": {
      const module = str(d, "moduleName");
      p.nodeModules(nodeId, (m) => {
        const at = m.registeredIn === null ? -1 : moduleIndex(m.modules, module);
        if (at >= 0) m.modules = [...m.modules.slice(0, at), ...m.modules.slice(at + 2)];
      });
      p.runs(nodeId, module, null);
      return;
    }
    default: {
      const status = own(NODE_STATUS, e.type);
      if (status) p.vertex("Node", nodeId, (v) => void (v.props.status = status), false);
    }
  }
}

function setStatus(v: VertexDoc, status: string, p: Plan): void {
  const statuses = v.statuses ?? [];
  if (statuses.at(-1)?.status === status) return;
  v.statuses = [...statuses, { status, position: p.position, at: p.at }];
  v.props.status = status;
}

function deploymentEvent(p: Plan, e: RecordedEvent, d: Data): void {
  const executionId = streamKey(e.streamId);
  if (e.type === "DeploymentRequested") {
    const moduleName = str(d, "moduleName");
    const version = str(d, "version");
    const environment = str(d, "targetEnvironment");
    const requestedBy = str(d, "requestedBy");
    const deployment = p.vertex("Deployment", executionId, (v) => {
      v.props = { ...v.props, moduleName, version, targetEnvironment: environment, strategy: d.strategy, requestedBy };
      setStatus(v, d.requiresApproval ? "PendingApproval" : "Pending", p);
    });
    const mv = p.moduleVersion(moduleName, version);
    p.fact("DEPLOYS", deployment, mv);
    p.fact("TARGETS", deployment, p.vertex("Environment", environment, (v) => void (v.props.name = environment)));
    p.fact("REQUESTED_BY", deployment, p.vertex("User", requestedBy, (v) => void (v.props.username = requestedBy)));
    // optional fields of later schemas: read defensively
    const artifact = d.artifact as { digest?: unknown; size?: unknown } | undefined;
    if (artifact && typeof artifact.digest === "string") {
      const digest = artifact.digest;
      p.fact("HAS_ARTIFACT", mv, p.vertex("Artifact", digest, (v) => void Object.assign(v.props, { digest, size: artifact.size })));
    }
    const dependencies = Array.isArray(d.dependencies) ? (d.dependencies as { name: string; range: string }[]) : [];
    for (const dep of dependencies) dependsOn(p, mv, dep, "request");
    return;
  }
  const change = own(UPDATE_OUTCOMES, e.type);
  if (change) {
    const props: Record<string, unknown> = { kind: change.kind, outcome: change.outcome, assignmentId: d.assignmentId };
    if (d.version !== undefined) props.version = d.version;
    if (typeof d.error === "string") props.error = d.error;
    p.eventEdge("UPDATED", vertexKey("Deployment", executionId), vertexKey("Node", String(d.nodeId)), props);
    return;
  }
  if (e.type === "ApprovalGranted" || e.type === "ApprovalRejected" || (e.type === "DeploymentRejected" && typeof d.by === "string")) {
    const by = str(d, "by");
    const type = e.type === "ApprovalGranted" ? "APPROVED_BY" : "REJECTED_BY";
    p.fact(type, vertexKey("Deployment", executionId), p.vertex("User", by, (v) => void (v.props.username = by)), d.reason ? { reason: d.reason } : {});
  }
  const status = own(DEPLOYMENT_STATUS, e.type);
  if (status) p.vertex("Deployment", executionId, (v) => setStatus(v, status, p), false);
}

function dependsOn(p: Plan, mv: VertexKey, dep: { name: string; range: string }, declaredBy: "registration" | "request"): void {
  const target = p.vertex("Module", dep.name, (v) => void (v.props.name = dep.name));
  p.fact("DEPENDS_ON", mv, target, { range: dep.range, declaredBy });
}

function moduleEvent(p: Plan, e: RecordedEvent, d: Data): void {
  switch (e.type) {
    case "ModuleVersionRegistered": {
      const digest = str(d, "digest");
      const mv = p.moduleVersion(str(d, "name"), str(d, "version"), (v) => {
        v.props = { ...v.props, registered: true, digest, size: d.size, description: d.description, registeredBy: d.registeredBy, registeredAt: d.at };
      });
      p.fact("HAS_ARTIFACT", mv, p.vertex("Artifact", digest, (v) => void Object.assign(v.props, { digest, size: d.size })));
      for (const dep of (d.dependencies as { name: string; range: string }[]) ?? []) dependsOn(p, mv, dep, "registration");
      return;
    }
    case "ModuleVersionVerified": {
      const digest = str(d, "digest");
      const verification = d.verification as { status: string; signer: { fingerprint256: string; subject: string } | null; chain: string[]; chainFingerprints: string[] };
      const artifact = p.vertex("Artifact", digest, (v) => {
        v.props = { ...v.props, digest, verification: verification.status, verifiedAt: d.at };
      });
      p.moduleVersion(str(d, "name"), str(d, "version"), (v) => void (v.props.verification = verification.status));
      const certificate = (fingerprint: string, subject: string | undefined) =>
        p.vertex("Certificate", fingerprint, (v) => {
          v.props.fingerprint256 = fingerprint;
          if (subject !== undefined) v.props.subject = subject;
        });
      if (verification.signer) {
        p.fact("SIGNED_BY", artifact, certificate(verification.signer.fingerprint256, verification.signer.subject));
      }
      // the chain runs from the signer up to the anchor: each certificate was issued by the next
      const fps = verification.chainFingerprints ?? [];
      for (let i = 0; i + 1 < fps.length; i++) {
        p.fact("ISSUED_BY", certificate(fps[i]!, verification.chain?.[i]), certificate(fps[i + 1]!, verification.chain?.[i + 1]));
      }
      return;
    }
    case "TrustRootAdded":
      p.vertex("Certificate", str(d, "fingerprint256"), (v) => {
        v.props = { ...v.props, fingerprint256: d.fingerprint256, subject: d.subject, notAfter: d.notAfter, trustRoot: true };
      });
      return;
    case "TrustRootRemoved":
      p.vertex("Certificate", str(d, "fingerprint256"), (v) => void (v.props.trustRoot = false), false);
      return;
    case "TrustCertificateRevoked":
      p.vertex("Certificate", str(d, "fingerprint256"), (v) => {
        v.props.fingerprint256 = d.fingerprint256;
        v.props.revoked = { reason: d.reason, at: d.at, position: p.position };
      });
  }
}

function otherEvent(p: Plan, e: RecordedEvent, d: Data): void {
  switch (e.type) {
    case "SecretCreated":
      p.vertex("Secret", str(d, "name"), (v) => void Object.assign(v.props, { name: d.name, kind: d.kind }));
      return;
    case "RotationRequested": {
      // a scheduled rotation is the system's doing: no user rotated anything
      if (d.scheduled === true) return;
      const name = streamKey(e.streamId);
      const by = str(d, "requestedBy");
      const secret = p.vertex("Secret", name, (v) => void (v.props.name = name));
      p.eventEdge("ROTATED_BY", secret, p.vertex("User", by, (v) => void (v.props.username = by)), { rotationId: d.rotationId, reason: d.reason });
      return;
    }
    case "UserCreated":
    case "UserRolesChanged":
      p.vertex("User", str(d, "username"), (v) => void Object.assign(v.props, { username: d.username, roles: d.roles }));
      return;
    case "UserDisabled":
    case "UserEnabled":
      p.vertex("User", str(d, "username"), (v) => void (v.props.disabled = e.type === "UserDisabled"));
  }
}

const byStream: [string, (p: Plan, e: RecordedEvent, d: Data) => void][] = [
  ["node-", nodeEvent],
  ["deployment-", deploymentEvent],
  ["approval-", deploymentEvent],
  ["module-", moduleEvent],
  ["trust-", moduleEvent],
];

function handlerOf(streamId: string): (p: Plan, e: RecordedEvent, d: Data) => void {
  for (const [prefix, handler] of byStream) if (streamId.startsWith(prefix)) return handler;
  return otherEvent;
}

function planFor(event: RecordedEvent): Plan {
  const p = new Plan(event);
  handlerOf(event.streamId)(p, event, event.data as Data);
  return p;
}

// keys(), madeByEventAlone() and apply() see the same event object from the runner, one event
// after the other: the last plan is kept. Another caller in between (a second runner) only makes
// the next one plan its event again, which gives the same plan.
let planned: { event: RecordedEvent; plan: Plan } | undefined;
function planOf(event: RecordedEvent): Plan {
  if (planned?.event !== event) planned = { event, plan: planFor(event) };
  return planned.plan;
}

export const graphProjection: Projection<GraphDoc> & { indexes: IndexSpec[] } = {
  name: "graph",
  // 2: what a node runs now in its own document; 3: that as a flat list
  version: 3,
  collection: GRAPH,
  filter: { eventTypes: [...new Set(GRAPH_EVENT_TYPES)] },
  indexes: [
    { name: "from", keys: { from: 1 } },
    { name: "to", keys: { to: 1 } },
    { name: "module", keys: { module: 1 } },
    { name: "vtype", keys: { vtype: 1 } },
    { name: "environment", keys: { environment: 1 } },
    { name: "kind", keys: { kind: 1 } },
  ],
  // the plan's own list: the runner only reads it
  keys: (event) => planOf(event).ids,
  madeByEventAlone: (key, event) => planOf(event).ownDocs?.has(key) === true,
  apply(doc, event, key) {
    if (key === undefined) throw new Error("the graph projection touches several documents per event: apply needs the key");
    const update = planOf(event).updateOf(key);
    return update ? update(doc) : doc;
  },
};
