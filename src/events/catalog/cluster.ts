import type { EventDefinition } from "./define.js";

// Filled by the fleet domain.
export const clusterEvents = [] as const satisfies readonly EventDefinition[];
