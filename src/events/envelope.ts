import { z } from "zod";

export const ActorSchema = z.object({
  kind: z.enum(["user", "system", "node"]),
  id: z.string().min(1),
});
export type Actor = z.infer<typeof ActorSchema>;

export const EventMetadataSchema = z.object({
  eventId: z.uuid(),
  occurredAt: z.iso.datetime(),
  actor: ActorSchema,
  correlationId: z.string().min(1),
  causationId: z.string().min(1),
  traceparent: z.string().optional(),
  schemaVersion: z.number().int().positive(),
  tenantId: z.string().min(1),
  sourceIp: z.string().optional(),
  userAgent: z.string().optional(),
});
export type EventMetadata = z.infer<typeof EventMetadataSchema>;

/** An event as handed to the store. `data` is validated by the catalog before it gets here. */
export interface NewEvent<T extends string = string, D = unknown> {
  type: T;
  data: D;
  metadata: EventMetadata;
}

/** An event as read back: the store adds where it landed. */
export interface RecordedEvent<T extends string = string, D = unknown> extends NewEvent<T, D> {
  streamId: string;
  /** 0-based revision within the stream */
  revision: number;
  /** global, monotonic position in the whole log; usable as SSE id and consistency token */
  position: number;
}
