import type { ClusterEvent } from "../events/catalog/cluster.js";
import type { Thresholds } from "../strategies/health-analysis.js";
import type { Environment, StrategyName } from "../strategies/settings.js";
import type { Decider } from "./decider.js";

export interface ClusterState {
  exists: boolean;
  environment: Environment | null;
  strategy: StrategyName | null;
  thresholds: Thresholds | null;
}

export type ClusterCommand = {
  type: "ProvisionCluster";
  environment: Environment;
  strategy: StrategyName;
  thresholds: Thresholds;
  now: number;
};

export const initialClusterState: ClusterState = { exists: false, environment: null, strategy: null, thresholds: null };

function evolveCluster(state: ClusterState, event: ClusterEvent): ClusterState {
  const { environment, strategy, thresholds } = event.data;
  return { exists: true, environment, strategy, thresholds };
}

// Key order differs between a config object and one read back from the store, so compare by key.
function sameThresholds(a: Thresholds, b: Thresholds): boolean {
  return (Object.keys(a) as (keyof Thresholds)[]).every((k) => a[k] === b[k]) && Object.keys(a).length === Object.keys(b).length;
}

/** A cluster per environment: provisioned once, its settings re-recorded only when config changes them. */
export const clusterDecider: Decider<ClusterState, ClusterCommand, ClusterEvent> = {
  initialState: initialClusterState,
  cacheable: true,
  evolve: evolveCluster,
  decide(command, state) {
    const { environment, strategy, thresholds } = command;
    const data = { environment, strategy, thresholds, at: new Date(command.now).toISOString() };
    if (!state.exists) return [{ type: "ClusterProvisioned", data }];
    if (state.strategy === strategy && state.thresholds && sameThresholds(state.thresholds, thresholds)) return [];
    return [{ type: "ClusterSettingsChanged", data }];
  },
};
