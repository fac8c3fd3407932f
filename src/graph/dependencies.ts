// Module dependencies at deployment time. A deployment is refused (422) when the version it
// installs needs a module the target nodes do not run in a satisfying version, and (409) when it,
// or a rollback, would leave a module already running there without what it needs — unless an
// Admin forces it, which the event records. Judged when the request is made, against what the
// nodes run then (the nodes read model) and the declared dependencies (the graph's DEPENDS_ON),
// and again when each wave starts (waveDependencyFacts here, judged by src/graph/wave-check.ts).
import { z } from "@hono/zod-openapi";
import semver from "semver";
import type { DeploymentState } from "../commands/deployment.js";
import type { DeploymentEventOf } from "../events/catalog/deployment.js";
import { streams } from "../events/streams.js";
import { DomainError, invalid, conflict } from "../commands/errors.js";
import { DeploymentRequestSchema, touchedNodeIds } from "../commands/deployment.js";
import { loadCurrentDeployment, type DeploymentFolds } from "../commands/deployments.js";
import type { EventLog } from "../events/event-log.js";
import type { Role } from "../events/catalog/user.js";
import { own } from "../platform/own-keys.js";
import { NODES, type NodeDoc } from "../projections/nodes.js";
import type { ReadStore } from "../projections/store/port.js";
import { moduleVersionId, splitModuleVersion, vertexKey } from "./model.js";
import { GraphReader, NOW } from "./reader.js";
import { satisfies, type WaveDependencies } from "./wave-check.js";

export { satisfies };

export const DependencySchema = z.strictObject({
  name: DeploymentRequestSchema.shape.moduleName,
  range: z
    .string()
    .min(1)
    .max(256)
    .refine((r) => semver.validRange(r) !== null, "must be a semver range, e.g. ^2.1.0 or >=1.0.0 <2.0.0"),
});
export type Dependency = z.infer<typeof DependencySchema>;

/** What a deployment request may add (src/http/routes/deployments.ts extends its body with these). */
export const DependencyRequestFields = {
  dependencies: z
    .array(DependencySchema)
    .max(64)
    .optional()
    .openapi({ description: "what this version needs, for a module version not in the registry (a registered one declares them at registration)" }),
  force: z.boolean().optional().openapi({ description: "Admin only: deploy even though modules running on the target nodes would lose what they depend on (recorded)" }),
};

/** One module on one node that would be left without what it needs. */
export interface Dependent {
  nodeId: string;
  /** the dependent module and its version on that node */
  module: string;
  version: string;
  dependsOn: string;
  range: string;
  /** the version of `dependsOn` there would be afterwards (null: none) */
  after: string | null;
}

/** recorded in DeploymentRequested / RollbackStarted when an Admin forced past dependents */
export interface DependencyOverride {
  by: string;
  dependents: Dependent[];
}

export type Refusal = { status: 422 | 409; detail: string; errors: { path: string; message: string }[]; extra: Record<string, unknown> };

/** the nodes a deployment to the environment reaches: the planner leaves Offline ones alone */
async function targetNodes(store: ReadStore, environment: string): Promise<NodeDoc[]> {
  const nodes = await store.collection<NodeDoc>(NODES).find({ environment });
  return nodes.filter((n) => n.status !== "Offline").sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1));
}

/**
 * The modules (name@version, range) that declare a dependency on `module`, with their range:
 * every DEPENDS_ON edge into the module, from a registration or a request.
 */
async function dependentsOf(reader: GraphReader, module: string): Promise<{ module: string; version: string; range: string }[]> {
  const edges = await reader.edgesIn(vertexKey("Module", module), new Set(["DEPENDS_ON" as const]), { at: NOW });
  return edges.map((e) => {
    const { name, version } = splitModuleVersion(e.from.slice("ModuleVersion:".length));
    return { module: name, version, range: String(e.props.range) };
  });
}

/** Modules on these nodes satisfied now that `after(node)` would leave unsatisfied. */
async function broken(reader: GraphReader, module: string, nodes: readonly NodeDoc[], after: (n: NodeDoc) => string | null): Promise<Dependent[]> {
  const declared = await dependentsOf(reader, module);
  const out: Dependent[] = [];
  for (const n of nodes) {
    for (const d of declared) {
      if (d.module === module || own(n.modules, d.module) !== d.version) continue;
      const next = after(n);
      if (satisfies(own(n.modules, module), d.range) && !satisfies(next, d.range)) {
        out.push({ nodeId: n.nodeId, module: d.module, version: d.version, dependsOn: module, range: d.range, after: next });
      }
    }
  }
  return out;
}

