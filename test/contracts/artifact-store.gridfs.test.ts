import { randomUUID } from "node:crypto";
import { Readable } from "node:stream";
import { GridFSBucket } from "mongodb";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { GridFsArtifactStore } from "../../src/modules/artifacts/gridfs.js";
import { artifactStoreContract } from "./artifact-store.js";

const url = process.env.MONGODB_URL;

if (url) {
  // one database per test, dropped afterwards
  const runId = `artifacts_contract_${Date.now().toString(36)}_${randomUUID().slice(0, 8)}`;
  let n = 0;
  const test = artifactStoreContract("gridfs", async ({ clock }) => {
    const store = await GridFsArtifactStore.connect(url, `${runId}_${n++}`, { clock });
    return {
      store,
      staged: async () => store.db.collection("artifacts.files").countDocuments({ filename: { $regex: "^staging/" } }),
      cleanup: async () => {
        await store.db.dropDatabase();
        await store.close();
      },
    };
  });
  test.run();

  // GridFS only: what a crash leaves in staging is swept when a store connects
  const sweep = suite("GridFS artifact store: staging left by a crash");
  sweep("uploads staged whole and uploads cut off midway are removed once stale; committed bytes stay", async () => {
    const store = await GridFsArtifactStore.connect(url, `${runId}_${n++}`);
    try {
      const committed = await store.stage(Readable.from([Buffer.from("kept")]), { maxBytes: 1024 });
      await committed.commit();
      await store.stage(Readable.from([Buffer.from("staged, never judged")]), { maxBytes: 1024 });
      // an upload cut off after its first chunk: chunks but no file document
      const cut = new GridFSBucket(store.db, { bucketName: "artifacts" }).openUploadStream("staging/cut", { chunkSizeBytes: 1024 });
      cut.write(Buffer.alloc(4096, 1));
      const chunks = store.db.collection("artifacts.chunks");
      for (let tries = 0; (await chunks.countDocuments({ files_id: cut.id })) === 0; tries++) {
        assert.ok(tries < 100, "the cut upload wrote chunks");
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.is(await store.sweep(), 0, "nothing is stale yet");
      assert.is(await store.sweep(Date.now() + 2 * 3600_000), 2);
      assert.is(await chunks.countDocuments({ files_id: cut.id }), 0);
      assert.is(await store.db.collection("artifacts.files").countDocuments({ filename: { $regex: "^staging/" } }), 0);
      assert.ok(await store.has(committed.sha256));
    } finally {
      await store.db.dropDatabase();
      await store.close();
    }
  });
  sweep.run();
} else {
  console.log("SKIPPED: GridFS artifact store contract suite (set MONGODB_URL to run)");
  suite("ArtifactStore contract: gridfs (skipped)").run();
}
