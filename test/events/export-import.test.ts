import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { fold } from "../../src/commands/decider.js";
import { deploymentDecider } from "../../src/commands/deployment.js";
import { catalog } from "../../src/events/catalog/index.js";
import { EventLog } from "../../src/events/event-log.js";
import { exportEvents, importEvents, ImportRefusedError, readNdjson } from "../../src/events/ndjson.js";
import { SqliteEventStore } from "../../src/events/store/sqlite.js";
import { allProjections } from "../../src/projections/index.js";
import { replayInto } from "../../src/projections/runner.js";
import { MemoryReadStore } from "../../src/projections/store/memory.js";
import { resolveSettings } from "../../src/strategies/settings.js";

const T0 = Date.parse("2026-03-01T10:00:00.000Z");
const t = suite<{ dir: string }>("events export / import");
t.before((ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), "export-import-"));
});
t.after((ctx) => rmSync(ctx.dir, { recursive: true, force: true }));

const meta = (actor: string, i: number) => ({
  actor: { kind: "user" as const, id: actor },
  correlationId: `req-${i}`,
  causationId: `req-${i}`,
  occurredAt: new Date(T0 + i * 1000).toISOString(),
  sourceIp: "10.0.0.7",
  userAgent: "curl/8",
  traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
});

/** Interleaved streams: users logging in and a deployment that gets approved. */
async function seed(log: EventLog): Promise<void> {
  let i = 0;
  const user = (name: string, type: string, data: Record<string, unknown>) =>
    log.append(`user-${name}`, log.envelope([{ type, data: { username: name, ...data } }], [meta("admin", i++)]), "any");
  await user("alice", "UserCreated", { roles: ["Viewer"], passwordHash: "scrypt$x" });
  await user("bob", "UserCreated", { roles: ["Deployer"], passwordHash: "scrypt$y" });
  const requested = deploymentDecider.decide(
    { type: "RequestDeployment", executionId: "ex1", moduleName: "netfilter-ext", version: "2.0.0", targetEnvironment: "Staging", requesterEmail: "d@example.com", requestedBy: "bob", settings: resolveSettings("Staging", {}), now: T0 },
    deploymentDecider.initialState,
  );
  if (!Array.isArray(requested)) throw new Error("decide failed");
  await log.append("deployment-ex1", log.envelope(requested, (k) => meta("bob", i++ + k)), "no_stream");
  i += requested.length;
  await user("alice", "UserLoggedIn", {});
  await user("alice", "UserRolesChanged", { roles: ["Deployer"] });
  const approved = deploymentDecider.decide({ type: "Approve", by: "admin", reason: "ok", now: T0 + 60_000 }, fold(deploymentDecider, requested));
  if (!Array.isArray(approved)) throw new Error("decide failed");
  await log.append("deployment-ex1", log.envelope(approved, (k) => meta("admin", i++ + k)), requested.length - 1);
  await user("bob", "UserLoginFailed", { failedAttempts: 1 });
}

async function readModels(log: EventLog) {
  const store = new MemoryReadStore({ ttlIntervalMs: 0 });
  const projections = allProjections({ auditRetentionMs: 1e15 });
  await replayInto(store, await log.readAll(), projections);
  const out: Record<string, unknown[]> = {};
  for (const p of projections) out[p.collection] = await store.collection(p.collection).find({}, { sort: { _id: 1 } });
  return out;
}