const describe = (d: Dependent) => `${d.module}@${d.version} on node ${d.nodeId} needs ${d.dependsOn} ${d.range}`;

function dependentsRefusal(what: string, dependents: Dependent[]): Refusal {
  const list = dependents.slice(0, 20).map(describe).join("; ");
  return {
    status: 409,
    detail: `${what} would leave ${dependents.length} dependent module(s) unsatisfied: ${list}${dependents.length > 20 ? "; …" : ""}. An Admin may pass force: true`,
    errors: dependents.map((d) => ({ path: "force", message: describe(d) })),
    extra: { dependents },
  };
}

function allowForce(force: boolean | undefined, principal: { sub: string; roles: readonly Role[] }, dependents: Dependent[]): DependencyOverride | undefined {
  if (!force || dependents.length === 0) return undefined;
  if (!principal.roles.includes("Admin")) throw new DomainError("forbidden", "only an Admin may force past unsatisfied dependents", { errors: [{ path: "json.force", message: "Admin only" }] });
  return { by: principal.sub, dependents };
}

export type Verdict =
  | { ok: true; dependencies?: Dependency[]; override?: DependencyOverride }
  | { ok: false; refusal: Refusal };

/** Judges a deployment request's dependencies (and its dependents) on the target environment now. */
export async function judgeDeployment(
  store: ReadStore,
  req: { moduleName: string; version: string; targetEnvironment: string; dependencies?: Dependency[]; force?: boolean },
  principal: { sub: string; roles: readonly Role[] },
): Promise<Verdict> {
  const reader = new GraphReader(store);
  const mv = vertexKey("ModuleVersion", moduleVersionId(req.moduleName, req.version));
  const vertex = await reader.vertex(mv, NOW);
  const recorded = (await reader.edgesOut(mv, new Set(["DEPENDS_ON" as const]), { at: NOW })).map((e) => ({
    name: e.to.slice("Module:".length),
    range: String(e.props.range),
    declaredBy: e.props.declaredBy,
  }));
  const sameSet = (a: readonly Dependency[], b: readonly Dependency[]) =>
    a.length === b.length && a.every((x) => b.some((y) => y.name === x.name && y.range === x.range));
  let needs: Dependency[] = recorded.map(({ name, range }) => ({ name, range }));
  if (req.dependencies !== undefined) {
    if (vertex?.props.registered === true) {
      throw invalid(`${req.moduleName}@${req.version} is registered: its dependencies are the ones declared at registration`, {
        errors: [{ path: "json.dependencies", message: "declared at registration for a registered module" }],
      });
    }
    // a version's dependencies do not change: the first request that declared them fixed them
    if (recorded.length && !sameSet(recorded, req.dependencies)) {
      throw conflict(`${req.moduleName}@${req.version} was already deployed declaring other dependencies: ${recorded.map((d) => `${d.name} ${d.range}`).join(", ")}`, {
        errors: [{ path: "json.dependencies", message: "differs from the earlier declaration" }],
      });
    }
    needs = req.dependencies;
  }
  needs = needs.filter((d) => d.name !== req.moduleName);
  const nodes = await targetNodes(store, req.targetEnvironment);

  const missing = nodes.flatMap((n) =>
    needs.filter((d) => !satisfies(own(n.modules, d.name), d.range)).map((d) => ({ nodeId: n.nodeId, module: d.name, range: d.range, running: own(n.modules, d.name) ?? null })),
  );
  if (missing.length) {
    const say = (m: (typeof missing)[number]) => `node ${m.nodeId} runs ${m.running === null ? `no ${m.module}` : `${m.module} ${m.running}`}, ${req.moduleName}@${req.version} needs ${m.module} ${m.range}`;
    return {
      ok: false,
      refusal: {
        status: 422,
        detail: `dependencies not satisfied in ${req.targetEnvironment}: ${missing.slice(0, 20).map(say).join("; ")}${missing.length > 20 ? "; …" : ""}`,
        errors: missing.map((m) => ({ path: "dependencies", message: say(m), nodeId: m.nodeId, module: m.module, range: m.range, running: m.running })),
        extra: { unsatisfied: missing },
      },
    };
  }

  const dependents = await broken(reader, req.moduleName, nodes, () => req.version);
  const override = allowForce(req.force, principal, dependents);
  if (dependents.length && !override) return { ok: false, refusal: dependentsRefusal(`deploying ${req.moduleName}@${req.version} to ${req.targetEnvironment}`, dependents) };
  // recorded only where the graph must learn them: a module version not in the registry
  const declare = req.dependencies !== undefined && req.dependencies.length > 0 && recorded.length === 0;
  return { ok: true, ...(declare && { dependencies: req.dependencies }), ...(override && { override }) };
}

