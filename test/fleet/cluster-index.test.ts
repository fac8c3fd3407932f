// The cluster queries keep each environment's node order and counts between requests and bring
// them forward from the node events the read model applied since (src/fleet/queries.ts). For any
// sequence of registrations, status changes, installs, removals and deregistrations, read at any
// points in between: every page walked with nextCursor, and the counts, equal what a fresh read of
// the whole nodes read model gives (the plain definition); so does the cluster list.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { catalog } from "../../src/events/catalog/index.js";
import { EventLog } from "../../src/events/event-log.js";
import { SqliteEventStore } from "../../src/events/store/sqlite.js";
import { streams } from "../../src/events/streams.js";
import { nodeIdFor } from "../../src/fleet/environments.js";
import { clusterDetail, listClusters } from "../../src/fleet/queries.js";
import { NODES, nodesProjection, type NodeDoc } from "../../src/projections/nodes.js";
import { ProjectionRunner } from "../../src/projections/runner.js";
import { MemoryReadStore } from "../../src/projections/store/memory.js";
import type { Environment } from "../../src/strategies/settings.js";

const AT = "2026-06-01T12:00:00.000Z";
const HOSTS = ["web-1", "web-10", "web-2", "Web-3", "db", "a", "zz", "m-7"];
const ENVS: Environment[] = ["QA", "Production"];

type Op =
  | { kind: "register"; host: number; env: number }
  | { kind: "status"; host: number; to: "Unhealthy" | "Offline" | "Recovered" }
  | { kind: "install"; host: number; module: string; version: string }
  | { kind: "remove"; host: number; module: string }
  | { kind: "deregister"; host: number }
  | { kind: "read"; limit: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("register" as const), host: fc.nat(HOSTS.length - 1), env: fc.nat(1) }),
  fc.record({ kind: fc.constant("status" as const), host: fc.nat(HOSTS.length - 1), to: fc.constantFrom("Unhealthy" as const, "Offline" as const, "Recovered" as const) }),
  fc.record({ kind: fc.constant("install" as const), host: fc.nat(HOSTS.length - 1), module: fc.constantFrom("net", "fs", "constructor"), version: fc.constantFrom("1.0.0", "1.1.0", "2.0.0") }),
  fc.record({ kind: fc.constant("remove" as const), host: fc.nat(HOSTS.length - 1), module: fc.constantFrom("net", "fs", "constructor") }),
  fc.record({ kind: fc.constant("deregister" as const), host: fc.nat(HOSTS.length - 1) }),
  fc.record({ kind: fc.constant("read" as const), limit: fc.integer({ min: 1, max: 5 }) }),
);

test("pages walked with nextCursor and the counts equal a fresh read of the read model, after any changes", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 40 }), async (ops) => {
      const dir = mkdtempSync(join(tmpdir(), "korch-cluster-index-"));
      const store = new SqliteEventStore({ file: join(dir, "events.db"), synchronous: "OFF" });
      const log = new EventLog(store, catalog);
      const readStore = new MemoryReadStore({ ttlIntervalMs: 0 });
      const progress = new ProjectionRunner({ log, store: readStore, projections: [nodesProjection] });
      await progress.start();
      const live = { progress, log };
      const registered = new Map<number, Environment>();
      const append = (host: number, env: Environment, type: string, data: Record<string, unknown>) =>
        log.append(
          streams.node(nodeIdFor(env, HOSTS[host]!)),
          log.envelope([{ type, data: { nodeId: nodeIdFor(env, HOSTS[host]!), at: AT, ...data } }], () => ({ actor: { kind: "system", id: "test" }, correlationId: "t", causationId: "t" })),
          "any",
        );
      try {
        for (const op of [...ops, { kind: "read", limit: 3 } as const]) {
          if (op.kind === "read") {
            await progress.waitFor(await log.headPosition(), 5000);
            for (const env of ENVS) {
              const fresh = await clusterDetail(readStore, env);
              const walked: unknown[] = [];
              let page = await clusterDetail(readStore, env, { limit: op.limit, live });
              for (;;) {
                const { nodes, nextCursor, ...counts } = page;
                const { nodes: _n, nextCursor: _c, ...freshCounts } = fresh;
                assert.equal(counts, freshCounts);
                assert.ok(nodes.length <= op.limit);
                walked.push(...nodes);
                if (!nextCursor) break;
                page = await clusterDetail(readStore, env, { limit: op.limit, cursor: nextCursor, live });
              }
              assert.equal(walked, fresh.nodes);
              // each node is the read model's fields the API shows, in this order, then its telemetry
              const docs = new Map((await readStore.collection<NodeDoc>(NODES).find({ environment: env })).map((d) => [d.nodeId, d]));
              for (const n of fresh.nodes) {
                const d = docs.get(n.nodeId)!;
                const fromLog = { nodeId: d.nodeId, hostname: d.hostname, status: d.status, statusSince: d.statusSince, registeredAt: d.registeredAt, modules: d.modules, labels: d.labels, color: d.color, capacity: d.capacity };
                assert.equal(Object.keys(n), [...Object.keys(fromLog), "lastHeartbeatAt", "metrics", "reportedModules"]);
                assert.equal(n, { ...fromLog, lastHeartbeatAt: null, metrics: null, reportedModules: null });
              }
            }
            assert.equal(await listClusters(readStore, live), await listClusters(readStore));
            continue;
          }
          const env = registered.get(op.host);
          if (op.kind === "register") {
            if (env) continue;
            const e = ENVS[op.env]!;
            registered.set(op.host, e);
            await append(op.host, e, "NodeRegistered", { environment: e, hostname: HOSTS[op.host], capacity: { cpuCores: 2, memoryMb: 1024 }, labels: {}, modules: {} });
            continue;
          }
          if (!env) continue;
          if (op.kind === "status") {
            if (op.to === "Unhealthy") await append(op.host, env, "NodeBecameUnhealthy", { lastSeenAt: AT, reason: "silent" });
            else if (op.to === "Offline") await append(op.host, env, "NodeWentOffline", { lastSeenAt: AT });
            else await append(op.host, env, "NodeRecovered", { previousStatus: "Offline" });
          } else if (op.kind === "install") {
            await append(op.host, env, "ModuleInstalled", { moduleName: op.module, version: op.version, assignmentId: "a", durationMs: 1 });
          } else if (op.kind === "remove") {
            await append(op.host, env, "ModuleRemoved", { moduleName: op.module, assignmentId: "a", durationMs: 1 });
          } else {
            await append(op.host, env, "NodeDeregistered", { reason: "gone" });
            registered.delete(op.host);
          }
        }
      } finally {
        await progress.stop();
        await readStore.close();
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      }
    }),
    { numRuns: 40 },
  );
});

test.run();
