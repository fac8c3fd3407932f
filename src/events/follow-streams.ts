import type { RecordedEvent } from "./envelope.js";
import type { EventLog } from "./event-log.js";
import type { Attachment, LiveFeed } from "./live-feed.js";

const CATCH_UP_BATCH = 1000;

/**
 * Follows the streams under `prefix` for an in-memory fold kept on every instance (users,
 * secrets): reads the log up to the feed's position at the call, calls `caughtUp` with that
 * position, then applies what the feed delivers. Events the feed delivers during the catch-up wait
 * their turn, so `apply` sees log order; it may see an event twice (catch-up and feed) and must
 * skip positions it has applied. Resolves with the feed attachment, to detach on stop.
 */
export async function followStreams(
  log: EventLog,
  feed: LiveFeed,
  prefix: string,
  apply: (event: RecordedEvent) => void,
  caughtUp: (position: number) => void,
): Promise<Attachment> {
  let buffered: RecordedEvent[] | undefined = [];
  const attachment = feed.attach((event) => {
    if (buffered) buffered.push(event);
    else apply(event);
  });
  const upTo = attachment.position;
  try {
    for (let after = 0; ; ) {
      const batch = await log.readAll({ after, maxCount: CATCH_UP_BATCH, filter: { streamPrefixes: [prefix] } });
      for (const event of batch) if (event.position <= upTo) apply(event);
      const last = batch.at(-1);
      if (batch.length < CATCH_UP_BATCH || !last || last.position >= upTo) break;
      after = last.position;
    }
  } catch (err) {
    // nobody gets the attachment to detach: left attached, the feed would buffer every event
    attachment.detach();
    throw err;
  }
  caughtUp(upTo);
  for (const event of buffered) apply(event);
  buffered = undefined;
  return attachment;
}
