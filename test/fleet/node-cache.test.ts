// The agent routes' NodeCache never answers from an entry older than the nodes read model: the
// feed and the projections follow the log separately, and either may be ahead of the other.
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { RecordedEvent } from "../../src/events/envelope.js";
import type { LiveFeed } from "../../src/events/live-feed.js";
import { streams } from "../../src/events/streams.js";
import { NodeCache, nodeTokenIsCurrent } from "../../src/fleet/agent-service.js";
import type { EventLog } from "../../src/events/event-log.js";
import { NODES, type NodeDoc } from "../../src/projections/nodes.js";
import { MemoryReadStore } from "../../src/projections/store/memory.js";

function harness() {
  const readStore = new MemoryReadStore({ ttlIntervalMs: 0 });
  let listener: (e: RecordedEvent) => void = () => {};
  const feed = { attach: (l: (e: RecordedEvent) => void) => ((listener = l), { position: 10, detach: () => {} }) } as unknown as LiveFeed;
  let applied = 10;
  const cache = new NodeCache({ readStore, feed, projections: { position: () => applied } });
  const doc = (generation: number, lastPosition: number): NodeDoc => ({
    _id: "qa-1",
    nodeId: "qa-1",
    environment: "QA",
    hostname: "h",
    capacity: { cpuCores: 1, memoryMb: 1 },
    labels: {},
    color: null,
    status: "Healthy",
    statusSince: "2026-01-01T00:00:00.000Z",
    registeredAt: "2026-01-01T00:00:00.000Z",
    modules: {},
    credentialGeneration: generation,
    tenantId: "default",
    lastPosition,
  });
  return {
    cache,
    // the read model applies an event
    apply: async (d: NodeDoc) => {
      await readStore.collection<NodeDoc>(NODES).put(d);
      applied = Math.max(applied, d.lastPosition);
    },
    // the feed delivers one
    deliver: (position: number, streamId = streams.node("qa-1"), type = "X") => listener({ position, streamId, type, revision: 0, data: {}, metadata: {} } as unknown as RecordedEvent),
    doc,
    // the node's stream is left out: where the read model and a token disagree, it decides
    deps: { log: { readStream: async () => [] } as unknown as EventLog, readStore, nodes: cache },
  };
}

test("an entry is used only while the feed has delivered what the read model applied", async () => {
  const h = harness();
  await h.apply(h.doc(1, 5));
  await h.cache.read("qa-1");
  assert.is(h.cache.get("qa-1")?.credentialGeneration, 1);
  // a credential reset: applied by the read model, not yet delivered by the feed
  await h.apply(h.doc(2, 11));
  assert.is(h.cache.get("qa-1"), undefined, "the feed is behind: the cache does not answer");
  assert.is((await h.cache.read("qa-1"))?.credentialGeneration, 2, "the read model does: the old token is not of the current generation");
  assert.is(h.cache.get("qa-1"), undefined, "and the cache still does not answer while the feed is behind");
  h.deliver(11);
  assert.is(h.cache.get("qa-1"), undefined, "the event dropped the entry");
  assert.is(await nodeTokenIsCurrent(h.deps, "qa-1", 2), true);
  assert.is(h.cache.get("qa-1")?.credentialGeneration, 2, "the new document is kept");
});

test("a document older than an event the feed delivered for its node is not kept", async () => {
  const h = harness();
  await h.apply(h.doc(1, 5));
  h.deliver(12); // the feed is ahead: the read model has not applied position 12 yet
  await h.cache.read("qa-1");
  assert.is(h.cache.get("qa-1"), undefined);
  await h.apply(h.doc(2, 12));
  await h.cache.read("qa-1");
  assert.is(h.cache.get("qa-1")?.credentialGeneration, 2);
  h.deliver(13, streams.node("qa-2"));
  assert.is(h.cache.get("qa-1")?.credentialGeneration, 2, "another node's event leaves it alone");
});

test("a module install or a relabelling leaves the entry; every other node event drops it", async () => {
  for (const type of ["ModuleInstalled", "ModuleInstallFailed", "ModuleRemoved", "NodeDetailsChanged"]) {
    const h = harness();
    await h.apply(h.doc(1, 5));
    await h.cache.read("qa-1");
    await h.apply(h.doc(1, 11));
    h.deliver(11, streams.node("qa-1"), type);
    assert.is(h.cache.get("qa-1")?.credentialGeneration, 1, type);
  }
  const changing = ["NodeRegistered", "NodeCredentialIssued", "NodeCredentialReset", "NodeDeregistered", "NodeBecameUnhealthy", "NodeWentOffline", "NodeRecovered", "SomethingNewer"];
  for (const type of changing) {
    const h = harness();
    await h.apply(h.doc(1, 5));
    await h.cache.read("qa-1");
    h.deliver(11, streams.node("qa-1"), type);
    assert.is(h.cache.get("qa-1"), undefined, type);
    // and a document from before that event is not kept (the read model has not applied it yet)
    await h.cache.read("qa-1");
    assert.is(h.cache.get("qa-1"), undefined, type);
  }
  // an install after a reset the read model has not applied does not make the old document good
  const h = harness();
  await h.apply(h.doc(1, 5));
  h.deliver(11, streams.node("qa-1"), "NodeCredentialReset");
  h.deliver(12, streams.node("qa-1"), "ModuleInstalled");
  await h.apply(h.doc(1, 10)); // the read model is at 10: the reset (11) is not in it
  await h.cache.read("qa-1");
  assert.is(h.cache.get("qa-1"), undefined);
  await h.apply(h.doc(2, 12));
  await h.cache.read("qa-1");
  assert.is(h.cache.get("qa-1")?.credentialGeneration, 2);
});

test.run();
