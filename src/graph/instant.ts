import type { EventLog } from "../events/event-log.js";

/**
 * The position of the last event that occurred at or before `at` (0 when none): the graph as of an
 * instant is the graph at that position. A binary search over the log, one single-event read per
 * step (about 20 for a million events), whatever adapter holds it: positions need not be dense.
 * It takes event times to grow with positions, as they do for one writer; instances whose clocks
 * disagree can shift the boundary by that disagreement.
 */
export async function positionAt(log: EventLog, at: string, head?: number): Promise<number> {
  const limit = Date.parse(at);
  let lo = 0;
  let hi = head ?? (await log.headPosition());
  while (lo < hi) {
    const mid = lo + Math.ceil((hi - lo) / 2);
    const [first] = await log.readAll({ after: mid - 1, maxCount: 1 });
    if (first && first.position <= hi && Date.parse(first.metadata.occurredAt) <= limit) lo = first.position;
    else hi = mid - 1;
  }
  return lo;
}
