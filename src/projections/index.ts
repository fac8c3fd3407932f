import { deploymentsProjection } from "./deployments.js";
import type { Projection } from "./projection.js";

/** Every read model the service maintains. */
export function allProjections(): Projection[] {
  return [deploymentsProjection as unknown as Projection];
}
