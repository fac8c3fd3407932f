import { randomUUID } from "node:crypto";
import { MongoClient } from "mongodb";
import { suite } from "uvu";
import { MongoTelemetry } from "../../src/fleet/telemetry/mongo.js";
import { telemetryContract } from "./telemetry.js";

const url = process.env.MONGODB_URL;

if (url) {
  // One database per test, dropped afterwards.
  const runId = `tel_contract_${Date.now().toString(36)}_${randomUUID().slice(0, 8)}`;
  let n = 0;
  const client = new MongoClient(url);
  await client.connect();
  const test = telemetryContract(
    "mongodb (time-series collection)",
    async () => {
      const db = client.db(`${runId}_${n++}`);
      // samples are dated 2026-06-01: a retention of years keeps the TTL monitor off them
      const store = await MongoTelemetry.on(db, { retentionMs: 10 * 365 * 86_400_000 });
      return {
        store,
        cleanup: async () => {
          await store.close();
          await db.dropDatabase();
        },
      };
    },
    { exactSums: false },
  );
  test.after(() => client.close());
  test.run();
} else {
  console.log("SKIPPED: MongoDB telemetry contract suite (set MONGODB_URL to run)");
  suite("TelemetryStore contract: mongodb (skipped)").run();
}
