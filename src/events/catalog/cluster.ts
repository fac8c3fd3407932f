import { z } from "zod";
import { defineEvent, type EventsOf } from "./define.js";
import { EnvironmentShape, StrategyNameShape, ThresholdsShape } from "./stored-shapes.js";

const iso = z.iso.datetime();

const ClusterSettings = {
  environment: EnvironmentShape,
  strategy: StrategyNameShape,
  thresholds: ThresholdsShape,
  at: iso,
};

export const clusterEvents = [
  /** one cluster per environment, provisioned at start with its settings from config */
  defineEvent("ClusterProvisioned", z.object(ClusterSettings)),
  /** config changed between starts: the default strategy or thresholds differ from the last ones recorded */
  defineEvent("ClusterSettingsChanged", z.object(ClusterSettings)),
] as const;

export type ClusterEvent = EventsOf<typeof clusterEvents>;
