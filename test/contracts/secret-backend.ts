// The behaviour every SecretBackend must show (embedded envelope encryption, Vault/OpenBao KV v2).
// Each adapter's test file calls secretBackendContract(...) and runs the returned suite.
import { randomBytes } from "node:crypto";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { SecretDestroyedError, type SecretBackend } from "../../src/secrets/backend.js";

export interface SecretBackendFixture {
  backend: SecretBackend;
  cleanup(): Promise<void>;
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  assert.unreachable("expected a rejection");
  throw new Error("unreachable");
}

export function secretBackendContract(name: string, factory: () => Promise<SecretBackendFixture>) {
  const s = suite<{ f: SecretBackendFixture; secret: string }>(`secret backend contract: ${name}`);
  s.before.each(async (ctx) => {
    ctx.f = await factory();
    // a fresh name per test: suites may share one server
    ctx.secret = `contract-${randomBytes(6).toString("hex")}`;
  });
  s.after.each(async (ctx) => ctx.f.cleanup());

  s("a value written reads back byte for byte, binary included; versions are independent", async ({ f, secret }) => {
    const v1 = Buffer.from("first value");
    const v2 = randomBytes(300);
    const m1 = await f.backend.write(secret, 1, v1);
    const m2 = await f.backend.write(secret, 2, v2);
    assert.is(m1.backend, f.backend.kind);
    assert.ok((await f.backend.read(secret, 1, m1)).equals(v1));
    assert.ok((await f.backend.read(secret, 2, m2)).equals(v2));
  });

  s("material never holds the value in clear", async ({ f, secret }) => {
    const value = Buffer.from(`needle-${randomBytes(8).toString("hex")}`);
    const material = await f.backend.write(secret, 1, value);
    const text = JSON.stringify(material);
    assert.not.ok(text.includes(value.toString()));
    assert.not.ok(text.includes(value.toString("base64")));
    assert.not.ok(text.includes(value.toString("base64url")));
  });

  s("destroy: the value is gone for good (SecretDestroyedError), twice is fine, other versions stay", async ({ f, secret }) => {
    const m1 = await f.backend.write(secret, 1, Buffer.from("one"));
    const m2 = await f.backend.write(secret, 2, Buffer.from("two"));
    await f.backend.destroy(secret, 1, m1);
    await f.backend.destroy(secret, 1, m1);
    assert.instance(await rejection(f.backend.read(secret, 1, m1)), SecretDestroyedError);
    assert.is((await f.backend.read(secret, 2, m2)).toString(), "two");
  });

  s("material is bound to its secret and version: used for another it does not open", async ({ f, secret }) => {
    const m = await f.backend.write(secret, 1, Buffer.from("bound"));
    const other = `${secret}-other`;
    await rejection(f.backend.read(secret, 2, m));
    await rejection(f.backend.read(other, 1, m));
  });

  s("a second write of one version (a retry after a crash) leaves the recorded material readable", async ({ f, secret }) => {
    const first = await f.backend.write(secret, 1, Buffer.from("attempt one"));
    const second = await f.backend.write(secret, 1, Buffer.from("attempt two"));
    assert.is((await f.backend.read(secret, 1, second)).toString(), "attempt two");
    // whichever the log recorded opens; the other is an orphan nothing points at
    const firstReads = await f.backend.read(secret, 1, first).then(
      (v) => v.toString(),
      (err: Error) => err.name,
    );
    assert.ok(firstReads === "attempt one" || firstReads === "SecretDestroyedError", firstReads);
  });

  s("check() answers while the backend serves", async ({ f }) => {
    await f.backend.check();
  });

  return s;
}
