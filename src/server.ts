import { randomUUID } from "node:crypto";
import { once, setMaxListeners } from "node:events";
import type { Server } from "node:http";
import { drainHttp, settledBy } from "./http/drain.js";
import { hostname } from "node:os";
import { LiveFeed } from "./events/live-feed.js";
import { SseLimits } from "./http/sse.js";
import { answerClientError } from "./http/client-error.js";
import { DeploymentRunner } from "./processes/deployment-runner.js";
import { AuditAnchor } from "./processes/audit-anchor.js";
import { ModuleRevocation } from "./processes/module-revocation.js";
import { ArtifactSweep } from "./processes/artifact-sweep.js";
import { openArtifactStore } from "./modules/artifacts/open.js";
import { ModuleService } from "./modules/service.js";
import { trustDemoPki } from "./modules/demo-trust.js";
import type { AddressInfo } from "node:net";
import { createAdaptorServer } from "@hono/node-server";
import { seedDemoUsers } from "./commands/users.js";
import { demoUsersRefusal, enabledDemoUsers } from "./commands/demo-users.js";
import { catalog } from "./events/catalog/index.js";
import { EventLog } from "./events/event-log.js";
import { openEventStore } from "./events/store/open.js";
import { startFleet } from "./fleet/index.js";
import { buildApp } from "./http/routes/index.js";
import { TokenService } from "./http/auth.js";
import { UserDirectory } from "./identity/user-directory.js";
import { JoinTokens } from "./identity/join-tokens.js";
import { KeyRing, tokenLifetimeProblem } from "./identity/key-ring.js";
import { agentJoinTokenKind } from "./secrets/kinds/agent-join-token.js";
import { jwtSigningKeyKind } from "./secrets/kinds/jwt-signing-key.js";
import { SecretKindRegistry } from "./secrets/kind.js";
import { genericKind } from "./secrets/kinds/generic.js";
import { startSecrets } from "./secrets/runtime.js";
import type { AppDeps } from "./http/env.js";
import { allProjections } from "./projections/index.js";
import { ProjectionFollower } from "./projections/follower.js";
import type { ReadModelProgress } from "./projections/progress.js";
import { ProjectionRunner } from "./projections/runner.js";
import type { ReadStore } from "./projections/store/port.js";
import { countingErrors } from "./projections/store/around.js";
import { openReadStore } from "./projections/store/open.js";
import { systemClock, type Clock } from "./platform/clock.js";
import { ConfigError, type Config } from "./platform/config.js";
import { openCoordination } from "./platform/coordination/open.js";
import { createLogger, type Logger } from "./platform/logger.js";
import { createMetrics } from "./platform/metrics.js";
import { startTelemetry } from "./platform/telemetry.js";
import { disablePretenuring } from "./platform/v8-heap.js";

export interface RunningServer {
  url: string;
  port: number;
  deps: AppDeps;
  close(): Promise<void>;
}

/** The composition root: picks adapters from config, catches up read models, serves HTTP, starts processes. */
export interface StartOptions {
  clock?: Clock;
  instanceId?: string;
  /** a read store to use instead of the one config names (tests sharing one between instances) */
  readStore?: ReadStore;
}

/** The server will not start on this state; the message says what to do. */
export class StartupRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StartupRefusedError";
  }
}

