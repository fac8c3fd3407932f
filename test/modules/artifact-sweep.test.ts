// Committed artifact bytes that no event names are removed, and only those: register() commits
// before it appends, so a lost race for one version (or a failed append) leaves bytes behind; the
// mark-and-sweep takes them once the grace period has passed, never bytes an upload between its
// commit and its append is about to name. Time is a manual clock; no test sleeps.
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, readdirSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { DomainError } from "../../src/commands/errors.js";
import type { CommandContext } from "../../src/commands/handler.js";
import { catalog } from "../../src/events/catalog/index.js";
import { EventLog } from "../../src/events/event-log.js";
import { SqliteEventStore } from "../../src/events/store/sqlite.js";
import { streams } from "../../src/events/streams.js";
import { FileArtifactStore } from "../../src/modules/artifacts/file.js";
import { digestOf, type ArtifactStore, type StagedArtifact } from "../../src/modules/artifacts/port.js";
import { register } from "../../src/modules/register.js";
import { ModuleService } from "../../src/modules/service.js";
import type { ModuleUpload } from "../../src/modules/upload.js";
import { ManualClock } from "../../src/platform/clock.js";
import { createLogger } from "../../src/platform/logger.js";
import { ArtifactSweep } from "../../src/processes/artifact-sweep.js";

const GRACE = 3600_000;

interface Ctx {
  dir: string;
  clock: ManualClock;
  store: SqliteEventStore;
  log: EventLog;
  artifacts: FileArtifactStore;
  modules: ModuleService;
  logged: { obj: Record<string, unknown>; msg?: string }[];
  sweeper: (artifacts?: ArtifactStore) => ArtifactSweep;
}

const test = suite<Ctx>("artifact sweep");

test.before.each(async (ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), "korch-artifact-sweep-"));
  ctx.clock = new ManualClock();
  ctx.store = new SqliteEventStore({ file: join(ctx.dir, "events.db"), synchronous: "NORMAL" });
  ctx.log = new EventLog(ctx.store, catalog);
  ctx.artifacts = await FileArtifactStore.open(join(ctx.dir, "artifacts"), { clock: ctx.clock });
  ctx.modules = new ModuleService({ log: ctx.log, artifacts: ctx.artifacts, clock: ctx.clock, logger: createLogger("silent"), dev: true });
  ctx.logged = [];
  const logger = {
    info: (obj: object, msg?: string) => ctx.logged.push({ obj: obj as Record<string, unknown>, msg }),
    warn: (obj: object, msg?: string) => ctx.logged.push({ obj: obj as Record<string, unknown>, msg }),
  };
  ctx.sweeper = (artifacts = ctx.artifacts) => new ArtifactSweep({ log: ctx.log, artifacts, clock: ctx.clock, graceMs: GRACE, logger });
});
test.after.each(async (ctx) => {
  await ctx.artifacts.close();
  await ctx.store.close();
  rmSync(ctx.dir, { recursive: true, force: true });
});

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const moduleBytes = (label: string) => Buffer.concat([Buffer.from(`module ${label}\n`), randomBytes(2048)]);
const stage = (store: ArtifactStore, bytes: Buffer) => store.stage(Readable.from([bytes]), { maxBytes: 1 << 20 });
const ctxOf = (clock: ManualClock): CommandContext => ({ actor: { kind: "user", id: "deployer" }, correlationId: randomUUID(), now: clock.now() });

/** an upload as the route hands it over: form fields and the staged artifact */
async function uploadOf(store: ArtifactStore, name: string, version: string, bytes: Buffer, wrap?: (s: StagedArtifact) => StagedArtifact): Promise<ModuleUpload> {
  const staged = await stage(store, bytes);
  return { fields: new Map([["name", name], ["version", version]]), signature: null, certificates: null, artifact: wrap ? wrap(staged) : staged };
}

/** register() as the route runs it: the staged artifact is discarded whatever happened */
async function registerAs(ctx: Ctx, upload: ModuleUpload) {
  try {
    return await register(ctx.modules, upload, ctxOf(ctx.clock));
  } finally {
    await upload.artifact.discard();
  }
}

/** a registered version beside the orphans: a log that names none of the stored artifacts deletes nothing */
const registerKept = (ctx: Ctx) => uploadOf(ctx.artifacts, "kept", "1.0.0", moduleBytes("kept")).then((u) => registerAs(ctx, u));

/** a staged artifact whose commit runs `after` once it has committed */
const afterCommit = (after: () => Promise<void>) => (s: StagedArtifact): StagedArtifact => ({
  sha256: s.sha256,
  size: s.size,
  read: () => s.read(),
  discard: () => s.discard(),
  commit: async () => {
    await s.commit();
    await after();
  },
});

/** every method passed through, for tests that override one */
const delegate = (inner: ArtifactStore): ArtifactStore => ({
  kind: inner.kind,
  stage: (source, options) => inner.stage(source, options),
  open: (sha256) => inner.open(sha256),
  readAll: (sha256) => inner.readAll(sha256),
  has: (sha256) => inner.has(sha256),
  listCommitted: () => inner.listCommitted(),
  delete: (sha256, options) => inner.delete(sha256, options),
  close: () => inner.close(),
});

