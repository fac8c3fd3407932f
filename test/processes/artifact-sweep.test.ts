// The artifact sweep as a background process: a failed pass is logged, counted and tried again on
// the next interval (never thrown); it starts with a first pass and stops cleanly, a pass in
// progress too; its settings parse like their neighbours; the server runs it and counts what it
// removed in /metrics. The sweep's own rules are in test/modules/artifact-sweep.test.ts.
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { catalog } from "../../src/events/catalog/index.js";
import { EventLog } from "../../src/events/event-log.js";
import { SqliteEventStore } from "../../src/events/store/sqlite.js";
import { FileArtifactStore } from "../../src/modules/artifacts/file.js";
import type { ArtifactStore } from "../../src/modules/artifacts/port.js";
import { register } from "../../src/modules/register.js";
import { ModuleService } from "../../src/modules/service.js";
import { ManualClock, type Clock } from "../../src/platform/clock.js";
import { createLogger } from "../../src/platform/logger.js";
import { ConfigError, loadConfig } from "../../src/platform/config.js";
import { ArtifactSweep } from "../../src/processes/artifact-sweep.js";
import { startTestServer } from "../helpers/server.js";

const GRACE = 3600_000;

interface Ctx {
  dir: string;
  clock: ManualClock;
  store: SqliteEventStore;
  log: EventLog;
  artifacts: FileArtifactStore;
  warnings: { obj: Record<string, unknown>; msg?: string }[];
}

const test = suite<Ctx>("artifact sweep process");

test.before.each(async (ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), "korch-sweep-process-"));
  ctx.clock = new ManualClock();
  ctx.store = new SqliteEventStore({ file: join(ctx.dir, "events.db"), synchronous: "NORMAL" });
  ctx.log = new EventLog(ctx.store, catalog);
  ctx.artifacts = await FileArtifactStore.open(join(ctx.dir, "artifacts"), { clock: ctx.clock });
  ctx.warnings = [];
});
test.after.each(async (ctx) => {
  await ctx.artifacts.close();
  await ctx.store.close();
  rmSync(ctx.dir, { recursive: true, force: true });
});

const logger = (ctx: Ctx) => ({
  info: () => undefined,
  warn: (obj: object, msg?: string) => ctx.warnings.push({ obj: obj as Record<string, unknown>, msg }),
});

/** a registered version beside the orphans (a log naming none of the stored artifacts deletes nothing) */
async function registerOne(modules: ModuleService, clock: Clock): Promise<void> {
  const artifact = await modules.artifacts.stage(Readable.from([randomBytes(700)]), { maxBytes: 1000 });
  try {
    const upload = { fields: new Map([["name", "kept"], ["version", "1.0.0"]]), signature: null, certificates: null, artifact };
    await register(modules, upload, { actor: { kind: "user", id: "deployer" }, correlationId: randomUUID(), now: clock.now() });
  } finally {
    await artifact.discard();
  }
}
const serviceOf = (ctx: Ctx) => new ModuleService({ log: ctx.log, artifacts: ctx.artifacts, clock: ctx.clock, logger: createLogger("silent"), dev: true });

async function orphans(store: ArtifactStore, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const s = await store.stage(Readable.from([randomBytes(500)]), { maxBytes: 1000 });
    await s.commit();
    out.push(s.sha256);
  }
  return out;
}

test("a failed pass is logged and counted, never thrown; the next one sweeps", async (ctx) => {
  await registerOne(serviceOf(ctx), ctx.clock);
  await orphans(ctx.artifacts, 2);
  ctx.clock.advance(GRACE + 1);
  let down = true;
  const flaky: ArtifactStore = {
    kind: "file",
    stage: (s, o) => ctx.artifacts.stage(s, o),
    open: (h) => ctx.artifacts.open(h),
    readAll: (h) => ctx.artifacts.readAll(h),
    has: (h) => ctx.artifacts.has(h),
    delete: (h, o) => ctx.artifacts.delete(h, o),
    close: () => ctx.artifacts.close(),
    listCommitted: () => {
      if (down) throw new Error("artifact store unreachable");
      return ctx.artifacts.listCommitted();
    },
  };
  let failed = 0;
  let removed = 0;
  const sweep = new ArtifactSweep({ log: ctx.log, artifacts: flaky, clock: ctx.clock, graceMs: GRACE, logger: logger(ctx), onFailed: () => failed++, onRemoved: () => removed++ });
  assert.is(await sweep.tick(), null);
  assert.is(failed, 1);
  assert.is(ctx.warnings.length, 1);
  assert.match(ctx.warnings[0]!.msg ?? "", /artifact sweep failed/);
  assert.match(String(ctx.warnings[0]!.obj.err), /unreachable/);
  down = false;
  const r = await sweep.tick();
  assert.is(r?.removed.length, 2);
  assert.is(removed, 2);
  assert.is(failed, 1);
});

