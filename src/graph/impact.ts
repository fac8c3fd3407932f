// The blast radius of a module (or some of its versions): where it runs, what is on its way out to
// more nodes, what depends on it (transitively), and who vouched for its bytes.
import semver from "semver";
import { invalid, notFound } from "../commands/errors.js";
import { byString, EDGE_TYPES, moduleVersionId, splitModuleVersion, TERMINAL_STATUSES, vertexKey, type VertexKey } from "./model.js";
import type { GraphReader, ReadOptions } from "./reader.js";
import type { Budget } from "./budget.js";

const only = <T extends keyof typeof EDGE_TYPES>(t: T) => new Set([t]);

/**
 * Which versions a `version` parameter selects: an exact version, or a semver range (pre-releases
 * included, so `>=2.0.0-0` catches `2.0.0-faulty.1`). Versions that are not semver (nodes may
 * report anything) match only exactly.
 */
export function versionMatcher(spec: string | undefined, field = "query.version"): (v: string) => boolean {
  if (spec === undefined) return () => true;
  if (semver.valid(spec)) return (v) => v === spec || (semver.valid(v) !== null && semver.eq(v, spec));
  const range = semver.validRange(spec);
  if (range === null) {
    throw invalid(`version (${spec}) is neither a semantic version nor a range`, { errors: [{ path: field, message: "not a version or range" }] });
  }
  return (v) => v === spec || (semver.valid(v) !== null && semver.satisfies(v, range, { includePrerelease: true }));
}

export async function impact(reader: GraphReader, q: { module: string; version?: string; maxDepth: number }, o: ReadOptions, budget: Budget) {
  const moduleKey = vertexKey("Module", q.module);
  const mod = await reader.vertex(moduleKey, o.at);
  if (!mod) throw notFound(`module ${q.module}`);
  const matches = versionMatcher(q.version);

  const versionKeys = (await reader.edgesIn(moduleKey, only("VERSION_OF"), o)).map((e) => e.from);
  const versions = versionKeys.map((k) => splitModuleVersion(k.slice("ModuleVersion:".length)).version).filter(matches).sort(semverOrder);

  // straight from the (node, module) documents of the module: no edge objects in between
  const nodes: { nodeId: string; environment: string; version: string; since: string; via: string | null }[] = [];
  if (versions.length) {
    await reader.eachRunOf(q.module, o, versions, (slot, interval, epoch) => {
      nodes.push({ nodeId: slot.node, environment: epoch.environment, version: interval.version, since: interval.openedAt, via: interval.via });
    });
  }
  nodes.sort((a, b) => byString(a.environment, b.environment) || byString(a.nodeId, b.nodeId));
  const environments = new Map<string, { environment: string; nodes: string[]; versions: Map<string, number> }>();
  for (const n of nodes) {
    let env = environments.get(n.environment);
    if (!env) environments.set(n.environment, (env = { environment: n.environment, nodes: [], versions: new Map() }));
    env.nodes.push(n.nodeId);
    env.versions.set(n.version, (env.versions.get(n.version) ?? 0) + 1);
  }
  const versionCounts = new Map<string, number>();
  for (const n of nodes) versionCounts.set(n.version, (versionCounts.get(n.version) ?? 0) + 1);

  const mvKeys = versions.map((v) => vertexKey("ModuleVersion", moduleVersionId(q.module, v)));
  const deploymentKeys = (await Promise.all(mvKeys.map((k) => reader.edgesIn(k, only("DEPLOYS"), o)))).flat().map((e) => e.from);
  const deploymentViews = await reader.vertices(deploymentKeys, o.at);
  const inFlight = [...deploymentViews.values()]
    .filter((d) => !TERMINAL_STATUSES.has(String(d.props.status)))
    .map((d) => ({ executionId: d.id, version: d.props.version, targetEnvironment: d.props.targetEnvironment, status: d.props.status }))
    .sort((a, b) => byString(a.executionId, b.executionId));

  return {
    module: q.module,
    version: q.version ?? null,
    versions: versions.map((v) => ({ version: v, nodes: versionCounts.get(v) ?? 0 })),
    environments: [...environments.values()]
      .sort((a, b) => byString(a.environment, b.environment))
      .map((e) => ({ environment: e.environment, nodes: e.nodes.length, nodeIds: e.nodes, versions: [...e.versions].map(([version, count]) => ({ version, nodes: count })) })),
    nodes,
    deployments: inFlight,
    dependents: await dependents(reader, q.module, versions, q.maxDepth, o, budget),
    certificates: await certificates(reader, mvKeys, o, budget),
  };
}