async function committed(store: ArtifactStore): Promise<string[]> {
  const out: string[] = [];
  for await (const a of store.listCommitted()) out.push(a.sha256);
  return out.sort();
}

test("two uploads of one version with different bytes race: the loser's bytes go once the grace period has passed, the winner's stay", async (ctx) => {
  const a = moduleBytes("a");
  const b = moduleBytes("b");
  // both read the module before either appends (both commits wait for each other), as two
  // requests at once do: both find no version 1.0.0, both commit, one append wins
  let arrived = 0;
  let release!: () => void;
  const bothCommitted = new Promise<void>((r) => (release = r));
  const barrier = afterCommit(async () => {
    if (++arrived === 2) release();
    await bothCommitted;
  });
  const results = await Promise.allSettled([
    registerAs(ctx, await uploadOf(ctx.artifacts, "netfilter", "1.0.0", a, barrier)),
    registerAs(ctx, await uploadOf(ctx.artifacts, "netfilter", "1.0.0", b, barrier)),
  ]);
  const won = results.filter((r) => r.status === "fulfilled");
  const lost = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
  assert.is(won.length, 1);
  assert.is(lost.length, 1);
  assert.instance(lost[0]!.reason, DomainError);
  assert.is((lost[0]!.reason as DomainError).code, "conflict");
  const [registered] = await ctx.log.readStream(streams.module("netfilter"));
  const winner = (registered!.data as { digest: string }).digest;
  const loser = winner === digestOf(sha(a)) ? sha(b) : sha(a);
  assert.equal(await committed(ctx.artifacts), [sha(a), sha(b)].sort(), "both were committed");

  const sweep = ctx.sweeper();
  let r = await sweep.sweep();
  assert.equal(r.removed, [], "within the grace period the loser's bytes stay (an upload may be between commit and append)");
  assert.is(r.young, 1);
  assert.is(r.referenced, 1);

  ctx.clock.advance(GRACE + 1);
  r = await sweep.sweep();
  assert.equal(r.removed, [{ digest: digestOf(loser), size: 2048 + "module a\n".length }]);
  assert.is(r.referenced, 1);
  assert.equal(await committed(ctx.artifacts), [winner.slice("sha256:".length)]);
  assert.is(await ctx.artifacts.has(loser), false);
  const line = ctx.logged.find((l) => l.msg?.includes("removed committed artifacts"));
  assert.ok(line, "a log line says what went");
  assert.equal(line.obj.removed, r.removed);
  assert.is(line.obj.bytes, r.removed[0]!.size);
});

test("referenced artifacts stay however old; unreferenced ones stay while young and go once old", async (ctx) => {
  const kept = moduleBytes("kept");
  await registerAs(ctx, await uploadOf(ctx.artifacts, "kept", "1.0.0", kept));
  const orphan = await stage(ctx.artifacts, moduleBytes("orphan"));
  await orphan.commit();
  const sweep = ctx.sweeper();

  ctx.clock.advance(GRACE - 1);
  let r = await sweep.sweep();
  assert.equal(r, { removed: [], referenced: 1, young: 1, refused: false });

  ctx.clock.advance(2);
  r = await sweep.sweep();
  assert.equal(r.removed.map((x) => x.digest), [digestOf(orphan.sha256)]);
  assert.is(r.referenced, 1);

  ctx.clock.advance(100 * GRACE);
  r = await sweep.sweep();
  assert.equal(r, { removed: [], referenced: 1, young: 0, refused: false });
  assert.ok((await ctx.artifacts.readAll(sha(kept)))!.equals(kept));
  assert.equal(readdirSync(join(ctx.dir, "artifacts", "tmp")), [], "nothing left aside");
});

test("committing content that is already stored renews its commit time: the grace period starts again", async (ctx) => {
  await registerKept(ctx);
  const bytes = moduleBytes("again");
  await (await stage(ctx.artifacts, bytes)).commit();
  ctx.clock.advance(GRACE + 1);
  // another upload of the same bytes commits them (it is about to append its event)
  const second = await stage(ctx.artifacts, bytes);
  await second.commit();
  const sweep = ctx.sweeper();
  assert.equal((await sweep.sweep()).removed, [], "renewed: young again");
  assert.ok(await ctx.artifacts.has(sha(bytes)));
  assert.equal(readdirSync(join(ctx.dir, "artifacts", "tmp")), [], "the second staged copy is gone");

  ctx.clock.advance(GRACE + 1);
  assert.equal((await sweep.sweep()).removed.map((x) => x.digest), [digestOf(sha(bytes))], "and once that grace period has passed too, unreferenced, it goes");
});

