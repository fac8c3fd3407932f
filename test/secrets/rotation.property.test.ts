// Issue 12 acceptance: for any sequence of rotate / rollback / destroy / time passing /
// crash-and-resume (the process stopped between any two steps, a new one started on the same data
// directory), at every point
//   1. exactly one version is current, and it holds a value;
//   2. at most one version is pending, it is not current, and at most one rotation is in progress;
//   3. the labels are what the events say (a fresh fold of the raw log agrees with the read model,
//      and with the last SecretLabelsMoved);
//   4. every version that is not destroyed reads back exactly the bytes written for it, and a
//      destroyed one does not read at all.
// SECRET_PROPERTY_RUNS=<n> sets the number of sequences (default 20).
import fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { DomainError } from "../../src/commands/errors.js";
import { foldSecret, type SecretState } from "../../src/commands/secret.js";
import type { SecretEvent, SecretMaterial } from "../../src/events/catalog/secret.js";
import type { EventStore } from "../../src/events/store/port.js";
import { streams } from "../../src/events/streams.js";
import { ManualClock } from "../../src/platform/clock.js";
import { SecretDestroyedError, type SecretBackend } from "../../src/secrets/backend.js";
import type { SecretKindHandler } from "../../src/secrets/kind.js";
import { DEFAULT_POLICY } from "../../src/secrets/policy.js";
import { secretsHarness, T0, type SecretsHarness } from "./harness.js";

const NAME = "prop";

type Op =
  | { kind: "rotate" }
  | { kind: "rollback" }
  | { kind: "destroy"; pick: number }
  | { kind: "time"; ms: number }
  /** the process dies right after `after` more appends (the next one fails), then starts again on the same data */
  | { kind: "crash"; after: number }
  | { kind: "fail-next-test" };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.constant<Op>({ kind: "rotate" }) },
  { weight: 2, arbitrary: fc.constant<Op>({ kind: "rollback" }) },
  { weight: 2, arbitrary: fc.nat(20).map<Op>((pick) => ({ kind: "destroy", pick })) },
  { weight: 2, arbitrary: fc.constantFrom(500, 5_000, 60_000).map<Op>((ms) => ({ kind: "time", ms })) },
  { weight: 3, arbitrary: fc.nat(4).map<Op>((after) => ({ kind: "crash", after })) },
  { weight: 1, arbitrary: fc.constant<Op>({ kind: "fail-next-test" }) },
);

/** A kind that waits a little after install (a durable timer to crash across) and can be told to fail its next test. */
function flakyKind(control: { failNext: boolean }): SecretKindHandler {
  return {
    kind: "flaky",
    clientValueAllowed: true,
    async generate(ctx) {
      return { value: Buffer.from(`gen-${ctx.version}-${ctx.now}-${Math.random().toString(36).slice(2)}`) };
    },
    async install() {},
    installSettleMs: () => 2_000,
    async test(ctx) {
      await ctx.readValue();
      if (control.failNext) {
        control.failNext = false;
        return { ok: false, reason: "told to fail" };
      }
      return { ok: true };
    },
    defaultPolicy: () => ({ ...DEFAULT_POLICY, maxVersions: 4 }),
  };
}

/** Remembers every value written, by its material: what the log records must read back as written. */
function recording(written: Map<string, Buffer>) {
  return (inner: SecretBackend): SecretBackend => ({
    kind: inner.kind,
    async write(secret, version, value) {
      const copy = Buffer.from(value);
      const material = await inner.write(secret, version, value);
      written.set(JSON.stringify(material), copy);
      return material;
    },
    read: (s, v, m) => inner.read(s, v, m),
    destroy: (s, v, m) => inner.destroy(s, v, m),
    check: () => inner.check(),
    close: () => inner.close(),
  });
}

/** waits until the process has nothing more to do at this instant (it also runs on its own, from the feed) */
async function quiesce(h: SecretsHarness): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const head = await h.log.headPosition();
    await h.directory.waitFor(head, 5000);
    await new Promise((r) => setImmediate(r));
    await h.runner.whenIdle();
    if ((await h.log.headPosition()) === head) return;
  }
  throw new Error("the rotation process did not come to rest");
}

/** The store, except that each append first asks `crash` (which throws once the process is "dead"). */
function dying(store: EventStore, crash: { beforeAppend: () => void }): EventStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === "append") {
        return (...args: Parameters<EventStore["append"]>) => {
          crash.beforeAppend();
          return target.append(...args);
        };
      }
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

