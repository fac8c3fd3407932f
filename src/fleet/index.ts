import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { clusterDecider } from "../commands/cluster.js";
import { handleCommand } from "../commands/handler.js";
import { streams } from "../events/streams.js";
import type { AppDeps } from "../http/env.js";
import { HeartbeatMonitor } from "../processes/heartbeat-monitor.js";
import { resolveSettings } from "../strategies/settings.js";
import { ENVIRONMENTS } from "./environments.js";
import { FileNodeSecretStore } from "./node-secret-store.js";
import { Simulator } from "./simulator.js";
import { HeartbeatMetricsSchema, openTelemetry, recordHeartbeat, TELEMETRY_CHANNEL } from "./telemetry.js";
import { heartbeatIntervalMs } from "./agent-service.js";
import { EnvironmentSchema } from "../strategies/settings.js";
import { z } from "zod";

const SharedHeartbeatSchema = z.object({
  origin: z.string(),
  nodeId: z.string(),
  environment: EnvironmentSchema,
  at: z.number(),
  metrics: HeartbeatMetricsSchema,
  modules: z.record(z.string(), z.string()).nullable(),
});

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** One cluster per environment, with its strategy and thresholds as config resolves them now. */
export async function provisionClusters(deps: Pick<AppDeps, "log" | "config">, now: number): Promise<number> {
  let position = 0;
  for (const environment of ENVIRONMENTS) {
    const settings = resolveSettings(environment, deps.config.strategyOverrides);
    const r = await handleCommand(
      deps.log,
      streams.cluster(environment),
      clusterDecider,
      { type: "ProvisionCluster", environment, strategy: settings.strategy, thresholds: settings.thresholds, now },
      { actor: { kind: "system", id: "fleet" }, correlationId: randomUUID(), now },
    );
    position = Math.max(position, r.position);
  }
  return position;
}

export interface Fleet {
  monitor: HeartbeatMonitor;
  simulator: Simulator | undefined;
  stop(): Promise<void>;
}

/**
 * Starts the fleet side of the server: clusters, telemetry retention, the heartbeat monitor, and in
 * development the simulated nodes, which talk to `app` through the same HTTP protocol as real agents.
 */
export async function startFleet(deps: AppDeps, app: { fetch(request: Request): Response | Promise<Response> }): Promise<Fleet> {
  await provisionClusters(deps, deps.clock.now());
  // ring buffers sized for the agents' interval and the longest analysis window (MongoDB: a time-series collection)
  const telemetry = await openTelemetry(deps.readStore, {
    retentionMs: deps.config.telemetryRetentionMs,
    heartbeatIntervalMs: heartbeatIntervalMs(deps.config),
    analysisWindowMs: Math.max(...ENVIRONMENTS.map((e) => resolveSettings(e, deps.config.strategyOverrides).analysisWindowMs)),
    // beside the read models: a time-series collection only when those are in MongoDB
    mongodbUrl: deps.readStore.kind === "mongodb" ? deps.config.mongodbUrl : undefined,
    mongodbDb: deps.config.mongodbDb,
    clock: deps.clock,
  });
  const unsubscribe = await deps.coordination.subscribe(TELEMETRY_CHANNEL, (message) => {
    const shared = SharedHeartbeatSchema.safeParse(safeJson(message));
    if (!shared.success || shared.data.origin === deps.instanceId) return;
    const { origin: _origin, ...heartbeat } = shared.data;
    recordHeartbeat(deps.readStore, heartbeat, true).catch((err) => deps.logger.warn({ err }, "could not record a shared heartbeat"));
  });
  const monitor = new HeartbeatMonitor({
    log: deps.log,
    readStore: deps.readStore,
    clock: deps.clock,
    heartbeat: deps.config.heartbeat,
    logger: deps.logger,
  });
  monitor.start(Math.max(100, Math.min(1000, Math.floor(deps.config.heartbeat.unhealthyAfterMs / 5))));
  let simulator: Simulator | undefined;
  if (deps.config.simulator.enabled) {
    simulator = new Simulator({
      baseUrl: "http://simulator.internal",
      fetch: async (request) => app.fetch(request),
      // the managed token's current version: AGENT_JOIN_TOKEN only seeded it, and a rotation moves on
      joinToken: await currentJoinToken(deps),
      clusterSizes: deps.config.simulator.clusterSizes,
      seed: deps.config.simulator.seed,
      // the simulated nodes' secrets live beside the data they belong to, so a restart finds them
      secrets: new FileNodeSecretStore(join(deps.config.dataDir, "simulator-credentials.json")),
      onError: (err, what) => deps.logger.warn({ err, what }, "simulated node error"),
    });
    try {
      await simulator.start();
      deps.logger.info({ nodes: simulator.nodes.length }, "simulated fleet started");
    } catch (err) {
      // the server is still of use without some simulated nodes; an Admin can reset their credentials
      deps.logger.warn(
        { err },
        "some simulated nodes did not start (a node refused with 409 lost its secret: POST /api/v1/clusters/{env}/nodes/{nodeId}/reset-credential as an Admin, then restart)",
      );
    }
  }
  return {
    monitor,
    simulator,
    async stop() {
      await simulator?.stop();
      await unsubscribe();
      await monitor.stop();
      await telemetry.close();
    },
  };
}

async function currentJoinToken(deps: AppDeps): Promise<string> {
  try {
    return (await deps.secrets.values.current("agent-join-token")).value.toString("utf8");
  } catch (err) {
    deps.logger.warn({ err }, "the agent-join-token secret cannot be read; the simulator registers with AGENT_JOIN_TOKEN");
    return deps.config.agentJoinToken;
  }
}
