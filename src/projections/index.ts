import { auditProjections } from "./audit.js";
import { clustersProjection } from "./clusters.js";
import { deploymentsProjection } from "./deployments.js";
import { desiredStateProjection } from "./desired-state.js";
import { graphProjection } from "./graph.js";
import { moduleVersionsProjection } from "./modules.js";
import { nodeOutcomesProjection, nodesProjection } from "./nodes.js";
import type { Projection } from "./projection.js";

/** Every read model the service maintains. */
export function allProjections(options: { auditRetentionMs?: number } = {}): Projection[] {
  return [
    deploymentsProjection as unknown as Projection,
    nodesProjection,
    nodeOutcomesProjection,
    desiredStateProjection,
    clustersProjection,
    graphProjection as unknown as Projection,
    moduleVersionsProjection as unknown as Projection,
    ...auditProjections({ retentionMs: options.auditRetentionMs }),
  ];
}
