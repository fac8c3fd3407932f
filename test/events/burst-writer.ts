// Child process of two-processes.test.ts: appends `count` single events with "any" to a few
// streams of a shared SQLite file, as fast as it can, then prints how many were acknowledged.
import { randomUUID } from "node:crypto";
import { SqliteEventStore } from "../../src/events/store/sqlite.js";

const [file, name, countArg, writer] = process.argv.slice(2);
if (!file || !name || !countArg) throw new Error("usage: burst-writer <file> <name> <count> [inline|thread]");
const store = new SqliteEventStore({ file, writer: writer === "thread" ? "thread" : "inline" });
let acked = 0;
for (let i = 0; i < Number(countArg); i++) {
  const metadata = {
    eventId: randomUUID(),
    occurredAt: new Date().toISOString(),
    actor: { kind: "system" as const, id: name },
    correlationId: name,
    causationId: name,
    schemaVersion: 1,
    tenantId: "default",
  };
  // half of the appends go to a stream both processes write, so they contend on revisions too
  await store.append(i % 2 ? `shared-${i % 3}` : `${name}-${i % 3}`, [{ type: "Written", data: { i }, metadata }], "any");
  acked++;
}
await store.close();
process.stdout.write(JSON.stringify({ acked }) + "\n");
