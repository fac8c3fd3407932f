import { auditEvents } from "./audit.js";
import type { EventDefinition } from "./define.js";
import { clusterEvents } from "./cluster.js";
import { deploymentEvents } from "./deployment.js";
import { idempotencyEvents } from "./idempotency.js";
import { moduleEvents } from "./module.js";
import { nodeEvents } from "./node.js";
import { secretEvents } from "./secret.js";
import { userEvents } from "./user.js";

export type Catalog = ReadonlyMap<string, EventDefinition>;

export function buildCatalog(definitions: readonly EventDefinition[]): Catalog {
  const map = new Map<string, EventDefinition>();
  for (const d of definitions) {
    if (map.has(d.type)) throw new Error(`event type ${d.type} defined twice`);
    map.set(d.type, d);
  }
  return map;
}

/** Every event type the system writes. */
export const catalog: Catalog = buildCatalog([...userEvents, ...deploymentEvents, ...nodeEvents, ...clusterEvents, ...idempotencyEvents, ...auditEvents, ...secretEvents, ...moduleEvents]);
