// Audit log: build N entries (default 1,000,000) with replayInto into a MemoryReadStore from
// synthetic events, report the full rebuild rate, then p50/p99 of filtered, paginated queries
// through queryAuditLog (the code GET /api/v1/audit-logs runs). BENCH_AUDIT_EVENTS overrides N.
// Entry ids sort like positions, so newest-first pages walk the memory store's sorted ids and
// stop after `limit` matches; an equality on an indexed field (actor, type, stream, environment)
// whose matches are rare looks only at those. The last query matches nothing.
import type { RecordedEvent } from "../src/events/envelope.js";
import { queryAuditLog, type AuditQuery } from "../src/audit/query.js";
import { AUDIT_COLLECTION, createAuditProjection, type AuditDoc } from "../src/projections/audit.js";
import { replayInto } from "../src/projections/runner.js";
import { MemoryReadStore } from "../src/projections/store/memory.js";
import { emit } from "./emit.js";
import { sized } from "./quick.js";

const N = sized("BENCH_AUDIT_EVENTS", 1_000_000, 50_000);
const USERS = 200;
const T0 = Date.parse("2026-01-01T00:00:00.000Z");
const TYPES = ["UserLoggedIn", "DeploymentRequested", "ApprovalGranted", "NodeUpdated"] as const;

function* synthetic(): Generator<RecordedEvent> {
  const revisions = new Map<string, number>();
  for (let p = 1; p <= N; p++) {
    const type = TYPES[p % TYPES.length]!;
    const user = `user${p % USERS}`;
    const streamId = type.startsWith("User") ? `user-${user}` : `deployment-${(p % 5000).toString(16)}`;
    const revision = (revisions.get(streamId) ?? -1) + 1;
    revisions.set(streamId, revision);
    yield {
      type,
      streamId,
      revision,
      position: p,
      data:
        type === "DeploymentRequested"
          ? { requestedBy: user, moduleName: "netfilter-ext", version: "1.0.0", targetEnvironment: ["Development", "QA", "Staging", "Production"][Math.floor(p / 4) % 4], strategy: "Rolling" }
          : { username: user, by: user, nodeId: `n${p % 50}`, version: "1.0.0" },
      metadata: {
        eventId: `00000000-0000-4000-8000-${p.toString(16).padStart(12, "0")}`,
        occurredAt: new Date(T0 + p * 1000).toISOString(),
        actor: { kind: "user", id: user },
        correlationId: `req-${p}`,
        causationId: `req-${p}`,
        schemaVersion: 1,
        tenantId: "default",
        sourceIp: "10.0.0.1",
        userAgent: "bench",
      },
    };
  }
}

const store = new MemoryReadStore({ ttlIntervalMs: 0 });
const projection = createAuditProjection({ retentionMs: 1e15 });
// as the projection runner does at start: the memory store narrows equality filters with them
for (const index of projection.indexes ?? []) await store.collection(AUDIT_COLLECTION).ensureIndex(index);
const started = performance.now();
await replayInto(store, synthetic(), [projection], 1000);
const secs = (performance.now() - started) / 1000;
emit("audit.rebuild", N / secs, "events/s", { events: N, store: "memory", batchSize: 1000 });

const c = store.collection<AuditDoc>(AUDIT_COLLECTION);
const queries: Record<string, AuditQuery> = {
  newestPage: { limit: 50, order: "desc" },
  byActor: { actor: "user7", limit: 50, order: "desc" },
  byTypeAndEnvironment: { types: ["DeploymentRequested"], environment: "Production", limit: 50, order: "desc" },
  streamPrefixTimeRange: { stream: "deployment-1*", from: new Date(T0 + (N / 2) * 1000), to: new Date(T0 + N * 1000), limit: 50, order: "desc" },
  oldestFirstByType: { types: ["ApprovalGranted"], limit: 50, order: "asc" },
  oneDeployment: { stream: "deployment-2a", limit: 50, order: "desc" },
  noMatch: { actor: "nobody", limit: 50, order: "desc" },
};
for (const [name, q] of Object.entries(queries)) {
  const ms: number[] = [];
  // first page, then follow the cursor for a few pages, as a client paging would
  for (let r = 0; r < 10; r++) {
    let cursor: string | undefined;
    for (let page = 0; page < 3; page++) {
      const t = performance.now();
      const res = await queryAuditLog(c, { ...q, cursor });
      ms.push(performance.now() - t);
      cursor = res.nextCursor ?? undefined;
      if (!cursor) break;
    }
  }
  ms.sort((a, b) => a - b);
  const pct = (p: number) => ms[Math.min(ms.length - 1, Math.floor(p * ms.length))]!;
  const conditions = { entries: N, query: name, samples: ms.length, store: "memory", targetMs: 20 };
  emit("audit.query.p50", pct(0.5), "ms", conditions);
  emit("audit.query.p99", pct(0.99), "ms", conditions);
}
