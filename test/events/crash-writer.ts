// Child process of crash-safety.test.ts: appends to a SQLite event store as fast as it can and
// prints one JSON line before each append ("intent") and one after it is acknowledged ("ack").
// The parent kills it with SIGKILL at an arbitrary moment.
import { SqliteEventStore } from "../../src/events/store/sqlite.js";
import { newEvent } from "../contracts/event-store.js";

const file = process.argv[2];
if (!file) throw new Error("usage: crash-writer <file>");
const store = new SqliteEventStore({ file, synchronous: "FULL" });

const event = (i: number) => newEvent("CrashTested", { i }, { actor: { kind: "system", id: "crash-writer" }, correlationId: "crash", causationId: "crash" });

// the process is the only writer, so it knows every stream's revision (it may be reopening a file)
const revisions = new Map<string, number>();
for (const e of await store.readAll()) revisions.set(e.streamId, e.revision);

const say = (line: object) => process.stdout.write(JSON.stringify(line) + "\n");
say({ ready: true });
for (let i = 0; ; i++) {
  const stream = `crash-${i % 5}`;
  const size = i % 3 === 0 ? 1 + (i % 4) : 1;
  const batch = Array.from({ length: size }, (_, k) => event(i * 10 + k));
  const ids = batch.map((e) => e.metadata.eventId);
  say({ intent: ids, stream });
  const r = await store.append(stream, batch, revisions.get(stream) ?? "no_stream");
  revisions.set(stream, r.nextRevision);
  say({ ack: ids, stream, position: r.position, nextRevision: r.nextRevision });
}
