import type { z } from "zod";

/** Turns data of schema version n into version n+1. */
export type Upcaster = (data: Record<string, unknown>) => Record<string, unknown>;

export interface EventDefinition<T extends string = string, S extends z.ZodType = z.ZodType> {
  type: T;
  schema: S;
  /** current schema version written on append */
  version: number;
  /** upcasters[i] lifts version i+1 to i+2; length must be version - 1 */
  upcasters: Upcaster[];
}

export function defineEvent<T extends string, S extends z.ZodType>(
  type: T,
  schema: S,
  options: { version?: number; upcasters?: Upcaster[] } = {},
): EventDefinition<T, S> {
  const version = options.version ?? 1;
  const upcasters = options.upcasters ?? [];
  if (upcasters.length !== version - 1) throw new Error(`${type}: need ${version - 1} upcasters, got ${upcasters.length}`);
  return { type, schema, version, upcasters };
}

/** The domain event union of a list of definitions, typed from their zod schemas. */
export type EventsOf<D extends readonly EventDefinition[]> = {
  [K in keyof D]: D[K] extends EventDefinition<infer T, infer S> ? { type: T; data: z.infer<S> } : never;
}[number];
