// The SQLite store serves reads of what it committed lately from memory (its commit tail). For
// any log, written by it and by a second writer on the same file in any interleaving (groups with
// conflicts and retries among them, odd text in names), any filter, `after` and `maxCount`, its
// readAll and its subscriptions give exactly what a plain read of SQLite gives: the same events,
// in the same order, none lost or repeated. Small tail bounds make eviction part of every run.
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { NewEvent, RecordedEvent } from "../../src/events/envelope.js";
import type { EventFilter, ExpectedRevision } from "../../src/events/store/port.js";
import { SqliteEventStore } from "../../src/events/store/sqlite.js";

// names with text SQLite compares or returns otherwise than JS (NUL, lone surrogates) among plain ones
const STREAMS = ["a", "ab", "b-1", "é", "😀x", "a\0b", "\uD800z"];
const PREFIXES = ["", "a", "ab", "b", "é", "😀", "\uD83D", "a\0"];
const TYPES = ["T1", "T2", "t\0", "U\uDC00"];

interface Append {
  by: "own" | "other";
  stream: string;
  types: string[];
  /** the revision expected: "any", or a guess that may conflict */
  expected: "any" | "no_stream" | number;
  /** sent again with the same ids afterwards (an idempotent retry) */
  retry: boolean;
}
/** appends sent in one turn, so that they share one group commit */
type Step = Append[];

const appendArb: fc.Arbitrary<Append> = fc.record({
  by: fc.constantFrom("own" as const, "own" as const, "other" as const),
  stream: fc.constantFrom(...STREAMS),
  types: fc.array(fc.constantFrom(...TYPES), { minLength: 0, maxLength: 3 }),
  expected: fc.oneof(fc.constant("any" as const), fc.constant("no_stream" as const), fc.integer({ min: 0, max: 3 })),
  retry: fc.boolean(),
});

const filterArb: fc.Arbitrary<EventFilter | undefined> = fc.option(
  fc.record({ streamPrefixes: fc.array(fc.constantFrom(...PREFIXES), { maxLength: 2 }), eventTypes: fc.array(fc.constantFrom(...TYPES), { maxLength: 2 }) }, { requiredKeys: [] }),
  { nil: undefined },
);

const readArb = fc.record({ after: fc.integer({ min: 0, max: 40 }), maxCount: fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined }), filter: filterArb });

function envelope(type: string, i: number): NewEvent {
  return {
    type,
    data: { i, text: "x\u0000\uD800" },
    metadata: { eventId: randomUUID(), occurredAt: new Date().toISOString(), actor: { kind: "system", id: "p" }, correlationId: "c", causationId: "c", schemaVersion: 1, tenantId: "default" },
  };
}

/** Reads the subscription has delivered until it has as many as expected (or a while passed). */
async function until(seen: RecordedEvent[], count: number): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (seen.length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
  // a repeated event would show as one too many
  await new Promise((r) => setTimeout(r, 10));
}

interface Read {
  after: number;
  maxCount: number | undefined;
  filter: EventFilter | undefined;
}

async function check(mode: "inline" | "thread", steps: Step[], reads: Read[], live: { after: number; filter: EventFilter | undefined }, tailEvents: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "commit-tail-prop-"));
  const file = join(dir, "events.db");
  const own = new SqliteEventStore({ file, writer: mode, pollIntervalMs: 3, commitTail: { maxEvents: tailEvents, maxChars: 40 * tailEvents } });
  const other = new SqliteEventStore({ file });
  // appends nothing: its tail stays empty, so it reads SQLite
  const plain = new SqliteEventStore({ file });
  const seen: RecordedEvent[] = [];
  const sub = own.subscribe({ after: live.after, ...(live.filter && { filter: live.filter }) }, (e) => {
    seen.push(e);
  });
  try {
    let n = 0;
    for (const step of steps) {
      const sent = step.map((a) => {
        const store = a.by === "own" ? own : other;
        const events = a.types.map((t) => envelope(t, n++));
        const expected: ExpectedRevision = a.expected;
        const first = store.append(a.stream, events, expected).catch(() => undefined);
        return a.retry ? first.then(() => store.append(a.stream, events, expected).catch(() => undefined)) : first;
      });
      await Promise.all(sent);
      for (const r of reads) {
        const options = { after: r.after, ...(r.maxCount !== undefined && { maxCount: r.maxCount }), ...(r.filter && { filter: r.filter }) };
        assert.equal(await own.readAll(options), await plain.readAll(options), JSON.stringify(options));
      }
    }
    const expected = await plain.readAll({ after: live.after, ...(live.filter && { filter: live.filter }) });
    await until(seen, expected.length);
    assert.equal(seen, expected, "the live subscription");
  } finally {
    await sub.stop();
    await Promise.all([own.close(), other.close(), plain.close()]);
    rmSync(dir, { recursive: true, force: true });
  }
}

const scenario = fc.record({
  steps: fc.array(fc.array(appendArb, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 8 }),
  reads: fc.array(readArb, { minLength: 1, maxLength: 4 }),
  live: fc.record({ after: fc.integer({ min: 0, max: 6 }), filter: filterArb }),
  tailEvents: fc.integer({ min: 1, max: 12 }),
});

test("inline commits: tail reads and subscriptions equal SQLite reads, with a second writer interleaving", async () => {
  await fc.assert(
    fc.asyncProperty(scenario, (s) => check("inline", s.steps, s.reads, s.live, s.tailEvents)),
    { numRuns: 60 },
  );
});

test("commits on the writer thread (positions heard by message, after SQLite shows them): the same", async () => {
  await fc.assert(
    fc.asyncProperty(scenario, (s) => check("thread", s.steps, s.reads, s.live, s.tailEvents)),
    { numRuns: 12 },
  );
});

test.run();