test("a commit between the sweep's listing and its delete wins: the delete is conditional on the commit time", async (ctx) => {
  await registerKept(ctx);
  const bytes = moduleBytes("listed old");
  await (await stage(ctx.artifacts, bytes)).commit();
  ctx.clock.advance(GRACE + 1);
  let deletes = 0;
  // the sweep listed it old and found no event; right then an upload of the same bytes commits
  const racing: ArtifactStore = {
    ...delegate(ctx.artifacts),
    delete: async (sha256, options) => {
      deletes++;
      await (await stage(ctx.artifacts, bytes)).commit();
      return ctx.artifacts.delete(sha256, options);
    },
  };
  const r = await ctx.sweeper(racing).sweep();
  assert.is(deletes, 1, "the sweep tried");
  assert.equal(r.removed, []);
  assert.is(r.young, 1);
  assert.ok((await ctx.artifacts.readAll(sha(bytes)))!.equals(bytes));
  assert.equal(readdirSync(join(ctx.dir, "artifacts", "tmp")), [], "put back, nothing left aside");
});

test("a sweep between register's commit and its append takes the bytes: register commits them again after the append", async (ctx) => {
  await registerKept(ctx);
  const bytes = moduleBytes("slow append");
  const sweep = ctx.sweeper();
  let swept: string[] = [];
  // the append comes later than the grace period after the commit (a stalled event store, a
  // paused process), and a sweep runs in between: no event names the bytes yet, so they go
  const upload = await uploadOf(ctx.artifacts, "slow", "2.0.0", bytes, afterCommit(async () => {
    ctx.clock.advance(GRACE + 1);
    swept = (await sweep.sweep()).removed.map((x) => x.digest);
  }));
  const r = await registerAs(ctx, upload);
  assert.equal(swept, [digestOf(sha(bytes))], "the sweep took them in between");
  assert.is(r.created, true);
  assert.is(r.digest, digestOf(sha(bytes)));
  assert.ok((await ctx.artifacts.readAll(sha(bytes)))!.equals(bytes), "the registered version's bytes are there");
  assert.equal(readdirSync(join(ctx.dir, "artifacts", "tmp")), [], "no staged leftovers");
  // and referenced now, they stay
  ctx.clock.advance(10 * GRACE);
  assert.equal((await sweep.sweep()).removed, []);
});

test("the same version uploaded again puts back bytes its registration lost", async (ctx) => {
  const bytes = moduleBytes("lost");
  await registerAs(ctx, await uploadOf(ctx.artifacts, "lost", "1.0.0", bytes));
  await ctx.artifacts.delete(sha(bytes));
  const again = await registerAs(ctx, await uploadOf(ctx.artifacts, "lost", "1.0.0", bytes));
  assert.is(again.created, false);
  assert.ok((await ctx.artifacts.readAll(sha(bytes)))!.equals(bytes));
});

test("two sweeps at once: each artifact is deleted once, both finish", async (ctx) => {
  const orphans = [];
  for (let i = 0; i < 5; i++) {
    const s = await stage(ctx.artifacts, moduleBytes(`orphan ${i}`));
    await s.commit();
    orphans.push(s.sha256);
  }
  await registerKept(ctx);
  ctx.clock.advance(GRACE + 1);
  // two instances: two sweepers over the same store
  const [a, b] = await Promise.all([ctx.sweeper().sweep(), ctx.sweeper().sweep()]);
  const removed = [...a.removed, ...b.removed].map((x) => x.digest).sort();
  assert.equal(removed, orphans.map(digestOf).sort());
  assert.is((await committed(ctx.artifacts)).length, 1);
  assert.equal(readdirSync(join(ctx.dir, "artifacts", "tmp")), []);
});

test("a log that names none of the stored artifacts (empty, or not theirs) deletes nothing and says so", async (ctx) => {
  const stored = [];
  for (let i = 0; i < 3; i++) {
    const s = await stage(ctx.artifacts, moduleBytes(`belongs elsewhere ${i}`));
    await s.commit();
    stored.push(s.sha256);
  }
  ctx.clock.advance(10 * GRACE);
  const sweep = ctx.sweeper();
  let r = await sweep.sweep();
  assert.equal(r, { removed: [], referenced: 0, young: 0, refused: true });
  assert.equal(await committed(ctx.artifacts), stored.sort());
  const warning = ctx.logged.find((l) => l.msg?.includes("names none of the stored artifacts"));
  assert.ok(warning);
  assert.equal(warning.obj, { stored: 3, registeredDigests: 0 });
  // a version registered beside them: the log is theirs, and the old orphans go
  await registerKept(ctx);
  r = await sweep.sweep();
  assert.is(r.removed.length, 3);
  assert.is(r.refused, false);
});

test("an artifact a sweep had moved aside when its process died is put back when the store opens", async (ctx) => {
  const s = await stage(ctx.artifacts, moduleBytes("aside"));
  await s.commit();
  const artifactsDir = join(ctx.dir, "artifacts");
  renameSync(join(artifactsDir, "sha256", s.sha256), join(artifactsDir, "tmp", `sweeping-${s.sha256}.${randomUUID()}`));
  assert.is(await ctx.artifacts.has(s.sha256), false);
  const reopened = await FileArtifactStore.open(artifactsDir, { clock: ctx.clock });
  assert.ok(await reopened.has(s.sha256));
  assert.equal(readdirSync(join(artifactsDir, "tmp")), []);
});

test.run();
