import { test } from "uvu";
import * as assert from "uvu/assert";
import type { EventLog } from "../../src/events/event-log.js";
import { followStreams } from "../../src/events/follow-streams.js";
import { LiveFeed } from "../../src/events/live-feed.js";

test("followStreams: a catch-up read that fails detaches from the feed instead of buffering forever", async () => {
  const log = { readAll: () => Promise.reject(new Error("disk I/O error")) } as unknown as EventLog;
  const feed = new LiveFeed(log);
  let failure: unknown;
  await followStreams(log, feed, "user-", () => {}, () => {}).catch((err: unknown) => (failure = err));
  assert.match(String(failure), /disk I\/O error/);
  assert.is(feed.size, 0, "no listener left attached");
});

test.run();
