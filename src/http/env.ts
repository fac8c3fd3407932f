import type { HttpBindings } from "@hono/node-server";
import type { EventLog } from "../events/event-log.js";
import type { DeploymentFolds } from "../commands/deployments.js";
import type { ReadModelProgress } from "../projections/progress.js";
import type { ReadStore } from "../projections/store/port.js";
import type { Clock } from "../platform/clock.js";
import type { Config } from "../platform/config.js";
import type { Coordination } from "../platform/coordination/port.js";
import type { Logger } from "../platform/logger.js";
import type { Metrics } from "../platform/metrics.js";
import type { LiveFeed } from "../events/live-feed.js";
import type { Principal, TokenService } from "./auth.js";
import type { UserDirectory } from "../identity/user-directory.js";
import type { JoinTokens } from "../identity/join-tokens.js";
import type { KeyRing } from "../identity/key-ring.js";
import type { SseLimits } from "./sse.js";
import type { SecretsRuntime } from "../secrets/runtime.js";
import type { ModuleService } from "../modules/service.js";

/** Per-request values set by middleware. */
export interface AppEnv {
  /** what @hono/node-server passes: SSE feeds write to the Node response directly */
  Bindings: HttpBindings;
  Variables: {
    principal?: Principal;
    authError?: string;
    requestId: string;
  };
}

/** Everything routes need, built once by the composition root (src/main.ts / src/server.ts). */
export interface AppDeps {
  config: Config;
  log: EventLog;
  readStore: ReadStore;
  projections: ReadModelProgress;
  coordination: Coordination;
  metrics: Metrics;
  logger: Logger;
  clock: Clock;
  tokens: TokenService;
  /** every user's current state and revoked tokens, followed from the log: asked on every request */
  users: UserDirectory;
  /** the JWT signing keys (next, current, retired within the overlap), followed from the log */
  keyRing: KeyRing;
  /** the agent join tokens accepted now (current, previous within the overlap), followed from the log */
  joinTokens: JoinTokens;
  /** one live tail of the log shared by SSE connections and processes */
  feed: LiveFeed;
  sseLimits: SseLimits;
  /** versioned secrets: read model, write service, values, the rotation process */
  secrets: SecretsRuntime;
  /** the module registry: artifacts, verdicts, trust store and the deployment gate */
  modules: ModuleService;
  /** this process among several serving the same stores (lease owner, telemetry origin) */
  instanceId: string;
  /** deployments the runner keeps folded: a command on one starts from there (absent in tests without a runner) */
  deploymentFolds?: DeploymentFolds;
  /**
   * Aborted when the server begins to shut down: event streams and long-polls end cleanly on it
   * (clients reconnect elsewhere with Last-Event-ID). Absent where nothing shuts down (tests).
   */
  shutdown?: AbortSignal;
}
