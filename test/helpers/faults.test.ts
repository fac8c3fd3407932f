// The fault-injection helpers do what their options say, and a seed replays a schedule.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ManualClock } from "../../src/platform/clock.js";
import { MemoryCoordination } from "../../src/platform/coordination/memory.js";
import { MemoryReadStore } from "../../src/projections/store/memory.js";
import { FaultPlan, faultyCoordination, faultyReadStore, InjectedFault, type FaultRule } from "./faults.js";

/** Which of `n` calls to one collection fail under a rule. */
async function failing(rule: FaultRule, n: number, options: { seed?: number; clock?: ManualClock; step?: number } = {}): Promise<number[]> {
  const plan = new FaultPlan({ rules: [rule], ...options });
  const c = faultyReadStore(new MemoryReadStore({ ttlIntervalMs: 0 }), plan).collection("c");
  const failed: number[] = [];
  for (let i = 1; i <= n; i++) {
    try {
      await c.get("x");
    } catch (err) {
      assert.instance(err, InjectedFault);
      failed.push(i);
    }
    options.clock?.advance(options.step ?? 0);
  }
  return failed;
}

test("nth, times, window and when select the calls that fail", async () => {
  assert.equal(await failing({ nth: [2, 4] }, 5), [2, 4]);
  assert.equal(await failing({ times: 3 }, 5), [1, 2, 3]);
  const clock = new ManualClock(0);
  assert.equal(await failing({ window: { from: 2_000, to: 4_000 } }, 6, { clock, step: 1_000 }), [3, 4]);
  let down = false;
  const plan = new FaultPlan({ rules: [{ when: () => down }] });
  const c = faultyReadStore(new MemoryReadStore({ ttlIntervalMs: 0 }), plan).collection("c");
  await c.put({ _id: "a" });
  down = true;
  await c.get("a").then(() => assert.unreachable(), (err) => assert.instance(err, InjectedFault));
  down = false;
  assert.equal(await c.get("a"), { _id: "a" });
});

test("triggers given together must all hold; selectors narrow what a rule counts", async () => {
  assert.equal(await failing({ nth: [1, 2, 3], times: 2 }, 4), [1, 2]);
  const plan = new FaultPlan({ rules: [{ target: "readStore", ops: ["put"], collections: ["a"], nth: [2] }] });
  const store = faultyReadStore(new MemoryReadStore({ ttlIntervalMs: 0 }), plan);
  await store.collection("b").put({ _id: "1" });
  await store.collection("a").get("1");
  await store.collection("a").put({ _id: "1" });
  await store.collection("a").put({ _id: "2" }).then(() => assert.unreachable(), (err) => assert.instance(err, InjectedFault));
  assert.equal(plan.hits, [{ target: "readStore", op: "put", collection: "a", effect: "fail" }]);
});

test("probability draws from the seed: the same seed fails the same calls", async () => {
  const a = await failing({ probability: 0.3 }, 200, { seed: 42 });
  const b = await failing({ probability: 0.3 }, 200, { seed: 42 });
  const c = await failing({ probability: 0.3 }, 200, { seed: 43 });
  assert.equal(a, b);
  assert.not.equal(a, c);
  assert.ok(a.length > 30 && a.length < 90, `about 30 % fail: ${a.length}`);
});

test("a delay waits through the plan's sleep, then lets the call through; rules can be removed", async () => {
  const waited: number[] = [];
  const plan = new FaultPlan({ sleep: async (ms) => void waited.push(ms) });
  const remove = plan.add({ effect: { delayMs: 250 } });
  const c = faultyReadStore(new MemoryReadStore({ ttlIntervalMs: 0 }), plan).collection("c");
  await c.put({ _id: "a" });
  remove();
  await c.get("a");
  assert.equal(waited, [250]);
});

test("coordination: calls fail, and a failed pub/sub message is lost while later ones arrive in order", async () => {
  const plan = new FaultPlan({ rules: [{ target: "coordination", ops: ["message"], nth: [2] }, { target: "coordination", ops: ["acquire"], times: 1 }] });
  const inner = new MemoryCoordination();
  const co = faultyCoordination(inner, plan);
  await co.acquire("k", "me", 1000).then(() => assert.unreachable(), (err) => assert.instance(err, InjectedFault));
  assert.ok(await co.acquire("k", "me", 1000));
  const got: string[] = [];
  const off = await co.subscribe("ch", (m) => void got.push(m));
  for (const m of ["1", "2", "3"]) await co.publish("ch", m);
  for (let i = 0; i < 20 && got.length < 2; i++) await new Promise((resolve) => setImmediate(resolve));
  assert.equal(got, ["1", "3"]);
  await off();
  await co.close();
});

test.run();
