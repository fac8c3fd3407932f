// Through the server as it is composed: a pause and a rollback of a deployment the runner keeps
// folded read only what its stream gained since that fold (src/server.ts hands the runner to the
// routes), not the stream from its start.
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { ReadStreamOptions } from "../../src/events/store/port.js";
import { streams } from "../../src/events/streams.js";
import { ManualClock } from "../../src/platform/clock.js";
import { appendBigDeployment, bigDeployment, T0, type Outcome } from "../helpers/deployment-nodes.js";
import { DEMO, startTestServer } from "../helpers/server.js";

test("pause and rollback start from the runner's fold of the deployment", async () => {
  // the deployment's own clock: its deadline an hour after T0 is still ahead
  const s = await startTestServer({}, { clock: new ManualClock(T0 + 60_000) });
  try {
    const admin = await s.login(...DEMO.admin);
    const outcomes: Outcome[] = Array.from({ length: 30 }, (_, i) => (i < 10 ? "updated" : i < 15 ? "installing" : "pending"));
    const big = bigDeployment("6f1c1d7e-0000-4000-8000-00000000f01f", outcomes);
    await appendBigDeployment(s.deps.log, big);
    const folds = s.deps.deploymentFolds!;
    for (let i = 0; i < 1000 && !folds.folded(big.executionId); i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.ok(folds.folded(big.executionId), "the runner folded the deployment");

    const streamId = streams.deployment(big.executionId);
    const reads: (ReadStreamOptions | undefined)[] = [];
    const readStream = s.deps.log.readStream.bind(s.deps.log);
    s.deps.log.readStream = (id, options) => {
      if (id === streamId) reads.push(options);
      return readStream(id, options);
    };
    const post = async (action: string) => {
      const res = await s.call(`/api/v1/deployments/${big.executionId}/${action}`, { method: "POST", token: admin, json: {} });
      assert.is(res.status, 202, await res.clone().text());
      return (await res.json()) as { status: string };
    };
    assert.is((await post("pause")).status, "Paused");
    assert.is((await post("rollback")).status, "RollingBack");
    // besides the one-event existence check, every read started after revision 0
    const fromStart = reads.filter((o) => o?.maxCount !== 1 && !(o?.fromRevision && o.fromRevision > 0));
    assert.equal(fromStart, [], "no read of the whole stream");
    assert.ok(reads.some((o) => (o?.fromRevision ?? 0) > 0), "the tail was read");
  } finally {
    await s.stop();
  }
});

test.run();