test("start runs a first pass; stop ends the timer and waits for a pass in progress, which deletes no more", async (ctx) => {
  await registerOne(serviceOf(ctx), ctx.clock);
  await orphans(ctx.artifacts, 3);
  ctx.clock.advance(GRACE + 1);
  let sweep!: ArtifactSweep;
  let deletes = 0;
  let firstDelete!: () => void;
  const deleting = new Promise<void>((r) => (firstDelete = r));
  let stopped: Promise<void> | undefined;
  const stopping: ArtifactStore = {
    kind: "file",
    stage: (s, o) => ctx.artifacts.stage(s, o),
    open: (h) => ctx.artifacts.open(h),
    readAll: (h) => ctx.artifacts.readAll(h),
    has: (h) => ctx.artifacts.has(h),
    listCommitted: () => ctx.artifacts.listCommitted(),
    close: () => ctx.artifacts.close(),
    delete: async (h, o) => {
      deletes++;
      // shutdown arrives while the first delete is under way
      stopped ??= sweep.stop();
      firstDelete();
      return ctx.artifacts.delete(h, o);
    },
  };
  sweep = new ArtifactSweep({ log: ctx.log, artifacts: stopping, clock: ctx.clock, graceMs: GRACE, logger: logger(ctx) });
  // its timer does not hold the process open (a server's listener does): this test's wait must
  const alive = setInterval(() => undefined, 60_000);
  sweep.start(3600_000, 0);
  // bounded, so a sweep that never deletes fails here instead of hanging the file
  let bound: NodeJS.Timeout | undefined;
  await Promise.race([deleting, new Promise((_, reject) => (bound = setTimeout(() => reject(new Error("the first pass deleted nothing within 10 s")), 10_000)))]);
  clearTimeout(bound);
  await stopped;
  clearInterval(alive);
  assert.is(deletes, 1, "the pass stopped before its next delete");
  let listed = 0;
  for await (const _ of ctx.artifacts.listCommitted()) listed++;
  assert.is(listed, 3, "two orphans and the registered version's bytes");
  sweep.start(3600_000, 0);
  await sweep.stop();
  assert.is(deletes, 1, "a stopped sweep does not start again");
  assert.equal(ctx.warnings, []);
});

test("ARTIFACT_SWEEP_GRACE_SECONDS and ARTIFACT_SWEEP_INTERVAL_SECONDS: an hour each by default; bad values are refused by name", () => {
  const base = { APP_MODE: "development", DATA_DIR: mkdtempSync(join(tmpdir(), "korch-sweep-config-")), AGENT_JOIN_TOKEN: "development-join-token" };
  try {
    assert.equal(loadConfig(base).artifactSweep, { graceMs: 3600_000, intervalMs: 3600_000 });
    assert.equal(loadConfig({ ...base, ARTIFACT_SWEEP_GRACE_SECONDS: "600", ARTIFACT_SWEEP_INTERVAL_SECONDS: "1.5" }).artifactSweep, { graceMs: 600_000, intervalMs: 1500 });
    for (const bad of [{ ARTIFACT_SWEEP_GRACE_SECONDS: "0" }, { ARTIFACT_SWEEP_INTERVAL_SECONDS: "-1" }, { ARTIFACT_SWEEP_INTERVAL_SECONDS: "hourly" }]) {
      try {
        loadConfig({ ...base, ...bad });
        assert.unreachable(`accepted ${JSON.stringify(bad)}`);
      } catch (err) {
        assert.instance(err, ConfigError);
        assert.match((err as Error).message, Object.keys(bad)[0]!);
      }
    }
  } finally {
    rmSync(base.DATA_DIR, { recursive: true, force: true });
  }
});

test("the server runs it: unreferenced bytes older than the grace period go, /metrics counts them", async () => {
  const clock = new ManualClock(Date.now());
  const s = await startTestServer({ ARTIFACT_SWEEP_GRACE_SECONDS: "60", ARTIFACT_SWEEP_INTERVAL_SECONDS: "0.02" }, { clock });
  try {
    await registerOne(s.deps.modules, clock);
    const artifacts = s.deps.modules.artifacts;
    const bytes = randomBytes(1234);
    const staged = await artifacts.stage(Readable.from([bytes]), { maxBytes: 2000 });
    await staged.commit();
    clock.advance(61_000);
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    // passes run every 20 ms of real time: wait for the one that removes it (counted once the
    // delete has returned; the bytes are out of sight a moment earlier)
    let metrics = "";
    for (let tries = 0; !/^artifacts_swept_total 1$/m.test((metrics = await (await s.call("/metrics")).text())); tries++) {
      assert.ok(tries < 500, "swept within 10 s");
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.is(await artifacts.has(sha256), false);
    assert.match(metrics, /^artifacts_swept_bytes_total 1234$/m);
    assert.match(metrics, /^artifact_sweep_failures_total 0$/m);
  } finally {
    await s.stop();
  }
});

test.run();