export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  // long-lived event streams would otherwise make every short request's objects born old (v8-heap.ts)
  disablePretenuring();
  const clock = options.clock ?? systemClock;
  const logger = createLogger(config.logLevel);
  // What this start has opened, closed in reverse if a later step fails: a failed start (a port in
  // use, an unreachable MongoDB, a refused configuration) must not leave the event store, its
  // threads or the background processes running in a process that goes on (tests, an embedder).
  const opened = new OpenedResources(logger);
  // The port first: a busy port ends the start before anything is written to the log (a dev
  // start seeds users and a simulated fleet registers nodes). Until the app is ready it answers 503.
  let handle: FetchHandler = startingUp;
  const server = createAdaptorServer({ fetch: (request, env) => handle(request, env), hostname: config.host }) as Server;
  server.on("clientError", answerClientError);
  await listen(server, config.port, config.host);
  opened.add(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // a start that failed has served only its 503s: a client kept alive need not be waited for
        server.closeAllConnections();
      }),
  );
  try {
    const telemetry = await startTelemetry({ endpoint: config.otel.endpoint, serviceName: config.otel.serviceName, logger });
    opened.add(() => telemetry.shutdown());
    const store = await openEventStore({ eventstoreUrl: config.eventstoreUrl, dataDir: config.dataDir, sqliteSynchronous: config.sqliteSynchronous });
    opened.add(() => store.close());
    const log = new EventLog(store, catalog);
    if (!config.dev) {
      const demo = await enabledDemoUsers(log);
      if (demo.length) throw new StartupRefusedError(demoUsersRefusal(demo));
    }
    const lifetimeProblem = await tokenLifetimeProblem(log, config.jwt.ttlSeconds);
    if (lifetimeProblem) throw new ConfigError([lifetimeProblem]);
    const metrics = createMetrics();
    const bareReadStore = options.readStore ?? (await openReadStore({ mongodbUrl: config.mongodbUrl, mongodbDb: config.mongodbDb }));
    if (!options.readStore) opened.add(() => bareReadStore.close()); // an injected store is its owner's to close
    const readStore = countingErrors(bareReadStore, (op) => metrics.storeErrors.inc({ adapter: bareReadStore.kind, op }));
    const coordination = await openCoordination({ redisUrl: config.redisUrl, clock });
    opened.add(() => coordination.close());
    const projectionList = allProjections({ auditRetentionMs: config.auditRetentionMs });
    const projections: ReadModelProgress =
      config.projectionsMode === "follow"
        ? new ProjectionFollower({ log, store: readStore, projections: projectionList, logger })
        : new ProjectionRunner({
            log,
            store: readStore,
            projections: projectionList,
            logger,
            metrics: { projectionRetry: (projection) => metrics.projectionRetries.inc({ projection }) },
          });
    opened.add(() => projections.stop());
    await projections.start();
    const instanceId = options.instanceId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    const feed = new LiveFeed(log);
    opened.add(() => feed.stop());
    await feed.start();
    // before any request is served: authentication asks it about every user token
    const users = new UserDirectory(log, feed, clock);
    opened.add(async () => users.stop());
    await users.start();
    // the kinds this instance can rotate; a built-in secret is seeded at start once its kind is registered
    // JWT keys and join tokens follow their secrets in the log; the jwt kind's install asks the ring
    const keyRing = new KeyRing({ clock, logger });
    const joinTokens = new JoinTokens({ clock, logger, seed: config.agentJoinToken });
    const secretKinds = new SecretKindRegistry([genericKind(), jwtSigningKeyKind(keyRing), agentJoinTokenKind()]);
    const secrets = await startSecrets({ config, log, feed, coordination, clock, logger, metrics, instanceId, kinds: secretKinds });
    opened.add(() => secrets.stop());
    // before any request is served: login signs with the ring's key, registration asks the join tokens
    const secretSource = { directory: secrets.directory, log, readVersion: (name: string, version: number) => secrets.values.read(name, version) };
    opened.add(async () => keyRing.stop());
    await keyRing.start(secretSource);
    opened.add(async () => joinTokens.stop());
    await joinTokens.start(secretSource);
    warnAboutStaleSecrets(config, keyRing, joinTokens, clock, logger);
    // skips counted while the projections caught up are replayed into the counter here
    log.observe({
      unknownType: (type, count) => metrics.eventsUnknownType.inc({ type }, count),
      subscriptionDropped: (err, delayMs) => {
        metrics.eventSubscriptionDrops.inc();
        logger.warn({ err, delayMs }, "event subscription dropped; resubscribing");
      },
    });
    // every event stream and parked long-poll listens to it
    const shutdown = new AbortController();
    setMaxListeners(0, shutdown.signal);
    // artifacts live beside the read models: GridFS only when those are in MongoDB (an injected
    // in-process store shared by tests has its artifacts under DATA_DIR, like the embedded default)
    const artifacts = await openArtifactStore({
      dataDir: config.dataDir,
      mongodbUrl: readStore.kind === "mongodb" ? config.mongodbUrl : undefined,
      mongodbDb: config.mongodbDb,
      clock,
    });
    opened.add(() => artifacts.close());
    // committed bytes no event names (a lost upload race, a failed append) go after a grace period;
    // stopped before the artifact store closes
    const artifactSweep = new ArtifactSweep({
      log,
      artifacts,
      clock,
      logger,
      graceMs: config.artifactSweep.graceMs,
      onRemoved: ({ size }) => {
        metrics.artifactsSwept.inc();
        metrics.artifactsSweptBytes.inc(size);
      },
      onFailed: () => metrics.artifactSweepFailures.inc(),
    });
    opened.add(() => artifactSweep.stop());
    const modules = new ModuleService({ log, artifacts, clock, logger, dev: config.dev });
    const deps: AppDeps = {
      config,
      log,
      readStore,
      projections,
      coordination,
      metrics,
      logger,
      clock,
      tokens: new TokenService(config.jwt, keyRing, clock),
      keyRing,
      joinTokens,
      users,
      feed,
      instanceId,
      sseLimits: new SseLimits({ total: config.sse.maxConnections, perUser: config.sse.maxConnectionsPerUser }),
      modules,
      secrets,
      shutdown: shutdown.signal,
    };
    if (config.dev) await seedDemoUsers(log, clock.now());

    // any instance anchors: the anchor stream's expected revision keeps each range anchored once.
    // Closed after the runner and the revocation process (closers run last added first), so a
    // restart finds the log anchored up to their last writes.
    const anchors = new AuditAnchor({ log, clock, logger, feed, everyEvents: config.auditAnchor.everyEvents });
    opened.add(() => anchors.stop());
    const runner = new DeploymentRunner({ log, readStore, feed, projections, coordination, clock, logger, metrics, instanceId, leaseTtlMs: config.leaseTtlMs });
    opened.add(() => runner.stop(0));
    await runner.start();
    deps.deploymentFolds = runner;
    // revocation after the fact: in-flight deployments of a revoked module version stop
    const revocation = new ModuleRevocation({ log, readStore, feed, projections, modules, clock, logger, metrics, dev: config.dev, folds: runner });
    opened.add(() => revocation.stop());
    await revocation.start();
    if (config.dev) await trustDemoPki(modules, config.dataDir, clock, logger);
    // verdicts a crash left unjudged after a trust change catch up in the background
    void modules.reverifyAll("reconciled", { actor: { kind: "system", id: "module-registry" }, correlationId: randomUUID(), now: clock.now() }).then(
      (changes) => changes.length && logger.info({ changes: changes.length }, "module verdicts brought up to date with the trust store"),
      (err: unknown) => logger.warn({ err }, "could not re-verify registered modules at start"),
    );
    await secrets.startRotation();
    anchors.start(config.auditAnchor.intervalMs);
    artifactSweep.start(config.artifactSweep.intervalMs);

    const app = buildApp(deps);
    const fleet = await startFleet(deps, app);
    handle = app.fetch;
    const port = (server.address() as AddressInfo).port;
    const host = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host;
    logger.info({ port, mode: config.mode, eventStore: store.kind, readStore: readStore.kind, coordination: coordination.kind }, "listening");

    let closing: Promise<void> | undefined;
    /**
     * In order, within SHUTDOWN_TIMEOUT_MS: stop accepting connections and end event streams and
     * long-polls (clients reconnect elsewhere, with Last-Event-ID); let requests and deployment steps
     * in flight finish (until a reserve for the rest is left, then cut them: an unfinished command
     * appended nothing, or all it decided); then the writers and stores, in dependency order.
     */
    const shutDown = async () => {
      const deadline = Date.now() + config.shutdownTimeoutMs;
      const drainBy = deadline - Math.min(2000, config.shutdownTimeoutMs / 4);
      shutdown.abort();
      const http = drainHttp(server, drainBy);
      const fleetStopped = fleet.stop().catch((err: unknown) => logger.warn({ err }, "stopping the fleet failed"));
      const [{ cut }] = await Promise.all([http, runner.stop(Math.max(0, drainBy - Date.now())), settledBy(fleetStopped, drainBy)]);
      if (cut) logger.warn({ connections: cut, shutdownTimeoutMs: config.shutdownTimeoutMs }, "connections still busy at shutdown were cut");
      // then everything the start opened, last opened first (the runner's stop is the one above)
      await opened.closeAll();
    };
    return {
      url: `http://${host}:${port}`,
      port,
      deps,
      close() {
        closing ??= shutDown();
        return closing;
      },
    };
  } catch (err) {
    // failures to close are logged; the start's own error is the one to report
    await opened.closeAll().catch(() => undefined);
    throw err;
  }
}

