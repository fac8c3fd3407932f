import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import * as assert from "uvu/assert";
import { FileArtifactStore } from "../../src/modules/artifacts/file.js";
import { artifactStoreContract } from "./artifact-store.js";

const test = artifactStoreContract("file", async ({ clock }) => {
  const dir = mkdtempSync(join(tmpdir(), "korch-artifacts-"));
  const store = await FileArtifactStore.open(dir, { clock });
  return {
    store,
    staged: async () => readdirSync(join(dir, "tmp")).length,
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

test("files are content-addressed under sha256/<hex>, mode 0600, in a 0700 directory", async () => {
  const dir = mkdtempSync(join(tmpdir(), "korch-artifacts-"));
  try {
    const store = await FileArtifactStore.open(dir);
    const s = await store.stage(Readable.from([Buffer.from("module bytes")]), { maxBytes: 100 });
    await s.commit();
    const path = join(dir, "sha256", s.sha256);
    assert.is(statSync(path).mode & 0o777, 0o600);
    assert.is(statSync(join(dir, "sha256")).mode & 0o777, 0o700);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
