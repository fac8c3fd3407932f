import type { ClusterEvent } from "../events/catalog/cluster.js";
import { streamPrefixes } from "../events/streams.js";
import type { Thresholds } from "../strategies/health-analysis.js";
import type { Environment, StrategyName } from "../strategies/settings.js";
import type { ProjectedDoc, Projection } from "./projection.js";

export const CLUSTERS = "fleet_clusters";

/** A cluster's settings; node counts are computed from the nodes read model when asked. */
export interface ClusterDoc extends ProjectedDoc {
  environment: Environment;
  strategy: StrategyName;
  thresholds: Thresholds;
  provisionedAt: string;
  updatedAt: string;
}

export const clustersProjection: Projection<ClusterDoc> = {
  name: "fleet-clusters",
  version: 1,
  collection: CLUSTERS,
  filter: { streamPrefixes: [streamPrefixes.cluster] },
  keys: (e) => (e.type === "ClusterProvisioned" || e.type === "ClusterSettingsChanged" ? [(e.data as { environment: string }).environment] : []),
  apply(doc, recorded) {
    const event = recorded as unknown as ClusterEvent;
    const { environment, strategy, thresholds, at } = event.data;
    return { _id: environment, environment, strategy, thresholds, provisionedAt: doc?.provisionedAt ?? at, updatedAt: at };
  },
};
