// The behaviour every ArtifactStore adapter must share. Each adapter's test file calls artifactStoreContract.
import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ArtifactTooLargeError, type ArtifactStore, type CommittedArtifact } from "../../src/modules/artifacts/port.js";
import { ManualClock, systemClock, type Clock } from "../../src/platform/clock.js";

/** `clock` dates the store's commits */
export type ArtifactStoreFactory = (options: { clock: Clock }) => Promise<{ store: ArtifactStore; cleanup(): Promise<void>; staged?(): Promise<number> }>;

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
/** bytes as a stream of small chunks, like a network upload */
const chunked = (b: Buffer, size = 7919) => Readable.from((function* () {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
})());
async function drain(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export function artifactStoreContract(name: string, factory: ArtifactStoreFactory) {
  const test = suite(`ArtifactStore contract: ${name}`);

  async function withStore(fn: (store: ArtifactStore, staged: () => Promise<number>) => Promise<void>, clock: Clock = systemClock): Promise<void> {
    const { store, cleanup, staged } = await factory({ clock });
    try {
      await fn(store, staged ?? (async () => 0));
    } finally {
      await cleanup();
    }
  }

  test("stage hashes while it streams; commit keeps the bytes under their digest", () =>
    withStore(async (store) => {
      const bytes = randomBytes(300_000);
      const staged = await store.stage(chunked(bytes), { maxBytes: 1 << 20 });
      assert.is(staged.sha256, sha(bytes));
      assert.is(staged.size, bytes.length);
      assert.ok((await staged.read()).equals(bytes), "staged bytes read back whole");
      assert.is(await store.has(staged.sha256), false, "not visible before commit");
      await staged.commit();
      assert.is(await store.has(staged.sha256), true);
      const opened = await store.open(staged.sha256);
      assert.ok(opened);
      assert.is(opened.size, bytes.length);
      assert.ok((await drain(opened.stream)).equals(bytes));
      assert.ok((await store.readAll(staged.sha256))!.equals(bytes));
    }));

  test("discard leaves nothing; discard after commit and commit twice change nothing", () =>
    withStore(async (store, staged) => {
      const before = await staged();
      const a = await store.stage(chunked(randomBytes(1000)), { maxBytes: 10_000 });
      await a.discard();
      await a.discard();
      assert.is(await store.has(a.sha256), false);
      assert.is(await staged(), before, "staging area empty again");
      const b = await store.stage(chunked(randomBytes(1000)), { maxBytes: 10_000 });
      await b.commit();
      await b.commit();
      await b.discard();
      assert.is(await store.has(b.sha256), true);
    }));

  test("the same content committed twice is stored once and reads back the same", () =>
    withStore(async (store, staged) => {
      const bytes = randomBytes(5000);
      const a = await store.stage(chunked(bytes), { maxBytes: 10_000 });
      const b = await store.stage(chunked(bytes, 13), { maxBytes: 10_000 });
      assert.is(a.sha256, b.sha256);
      await a.commit();
      await b.commit();
      assert.ok((await store.readAll(a.sha256))!.equals(bytes));
      assert.is(await staged(), 0);
    }));

  test("past maxBytes: ArtifactTooLargeError, reading stops, nothing kept", () =>
    withStore(async (store, staged) => {
      let produced = 0;
      const endless = Readable.from((function* () {
        for (;;) {
          produced += 4096;
          yield Buffer.alloc(4096, 1);
        }
      })());
      await store.stage(endless, { maxBytes: 100_000 }).then(
        () => assert.unreachable("must refuse"),
        (err: unknown) => assert.instance(err, ArtifactTooLargeError),
      );
      assert.ok(produced < 200_000, `stopped reading near the limit (read ${produced})`);
      assert.is(await staged(), 0, "no staging leftovers");
      assert.is(await store.has(sha(Buffer.alloc(0))), false);
    }));

  test("exactly maxBytes is accepted; absent digests answer null/false", () =>
    withStore(async (store) => {
      const bytes = randomBytes(4096);
      const s = await store.stage(chunked(bytes), { maxBytes: 4096 });
      assert.is(s.size, 4096);
      await s.discard();
      const missing = "0".repeat(64);
      assert.is(await store.open(missing), null);
      assert.is(await store.readAll(missing), null);
      assert.is(await store.has(missing), false);
      assert.is(await store.delete(missing), false);
    }));

  test("digests that are not 64 lower-case hex never reach a path or query", () =>
    withStore(async (store) => {
      for (const bad of ["../../etc/passwd", "A".repeat(64), "abc", `${"0".repeat(63)}/`]) {
        await store.open(bad).then(
          () => assert.unreachable(`accepted ${bad}`),
          (err: unknown) => assert.match(String(err), /not a SHA-256/),
        );
      }
    }));

  test("a source that fails midway leaves nothing behind", () =>
    withStore(async (store, staged) => {
      const failing = Readable.from((async function* () {
        yield Buffer.alloc(1000, 2);
        throw new Error("connection reset");
      })());
      await store.stage(failing, { maxBytes: 1 << 20 }).then(
        () => assert.unreachable("must fail"),
        (err: unknown) => assert.match(String(err), /connection reset/),
      );
      assert.is(await staged(), 0);
    }));

  test("delete removes a committed artifact", () =>
    withStore(async (store) => {
      const s = await store.stage(chunked(randomBytes(100)), { maxBytes: 1000 });
      await s.commit();
      assert.is(await store.delete(s.sha256), true);
      assert.is(await store.has(s.sha256), false);
    }));

  async function listed(store: ArtifactStore): Promise<CommittedArtifact[]> {
    const out: CommittedArtifact[] = [];
    for await (const a of store.listCommitted()) out.push(a);
    return out.sort((x, y) => x.sha256.localeCompare(y.sha256));
  }

  test("listCommitted: each committed artifact with its size and commit time; staged ones are not listed", () => {
    const clock = new ManualClock();
    return withStore(async (store) => {
      const a = await store.stage(chunked(randomBytes(3000)), { maxBytes: 10_000 });
      await a.commit();
      clock.advance(5000);
      const b = await store.stage(chunked(randomBytes(700)), { maxBytes: 10_000 });
      await b.commit();
      const pending = await store.stage(chunked(randomBytes(100)), { maxBytes: 10_000 });
      const expected = [
        { sha256: a.sha256, size: 3000, committedAt: clock.now() - 5000 },
        { sha256: b.sha256, size: 700, committedAt: clock.now() },
      ].sort((x, y) => x.sha256.localeCompare(y.sha256));
      assert.equal(await listed(store), expected);
      await pending.discard();
    }, clock);
  });

  test("a commit of stored content renews its commit time; delete with committedBefore takes only what was committed before then", () => {
    const clock = new ManualClock();
    return withStore(async (store, staged) => {
      const bytes = randomBytes(2000);
      const first = await store.stage(chunked(bytes), { maxBytes: 10_000 });
      await first.commit();
      const t0 = clock.now();
      clock.advance(60_000);
      assert.is(await store.delete(first.sha256, { committedBefore: t0 }), false, "not before its own commit time");
      assert.ok(await store.has(first.sha256));
      const again = await store.stage(chunked(bytes), { maxBytes: 10_000 });
      await again.commit();
      assert.equal((await listed(store)).map((x) => x.committedAt), [clock.now()], "renewed, still one artifact");
      assert.is(await staged(), 0, "the second staged copy is gone");
      assert.is(await store.delete(first.sha256, { committedBefore: t0 + 1 }), false, "renewed since: kept");
      assert.ok((await store.readAll(first.sha256))!.equals(bytes));
      assert.is(await store.delete(first.sha256, { committedBefore: clock.now() + 1 }), true);
      assert.is(await store.has(first.sha256), false);
      assert.is(await store.delete(first.sha256, { committedBefore: clock.now() + 1 }), false, "twice: the second finds nothing");
      assert.equal(await listed(store), []);
    }, clock);
  });

  return test;
}
