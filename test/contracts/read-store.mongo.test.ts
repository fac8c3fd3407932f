import { randomUUID } from "node:crypto";
import { suite } from "uvu";
import { MongoReadStore } from "../../src/projections/store/mongo.js";
import { readStoreContract } from "./read-store.js";

const url = process.env.MONGODB_URL;

if (url) {
  // One database per test run (and per test), dropped afterwards.
  const runId = `rs_contract_${Date.now().toString(36)}_${randomUUID().slice(0, 8)}`;
  let n = 0;
  const test = readStoreContract("mongodb", async () => {
    const store = await MongoReadStore.connect(url, `${runId}_${n++}`);
    return {
      store,
      cleanup: async () => {
        await store.db.dropDatabase();
        await store.close();
      },
    };
  });
  test.run();
} else {
  console.log("SKIPPED: MongoDB contract suite (set MONGODB_URL to run)");
  suite("ReadStore contract: mongodb (skipped)").run();
}