/** semantic versions in semver order, then the rest (nodes may report anything) in string order */
export function semverOrder(a: string, b: string): number {
  const va = semver.valid(a);
  const vb = semver.valid(b);
  if (va && vb) return semver.compare(va, vb);
  return va ? -1 : vb ? 1 : byString(a, b);
}

/**
 * Module versions that depend on the module, and on those, and so on (reverse DEPENDS_ON, to
 * `maxDepth`). At depth 1 `admits` says whether the declared range lets in one of the versions
 * asked about (otherwise that dependent cannot be running on them).
 */
async function dependents(reader: GraphReader, module: string, versions: readonly string[], maxDepth: number, o: ReadOptions, budget: Budget) {
  const out: { module: string; version: string; dependsOn: string; range: string; depth: number; admits: boolean | null }[] = [];
  const seen = new Set<string>([module]);
  let frontier = [module];
  for (let depth = 1; depth <= maxDepth && frontier.length; depth++) {
    budget.visit(frontier.length);
    const next: string[] = [];
    for (const target of frontier) {
      for (const e of await reader.edgesIn(vertexKey("Module", target), only("DEPENDS_ON"), o)) {
        const { name, version } = splitModuleVersion(e.from.slice("ModuleVersion:".length));
        const range = String(e.props.range);
        const valid = semver.validRange(range);
        const admits = depth === 1 && valid ? versions.some((v) => semver.valid(v) !== null && semver.satisfies(v, valid, { includePrerelease: true })) : null;
        out.push({ module: name, version, dependsOn: target, range, depth, admits });
        if (!seen.has(name)) {
          seen.add(name);
          next.push(name);
        }
      }
    }
    frontier = next;
  }
  return out.sort((a, b) => a.depth - b.depth || byString(a.module, b.module) || byString(a.version, b.version));
}

/** The certificates that signed the versions' artifacts, and the ones that issued those. */
async function certificates(reader: GraphReader, mvKeys: readonly VertexKey[], o: ReadOptions, budget: Budget) {
  const found = new Map<VertexKey, { role: "signer" | "issuer"; versions: Set<string> }>();
  for (const mv of mvKeys) {
    const version = splitModuleVersion(mv.slice("ModuleVersion:".length)).version;
    for (const art of await reader.edgesOut(mv, only("HAS_ARTIFACT"), o)) {
      for (const signed of await reader.edgesOut(art.to, only("SIGNED_BY"), o)) {
        let cert: VertexKey | undefined = signed.to;
        let role: "signer" | "issuer" = "signer";
        // up the chain; a loop in bad data must not hang the query
        for (let hops = 0; cert && hops < 16; hops++) {
          budget.visit();
          const entry = found.get(cert) ?? { role, versions: new Set<string>() };
          if (role === "signer") entry.role = "signer";
          entry.versions.add(version);
          found.set(cert, entry);
          const up: VertexKey | undefined = (await reader.edgesOut(cert, only("ISSUED_BY"), o))[0]?.to;
          cert = up && up !== cert ? up : undefined;
          role = "issuer";
        }
      }
    }
  }
  const views = await reader.vertices([...found.keys()], o.at);
  return [...found].map(([key, f]) => ({
    fingerprint256: key.slice("Certificate:".length),
    subject: views.get(key)?.props.subject ?? null,
    role: f.role,
    revoked: views.get(key)?.props.revoked ?? null,
    versions: [...f.versions].sort(semverOrder),
  }));
}