async function checkInvariants(h: SecretsHarness, written: Map<string, Buffer>): Promise<void> {
  await quiesce(h);
  const raw = await h.log.readStream(streams.secret(NAME));
  const fresh: SecretState = foldSecret(raw as unknown as SecretEvent[]);
  const model = h.directory.get(NAME)!;
  // 3. labels match the events
  assert.equal(model.labels, fresh.labels, "read model agrees with a fresh fold");
  const lastMove = (raw as unknown as SecretEvent[]).filter((e) => e.type === "SecretLabelsMoved").at(-1);
  assert.ok(lastMove && lastMove.type === "SecretLabelsMoved");
  assert.equal(fresh.labels, { current: lastMove.data.current, pending: lastMove.data.pending, previous: lastMove.data.previous });
  // and each move is the right one: a finished rotation makes its version current and the old
  // current previous; a rolled-back one drops its pending version and leaves current where it was
  // (checked once the rest of the rollback's own append, which follows it, is folded)
  let labels = { current: null as number | null, pending: null as number | null, previous: null as number | null };
  let beforeMove = labels;
  const made = new Map<string, number>();
  let rolledBack: { version: number | undefined; current: number | null; batch: string } | null = null;
  const checkRollback = () => {
    if (!rolledBack) return;
    assert.ok(rolledBack.version === undefined || labels.pending !== rolledBack.version, "rollback drops pending");
    assert.is(labels.current, rolledBack.current, "rollback leaves current");
    rolledBack = null;
  };
  for (const recorded of raw) {
    const e = recorded as unknown as SecretEvent;
    const batch = `${recorded.metadata.correlationId}|${recorded.metadata.causationId}`;
    if (rolledBack && batch !== rolledBack.batch) checkRollback();
    if (e.type === "SecretLabelsMoved") {
      beforeMove = labels;
      labels = { current: e.data.current, pending: e.data.pending, previous: e.data.previous };
    } else if (e.type === "RotationStepCompleted" && e.data.step === "create") {
      made.set(e.data.rotationId, e.data.version);
    } else if (e.type === "RotationCompleted") {
      assert.equal(labels, { current: e.data.version, pending: null, previous: beforeMove.current }, "finish moves current and previous");
    } else if (e.type === "RotationRolledBack") {
      rolledBack = { version: made.get(e.data.rotationId), current: labels.current, batch };
    }
  }
  checkRollback();
  // 1. exactly one current, holding a value
  const { current, pending } = fresh.labels;
  assert.ok(current !== null, "there is a current version");
  const cur = fresh.versions.find((v) => v.version === current);
  assert.ok(cur && !cur.destroyed, "current holds a value");
  // 2. at most one pending, not current; at most one rotation in progress
  assert.ok(pending === null || pending !== current);
  if (pending !== null) assert.not.ok(fresh.versions.find((v) => v.version === pending)!.destroyed);
  assert.ok(fresh.rotations.filter((r) => r.status === "InProgress").length <= 1);
  if (pending !== null) assert.ok(fresh.activeRotationId !== null, "a pending version belongs to a rotation in progress");
  // 4. values read back as written; destroyed ones are gone
  for (const v of fresh.versions) {
    const read = await h.values.read(NAME, v.version).then(
      (b) => b,
      (e: Error) => e,
    );
    if (v.destroyed) {
      assert.instance(read, SecretDestroyedError, `version ${v.version} destroyed`);
      continue;
    }
    const expected = written.get(JSON.stringify(v.material as SecretMaterial));
    assert.ok(expected, `version ${v.version} was written`);
    assert.ok(Buffer.isBuffer(read) && read.equals(expected), `version ${v.version} reads back as written`);
  }
}

async function apply(h: SecretsHarness, o: Op, control: { failNext: boolean }): Promise<void> {
  const refusedOk = (err: unknown) => {
    // 404 / 409: the operation does not apply now (rotation in progress, nothing to roll back, current version)
    if (!(err instanceof DomainError) || !["conflict", "not_found"].includes(err.code)) throw err;
  };
  switch (o.kind) {
    case "rotate":
      await h.service.rotate(NAME, {}, h.ctx()).catch(refusedOk);
      return;
    case "rollback":
      await h.service.rollback(NAME, {}, h.ctx()).catch(refusedOk);
      return;
    case "destroy": {
      const versions = h.directory.get(NAME)!.versions;
      const v = versions[o.pick % versions.length]!;
      await h.service.destroyVersion(NAME, v.version, h.ctx()).catch(refusedOk);
      return;
    }
    case "time":
      h.clock.advance(o.ms);
      await h.drive();
      return;
    case "fail-next-test":
      control.failNext = true;
      return;
    case "crash":
      return; // handled by the caller: it owns the harness
  }
}

test("labels, values and rotations stay consistent through any sequence, crashes included", async () => {
  const runs = Number(process.env.SECRET_PROPERTY_RUNS ?? 20);
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 14 }), async (ops) => {
      const written = new Map<string, Buffer>();
      const control = { failNext: false };
      const clock = new ManualClock(T0);
      const crash = { beforeAppend: () => {} };
      const open = (dir?: string) =>
        secretsHarness({ kinds: [flakyKind(control)], wrapBackend: recording(written), wrapStore: (store) => dying(store, crash), clock, dir });
      let h = await open();
      const dir = h.dir;
      try {
        await h.service.create({ name: NAME, kind: "flaky", value: "the first value" }, h.ctx());
        await checkInvariants(h, written);
        for (const o of ops) {
          if (o.kind === "crash") {
            // a rotation to interrupt, unless one is running; then appends stop after `after` more,
            // as if the process died there, whatever it was doing; then a new process on the same data
            let left = o.after;
            crash.beforeAppend = () => {
              if (left-- <= 0) throw new Error("crashed");
            };
            await h.service.rotate(NAME, {}, h.ctx()).catch(() => {});
            h.clock.advance(2_000);
            await h.drive().catch(() => {});
            await h.close(false);
            crash.beforeAppend = () => {};
            h = await open(dir);
          } else {
            await apply(h, o, control);
          }
          await checkInvariants(h, written);
        }
        // once left alone, whatever was in flight finishes (or rolls back) and the invariants still hold
        control.failNext = false;
        h.clock.advance(60_000);
        await h.drive();
        await checkInvariants(h, written);
        assert.is(h.directory.get(NAME)!.activeRotationId, null, "nothing left in progress");
      } catch (err) {
        if (process.env.SECRET_PROPERTY_DEBUG) console.error(err, JSON.stringify((await h.log.readStream(streams.secret(NAME))).map((e) => [e.type, e.data]), null, 0));
        throw err;
      } finally {
        await h.close(true);
      }
    }),
    { numRuns: runs, ...(process.env.SECRET_PROPERTY_SEED ? { seed: Number(process.env.SECRET_PROPERTY_SEED), path: process.env.SECRET_PROPERTY_PATH } : {}) },
  );
});

test.run();
