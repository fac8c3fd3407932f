import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { z } from "zod";
import { EventMetadataSchema, type RecordedEvent } from "./envelope.js";
import type { EventStore } from "./store/port.js";

/** One exported event: the envelope exactly as stored (no upcasting, so an import is a faithful copy). */
export const ExportedEventSchema = z.object({
  type: z.string().min(1),
  streamId: z.string().min(1),
  revision: z.number().int().min(0),
  position: z.number().int().min(1),
  data: z.unknown(),
  metadata: EventMetadataSchema.passthrough(),
});

export function toNdjsonLine(event: RecordedEvent): string {
  const { type, streamId, revision, position, data, metadata } = event;
  return JSON.stringify({ type, streamId, revision, position, data, metadata }) + "\n";
}

/** Parses NDJSON envelopes, naming the line of the first bad one. Blank lines are skipped. */
export async function* readNdjson(input: Readable): AsyncGenerator<RecordedEvent> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    n++;
    if (!line.trim()) continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new Error(`line ${n}: not JSON`);
    }
    const parsed = ExportedEventSchema.safeParse(value);
    if (!parsed.success) throw new Error(`line ${n}: not an event envelope: ${parsed.error.issues.map((i) => `${i.path.join(".")} ${i.message}`).join("; ")}`);
    yield parsed.data as RecordedEvent;
  }
}

/** Writes the events with from <= position <= to, in global order, page by page. Returns how many. */
export async function exportEvents(
  store: EventStore,
  range: { from?: number; to?: number },
  write: (chunk: string) => Promise<void> | void,
  pageSize = 1000,
): Promise<number> {
  let after = Math.max(0, (range.from ?? 1) - 1);
  const to = range.to ?? Infinity;
  let count = 0;
  for (;;) {
    const page = await store.readAll({ after, maxCount: pageSize });
    let chunk = "";
    for (const e of page) {
      if (e.position > to) break;
      chunk += toNdjsonLine(e);
      count++;
    }
    if (chunk) await write(chunk);
    if (page.length < pageSize || page.at(-1)!.position >= to) return count;
    after = page.at(-1)!.position;
  }
}

export class ImportRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ImportRefusedError";
  }
}

export interface ImportResult {
  events: number;
  streams: number;
  /** events that landed at a different global position than recorded (a partial or gapped export) */
  movedPositions: number;
}

/**
 * Loads exported events into an EMPTY store in their global order, keeping event ids and
 * metadata. Consecutive events of one stream are appended together with the expected revision
 * the recorded revisions imply (no_stream before revision 0), so a gap or a reordering in the
 * file fails loudly instead of producing a different history.
 */
export async function importEvents(store: EventStore, events: AsyncIterable<RecordedEvent> | Iterable<RecordedEvent>, batchSize = 500): Promise<ImportResult> {
  if ((await store.headPosition()) > 0) throw new ImportRefusedError("the target event store is not empty; import only into a fresh store");
  const streams = new Set<string>();
  const result: ImportResult = { events: 0, streams: 0, movedPositions: 0 };
  let batch: RecordedEvent[] = [];
  let lastPosition = 0;
  const flush = async () => {
    if (!batch.length) return;
    const first = batch[0]!;
    const expected = first.revision === 0 ? "no_stream" : first.revision - 1;
    const written = await store.append(
      first.streamId,
      batch.map((e) => ({ type: e.type, data: e.data, metadata: e.metadata })),
      expected,
    );
    // positions in a fresh store are assigned 1, 2, ...: compare with what was recorded
    const firstNew = written.position - batch.length + 1;
    batch.forEach((e, i) => {
      if (e.position !== firstNew + i) result.movedPositions++;
    });
    result.events += batch.length;
    streams.add(first.streamId);
    batch = [];
  };
  for await (const e of events) {
    if (e.position <= lastPosition) throw new ImportRefusedError(`events out of order: position ${e.position} after ${lastPosition}`);
    lastPosition = e.position;
    const prev = batch.at(-1);
    if (prev && (prev.streamId !== e.streamId || batch.length >= batchSize)) await flush();
    const tail = batch.at(-1);
    if (tail && e.revision !== tail.revision + 1) throw new ImportRefusedError(`${e.streamId}: revision ${e.revision} follows ${tail.revision}`);
    batch.push(e);
  }
  await flush();
  result.streams = streams.size;
  return result;
}