type FetchHandler = Parameters<typeof createAdaptorServer>[0]["fetch"];

/** The answer while the server starts: it holds its port but cannot serve yet (readiness says so too). */
function startingUp(): Response {
  return new Response(JSON.stringify({ type: "about:blank", title: "Service Unavailable", status: 503, detail: "the server is starting" }), {
    status: 503,
    headers: { "content-type": "application/problem+json", "retry-after": "1", "cache-control": "no-store" },
  });
}

/** Listens, or refuses the start with what to do when the address cannot be had. */
async function listen(server: Server, port: number, host: string): Promise<void> {
  server.listen(port, host);
  try {
    await once(server, "listening");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE" || code === "EACCES" || code === "EADDRNOTAVAIL") {
      throw new StartupRefusedError(`cannot listen on ${host}:${port} (${code}): set PORT (and HOST) to an address this process may bind that nothing else holds`);
    }
    throw err;
  }
}

/** Closers of what a start opened, run last-opened first (on a failed start and at shutdown); one failing does not stop the others. */
class OpenedResources {
  private readonly closers: (() => Promise<unknown>)[] = [];
  constructor(private readonly logger: Logger) {}
  add(close: () => Promise<unknown>): void {
    this.closers.push(close);
  }
  /** Runs every closer once, each whatever the others did; rejects with the first failure. */
  async closeAll(): Promise<void> {
    let failure: unknown;
    for (const close of this.closers.splice(0).reverse()) {
      await close().catch((err: unknown) => {
        this.logger.warn({ err }, "closing failed");
        failure ??= err;
      });
    }
    if (failure !== undefined) throw failure;
  }
}

/** Settings that no longer do what an operator may think they do, said once at start. */
function warnAboutStaleSecrets(config: Config, keyRing: KeyRing, joinTokens: JoinTokens, clock: Clock, logger: Logger): void {
  const since = keyRing.managedSinceMs();
  if (config.jwt.legacy && since !== null && clock.now() >= since + config.jwt.ttlSeconds * 1000) {
    logger.warn("JWT_SECRET is set but no longer verifies anything (every token it signed has expired); remove it");
  }
  if (!joinTokens.accepts(config.agentJoinToken, clock.now())) {
    logger.warn(
      "AGENT_JOIN_TOKEN only seeded the first version of the agent-join-token secret and is no longer accepted; agents register with the secret's current version",
    );
  }
}
