// Issue 12 acceptance: no event holds a secret value in clear. The raw SQLite files (the event
// log, its WAL and shared memory, and the key store) are searched byte for byte for every value
// written, in the encodings a value could leak in, after creation, rotations, value reads and a
// destroy; the secret's name is found there, so the search looks where the events are.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { SecretBackend } from "../../src/secrets/backend.js";
import { secretsHarness } from "./harness.js";

function encodings(value: Buffer): Buffer[] {
  return [value, Buffer.from(value.toString("base64")), Buffer.from(value.toString("base64url")), Buffer.from(value.toString("hex")), Buffer.from(JSON.stringify(value.toString()))];
}

test("the event log's files never contain a secret value in any common encoding", async () => {
  const written: Buffer[] = [];
  const recording = (inner: SecretBackend): SecretBackend => ({
    kind: inner.kind,
    async write(secret, version, value) {
      written.push(Buffer.from(value));
      return inner.write(secret, version, value);
    },
    read: (s, v, m) => inner.read(s, v, m),
    destroy: (s, v, m) => inner.destroy(s, v, m),
    check: () => inner.check(),
    close: () => inner.close(),
  });
  const h = await secretsHarness({ wrapBackend: recording });
  try {
    const plaintext = "correct-horse-battery-staple-4f1d9c";
    await h.service.create({ name: "plain-search", kind: "generic", value: plaintext, policy: { maxVersions: 3 } }, h.ctx());
    for (let i = 0; i < 3; i++) {
      await h.service.rotate("plain-search", { reason: `round ${i}` }, h.ctx());
      await h.drive();
    }
    // a person reads the values (audited), and an old version is destroyed
    for (const v of [1, 2, 3, 4].filter((v) => !h.directory.get("plain-search")!.versions.find((x) => x.version === v)!.destroyed)) {
      await h.service.readValue("plain-search", v, h.ctx());
    }
    const previous = h.directory.get("plain-search")!.labels.previous!;
    await h.service.destroyVersion("plain-search", previous, h.ctx());
    assert.is(written.length, 4);
    assert.ok(written[0]!.equals(Buffer.from(plaintext)));

    const files = ["events.db", "events.db-wal", "events.db-shm", "secret-keys.db"].map((f) => join(h.dir, f)).filter((f) => existsSync(f));
    assert.ok(files.some((f) => f.endsWith("-wal")), "the WAL is searched too");
    const bytes = files.map((f) => ({ f, data: readFileSync(f) }));
    assert.ok(
      bytes.some(({ data }) => data.includes(Buffer.from("plain-search"))),
      "the secret's events are in these files",
    );
    for (const value of written) {
      for (const form of encodings(value)) {
        for (const { f, data } of bytes) assert.not.ok(data.includes(form), `${f} holds a value (${form.toString().slice(0, 12)}…)`);
      }
    }
  } finally {
    await h.close();
  }
});

test.run();