t("export then import into a fresh store gives the same events and identical read models", async ({ dir }) => {
  const source = new SqliteEventStore({ file: join(dir, "a.db") });
  const sourceLog = new EventLog(source, catalog);
  await seed(sourceLog);
  let ndjson = "";
  const exported = await exportEvents(source, {}, (chunk) => {
    ndjson += chunk;
  }, 3);
  assert.is(exported, await source.headPosition());
  assert.is(ndjson.trim().split("\n").length, exported);

  const target = new SqliteEventStore({ file: join(dir, "b.db") });
  const result = await importEvents(target, readNdjson(Readable.from([ndjson])));
  assert.is(result.events, exported);
  assert.is(result.streams, 3);
  assert.is(result.movedPositions, 0);
  assert.equal(await target.readAll(), await source.readAll(), "same envelopes, ids, metadata, revisions and positions");

  const targetLog = new EventLog(target, catalog);
  const a = await readModels(sourceLog);
  const b = await readModels(targetLog);
  assert.is(a.audit_log?.length, exported, "one audit entry per event");
  assert.ok((a.deployments?.length ?? 0) === 1);
  assert.equal(b, a);

  // refuses a non-empty store
  try {
    await importEvents(target, readNdjson(Readable.from([ndjson])));
    assert.unreachable("should refuse");
  } catch (err) {
    assert.instance(err, ImportRefusedError);
  }
  await source.close();
  await target.close();
});

t("a range export; a partial import that breaks revision order fails loudly", async ({ dir }) => {
  const source = new SqliteEventStore({ file: join(dir, "c.db") });
  await seed(new EventLog(source, catalog));
  let ndjson = "";
  assert.is(await exportEvents(source, { from: 3, to: 5 }, (c) => void (ndjson += c)), 3);
  const positions = ndjson.trim().split("\n").map((l) => (JSON.parse(l) as { position: number }).position);
  assert.equal(positions, [3, 4, 5]);
  const target = new SqliteEventStore({ file: join(dir, "d.db") });
  // position 3 is deployment-ex1 revision 0, but 4 and 5 continue it; starting from 5 alone must fail
  let mid = "";
  await exportEvents(source, { from: 5, to: 5 }, (c) => void (mid += c));
  const rev = (JSON.parse(mid) as { revision: number }).revision;
  assert.ok(rev > 0, "position 5 is inside the deployment stream");
  let failed = false;
  await importEvents(target, readNdjson(Readable.from([mid]))).catch(() => (failed = true));
  assert.ok(failed, "an event whose predecessors are missing cannot be appended");
  assert.is(await target.headPosition(), 0);
  await source.close();
  await target.close();
});

t("events of a type this code does not know, and of an older schema version, are exported and imported verbatim: they are data", async ({ dir }) => {
  const source = new SqliteEventStore({ file: join(dir, "e.db") });
  await seed(new EventLog(source, catalog));
  const base = (await source.readStream("user-alice"))[0]!.metadata;
  await source.append("deployment-ex1", [{ type: "FutureThingHappened", data: { shape: { only: ["newer", "code"] } }, metadata: { ...base, eventId: "5b1c3d4e-0000-4000-8000-000000000001" } }], "any");
  await source.append("future-1", [{ type: "FutureThingHappened", data: { n: 1 }, metadata: { ...base, eventId: "5b1c3d4e-0000-4000-8000-000000000002", schemaVersion: 7 } }], "no_stream");
  let ndjson = "";
  await exportEvents(source, {}, (c) => void (ndjson += c));
  assert.ok(ndjson.includes('"type":"FutureThingHappened"'));
  const target = new SqliteEventStore({ file: join(dir, "f.db") });
  await importEvents(target, readNdjson(Readable.from([ndjson])));
  assert.equal(await target.readAll(), await source.readAll(), "byte for byte the same envelopes, unknown ones included");
  // this code's typed view of the copy skips them, as it does on the original
  const typed = await new EventLog(target, catalog).readAll();
  assert.not.ok(typed.some((e) => e.type === "FutureThingHappened"));
  assert.is(typed.length, (await target.readAll()).length - 2);
  await source.close();
  await target.close();
});

t("bad lines are named", async () => {
  try {
    for await (const _ of readNdjson(Readable.from(['{"type":"X"}\n']))) void _;
    assert.unreachable();
  } catch (err) {
    assert.match((err as Error).message, /^line 1: not an event envelope/);
  }
});

t.run();