/**
 * Judges a rollback: every node it would take back to `previous(node)` (null: the module goes)
 * must leave the modules running there satisfied.
 */
export async function judgeRollback(
  store: ReadStore,
  rollback: { moduleName: string; environment: string; previous: ReadonlyMap<string, string | null>; force?: boolean },
  principal: { sub: string; roles: readonly Role[] },
): Promise<Verdict> {
  const reader = new GraphReader(store);
  const nodes = (await targetNodes(store, rollback.environment)).filter((n) => rollback.previous.has(n.nodeId));
  const dependents = await broken(reader, rollback.moduleName, nodes, (n) => rollback.previous.get(n.nodeId) ?? null);
  const override = allowForce(rollback.force, principal, dependents);
  if (dependents.length && !override) return { ok: false, refusal: dependentsRefusal(`rolling back ${rollback.moduleName}`, dependents) };
  return { ok: true, ...(override && { override }) };
}

/**
 * A manual rollback of a deployment, judged like judgeRollback: nodes it touched go back to the
 * version each ran before. Nothing to judge (ok) for a deployment that is not there or cannot be
 * rolled back: the command answers those.
 */
export async function judgeRollbackOf(
  store: ReadStore,
  log: EventLog,
  executionId: string,
  force: boolean | undefined,
  principal: { sub: string; roles: readonly Role[] },
  folds?: DeploymentFolds,
): Promise<Verdict> {
  const { state } = await loadCurrentDeployment(log, executionId, store, folds);
  if (!state.exists || !["Succeeded", "Running", "Paused"].includes(state.status) || !state.targetEnvironment) return { ok: true };
  const previous = new Map(touchedNodeIds(state).map((id) => [id, own(state.nodes, id)?.previousVersion ?? null]));
  if (previous.size === 0) return { ok: true };
  return judgeRollback(store, { moduleName: state.moduleName, environment: state.targetEnvironment, previous, force }, principal);
}

/**
 * What a wave about to start is judged on: the version's dependencies (its registration's, read
 * from the graph, and its request's, read from its DeploymentRequested so a graph still behind
 * cannot hide them), the modules depending on it, the dependents an Admin forced past, and what
 * the wave's nodes run now. Reads the wave's nodes only.
 */
export async function waveDependencyFacts(
  store: ReadStore,
  log: EventLog,
  state: Pick<DeploymentState, "executionId" | "moduleName" | "version">,
  wave: { wave: number; nodeIds: readonly string[] },
): Promise<WaveDependencies> {
  const reader = new GraphReader(store);
  const mv = vertexKey("ModuleVersion", moduleVersionId(state.moduleName, state.version));
  const [edges, dependents, [first], docs] = await Promise.all([
    reader.edgesOut(mv, new Set(["DEPENDS_ON" as const]), { at: NOW }),
    dependentsOf(reader, state.moduleName),
    log.readStream(streams.deployment(state.executionId), { maxCount: 1 }),
    wave.nodeIds.length ? store.collection<NodeDoc>(NODES).find({ _id: { $in: [...wave.nodeIds] } }) : Promise.resolve([]),
  ]);
  const requested = first?.type === "DeploymentRequested" ? (first.data as DeploymentEventOf<"DeploymentRequested">["data"]) : undefined;
  const needs = new Map<string, { name: string; range: string }>();
  for (const d of [...edges.map((e) => ({ name: e.to.slice("Module:".length), range: String(e.props.range) })), ...(requested?.dependencies ?? [])]) {
    needs.set(`${d.name}\n${d.range}`, d);
  }
  return {
    wave: wave.wave,
    needs: [...needs.values()],
    dependents,
    forced: (requested?.dependencyOverride?.dependents ?? []).map(({ nodeId, module, version }) => ({ nodeId, module, version })),
    nodes: docs.map((d) => ({ nodeId: d.nodeId, modules: d.modules })).sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1)),
  };
}
