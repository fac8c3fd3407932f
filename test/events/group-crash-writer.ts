// Child process of crash-safety.test.ts: appends in rounds of concurrent appends, which the SQLite
// store commits as one group (one transaction, one fsync). Before a round it prints the round's
// intents; after each append settles, an ack (or the conflict it expected). The parent kills it
// with SIGKILL at an arbitrary moment, most likely inside a group's fsync.
import { SqliteEventStore } from "../../src/events/store/sqlite.js";
import { WrongExpectedRevisionError } from "../../src/events/store/port.js";
import { newEvent } from "../contracts/event-store.js";

const [file, writer] = process.argv.slice(2);
if (!file || (writer !== "inline" && writer !== "thread")) throw new Error("usage: group-crash-writer <file> inline|thread");
// inline is how the server commits; "thread" is the opt-in writer thread
const store = new SqliteEventStore({ file, synchronous: "FULL", writer });
const WRITERS = 24;

const event = (round: number, w: number, k: number) =>
  newEvent("GroupCrashTested", { round, w, k }, { actor: { kind: "system", id: "group-crash-writer" }, correlationId: "crash", causationId: "crash" });

// the process is the only writer, so it knows every stream's revision (it may be reopening a file)
const revisions = new Map<string, number>();
let round = 0;
for (const e of await store.readAll()) {
  revisions.set(e.streamId, e.revision);
  round = Math.max(round, (e.data as { round: number }).round + 1);
}

const say = (line: object) => process.stdout.write(JSON.stringify(line) + "\n");
for (; ; round++) {
  const appends = Array.from({ length: WRITERS }, (_, w) => {
    const stream = `group-${w}`;
    const events = Array.from({ length: 1 + ((round + w) % 3) }, (_, k) => event(round, w, k));
    return { stream, events, expected: revisions.get(stream) ?? ("no_stream" as const) };
  });
  // one append per round that must fail on its own (a stale revision), amid the others
  const stale = { stream: "group-0", events: [event(round, -1, 0)], expected: 1_000_000 };
  say({ round, intents: appends.map((a) => ({ stream: a.stream, ids: a.events.map((e) => e.metadata.eventId) })), stale: stale.events[0]!.metadata.eventId });
  const staleDone = store.append(stale.stream, stale.events, stale.expected).then(
    () => say({ round, staleAccepted: true }),
    (err: unknown) => {
      if (!(err instanceof WrongExpectedRevisionError)) throw err;
    },
  );
  await Promise.all([
    staleDone,
    ...appends.map(async (a) => {
      const r = await store.append(a.stream, a.events, a.expected);
      revisions.set(a.stream, r.nextRevision);
      say({ round, ack: a.events.map((e) => e.metadata.eventId), stream: a.stream, position: r.position, nextRevision: r.nextRevision });
    }),
  ]);
}
