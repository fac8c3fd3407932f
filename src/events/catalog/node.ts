import type { EventDefinition } from "./define.js";

// Filled by the fleet domain.
export const nodeEvents = [] as const satisfies readonly EventDefinition[];
