// Text for `korch graph …`: what an operator reads at a terminal (--json prints the API answer).
import type { GraphImpactAnswer, GraphMatrixAnswer, GraphQueryAnswer } from "./graph-types.js";

const asOf = (a: { asOf: string | null; position: number }) => (a.asOf ? `as of ${a.asOf} (position ${a.position})` : `now (position ${a.position})`);

export function impactText(a: GraphImpactAnswer): string {
  const what = a.version ? `${a.module} ${a.version}` : a.module;
  const lines = [`impact of ${what}, ${asOf(a)}`];
  if (a.environments.length === 0) lines.push("  runs on no node");
  for (const e of a.environments) {
    lines.push(`  ${e.environment}: ${e.nodes} node(s), ${e.versions.map((v) => `${v.version} x${v.nodes}`).join(", ")}`);
  }
  for (const d of a.deployments) lines.push(`  in flight: ${d.executionId} ${String(d.version)} -> ${String(d.targetEnvironment)} (${String(d.status)})`);
  for (const d of a.dependents) lines.push(`  depended on by ${d.module}@${d.version} (${d.range}, depth ${d.depth})`);
  return lines.join("\n");
}

export function matrixText(a: GraphMatrixAnswer): string {
  const lines = [`what runs where, ${asOf(a)}`];
  for (const row of a.modules) {
    const cells = row.environments.map((c) => `${c.environment} ${c.versions.map((v) => `${v.version} x${v.nodes}`).join(" ")}`);
    lines.push(`  ${row.module}: ${cells.join("; ")}`);
  }
  if (a.modules.length === 0) lines.push("  nothing runs anywhere");
  return lines.join("\n");
}

export function queryText(a: GraphQueryAnswer): string {
  const rows = a.rows.map((r) => a.columns.map((c) => r[c]?.key ?? "-").join("  "));
  return [a.columns.join("  "), ...rows, `${a.count} row(s)${a.truncated ? " (truncated: raise limit)" : ""}, ${asOf(a)}`].join("\n");
}
