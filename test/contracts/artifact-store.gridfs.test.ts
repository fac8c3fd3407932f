import { randomUUID } from "node:crypto";
import { suite } from "uvu";
import { GridFsArtifactStore } from "../../src/modules/artifacts/gridfs.js";
import { artifactStoreContract } from "./artifact-store.js";

const url = process.env.MONGODB_URL;

if (url) {
  // one database per test, dropped afterwards
  const runId = `artifacts_contract_${Date.now().toString(36)}_${randomUUID().slice(0, 8)}`;
  let n = 0;
  const test = artifactStoreContract("gridfs", async () => {
    const store = await GridFsArtifactStore.connect(url, `${runId}_${n++}`);
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
} else {
  console.log("SKIPPED: GridFS artifact store contract suite (set MONGODB_URL to run)");
  suite("ArtifactStore contract: gridfs (skipped)").run();
}
