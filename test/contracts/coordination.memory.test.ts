import * as assert from "uvu/assert";
import { ManualClock } from "../../src/platform/clock.js";
import { MemoryCoordination } from "../../src/platform/coordination/memory.js";
import { openCoordination } from "../../src/platform/coordination/open.js";
import { coordinationContract, rejection } from "./coordination.js";

const s = coordinationContract("memory", async () => {
  const clock = new ManualClock();
  const coordination = new MemoryCoordination(clock);
  return { coordination, advance: (ms) => clock.advance(ms), cleanup: () => coordination.close() };
});

s("openCoordination without a Redis URL gives the in-process adapter", async () => {
  const c = await openCoordination({});
  assert.is(c.kind, "memory");
  await c.close();
});

s("a closed memory coordination rejects", async () => {
  const c = new MemoryCoordination(new ManualClock());
  await c.close();
  await rejection(c.ping());
});

s.run();
