// Plain-text rendering for the CLI: one-line event summaries, a deployment summary, and the
// live block `korch watch` redraws on a terminal.
import type { ClusterSummary, DeploymentView, FeedEvent } from "./types.js";

const SUMMARY_KEYS = ["stage", "wave", "nodeId", "version", "from", "to", "by", "message", "reason", "error"] as const;

/** "12:00:01 WaveStarted wave=1 ..." from whichever well-known fields the event carries. */
export function eventLine(event: FeedEvent): string {
  const data = event.data.data as Record<string, unknown>;
  const parts = SUMMARY_KEYS.filter((k) => data[k] !== undefined && data[k] !== null && data[k] !== "").map((k) => `${k}=${String(data[k])}`);
  if (Array.isArray(data.nodeIds)) parts.push(`nodes=${data.nodeIds.length}`);
  const time = event.data.occurredAt.slice(11, 19);
  return `${time} #${event.id} ${event.type}${parts.length ? " " + parts.join(" ") : ""}`;
}

export function progressBar(percent: number, width = 30): string {
  const filled = Math.round((Math.max(0, Math.min(100, percent)) / 100) * width);
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${String(percent).padStart(3)}%`;
}

/** wave/batch position and node counts (of every node, not the page the view holds), e.g. "wave 2/4 (30%)  nodes 6/20 updated" */
export function progressLine(view: DeploymentView): string {
  const current = view.waves.find((w) => w.status === "running" || w.status === "analyzing") ?? [...view.waves].reverse().find((w) => w.status !== "pending");
  const wave = view.waves.length ? `${view.strategy === "Rolling" ? "batch" : "wave"} ${current ? current.index + 1 : 0}/${view.waves.length}${current?.label ? ` (${current.label})` : ""}` : "no waves planned";
  const { updated, total, failed } = view.nodeCounts;
  return `${progressBar(view.progress)}  ${wave}  nodes ${updated}/${total} updated${failed ? `, ${failed} failed` : ""}`;
}

/** Also of a list item (a summary), hence only these fields. */
export function headline(view: { moduleName: string; version: string; targetEnvironment: string | null; strategy: string | null; status: string }): string {
  return `${view.moduleName} ${view.version} -> ${view.targetEnvironment ?? "?"} (${view.strategy ?? "?"})  ${view.status}`;
}

export function deploymentText(view: DeploymentView): string {
  const lines = [
    `${view.executionId}`,
    headline(view),
    progressLine(view),
    `requested by ${view.requestedBy} <${view.requesterEmail}> at ${view.createdAt ?? "?"}`,
  ];
  if (view.approval.status !== "NotRequired") lines.push(`approval: ${view.approval.status}${view.approval.decidedBy ? ` by ${view.approval.decidedBy}` : ""}${view.approval.reason ? ` (${view.approval.reason})` : ""}`);
  for (const s of view.stages) lines.push(`  stage ${s.name.padEnd(9)} ${s.status}${s.message ? `  ${s.message}` : ""}`);
  if (view.failureReason) lines.push(`reason: ${view.failureReason}`);
  return lines.join("\n");
}

/** The block `watch` redraws in place: headline, progress, the last few events. */
export function watchBlock(view: DeploymentView, recent: string[]): string[] {
  return [headline(view), progressLine(view), ...recent.map((l) => `  ${l}`)];
}

export function clustersText(clusters: ClusterSummary[]): string {
  return clusters
    .map((c) => {
      const rest = Object.entries(c)
        .filter(([k, v]) => k !== "environment" && (typeof v !== "object" || v === null))
        .map(([k, v]) => `${k}=${String(v)}`);
      return `${c.environment.padEnd(12)} ${rest.join("  ")}`;
    })
    .join("\n");
}
