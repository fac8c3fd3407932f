import { resolve } from "node:path";
import { z } from "zod";
import { DomainError } from "../commands/errors.js";
import { resolveSettings } from "../strategies/settings.js";
import { parseTrustProxy, type TrustProxy } from "../http/trust-proxy.js";
import { DEV_SECRETS_FILE, loadOrCreateDevSecrets } from "./dev-secrets.js";
import { SecretsEnvShape, secretsConfig } from "../secrets/config.js";

const bool = z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1");
const int = (min = 0) => z.coerce.number().int().min(min);
const url = z.string().url();

/** Each variable with its schema; undefined means "use the default". */
const EnvSchema = z.object({
  APP_MODE: z.enum(["development", "production"]).optional(),
  /** read only when APP_MODE is unset; see resolveMode */
  NODE_ENV: z.string().optional(),
  PORT: int().max(65535).default(3000),
  /** development: 127.0.0.1, production: 0.0.0.0 */
  HOST: z.string().optional(),
  DATA_DIR: z.string().default("./data"),
  EVENTSTORE_URL: url.optional(),
  MONGODB_URL: url.optional(),
  MONGODB_DB: z.string().default("orchestrator"),
  REDIS_URL: url.optional(),
  SQLITE_SYNCHRONOUS: z.enum(["FULL", "NORMAL", "EXTRA", "OFF"]).default("FULL"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** migration only: the HS256 secret of older releases, to verify (never sign) tokens issued before the upgrade */
  JWT_SECRET: z.string().min(32, "must be at least 32 characters").optional(),
  JWT_ISSUER: z.string().default("kernel-orchestrator"),
  JWT_AUDIENCE: z.string().default("kernel-orchestrator-api"),
  JWT_TTL_SECONDS: int(60).default(3600),
  /** the kid JWT_SECRET's tokens carry */
  JWT_KID: z.string().default("k1"),
  /** Cache-Control max-age of GET /.well-known/jwks.json (production 300, development 2) */
  JWKS_MAX_AGE_SECONDS: int(0).optional(),
  /** how long a new signing key is in the JWKS before it signs; at least JWKS_MAX_AGE_SECONDS (the default) */
  JWKS_PUBLISH_AHEAD_SECONDS: z.coerce.number().min(0).optional(),
  LOCKOUT_MAX_ATTEMPTS: int(1).default(5),
  LOCKOUT_WINDOW_SECONDS: int(1).default(900),
  LOCKOUT_DURATION_SECONDS: int(1).default(900),
  /** each repeated lockout of one (username, address) doubles the last, up to this (default a day) */
  LOCKOUT_MAX_DURATION_SECONDS: int(1).optional(),
  /** "false"/unset: X-Forwarded-For is ignored; a hop count, or a comma list of proxy addresses/CIDRs */
  TRUST_PROXY: z.string().optional(),
  BODY_LIMIT_BYTES: int(1024).default(64 * 1024),
  /** largest module artifact POST /api/v1/modules accepts (that route is exempt from BODY_LIMIT_BYTES) */
  MODULE_MAX_BYTES: int(1).default(64 * 1024 * 1024),
  /** artifact downloads served at once by this instance; more get 429 with Retry-After */
  MODULE_DOWNLOADS_MAX: int(1).default(32),
  /** committed artifacts no ModuleVersionRegistered names are removed once this much older than their last commit */
  ARTIFACT_SWEEP_GRACE_SECONDS: z.coerce.number().positive().default(3600),
  /** how often they are looked for (and once shortly after start) */
  ARTIFACT_SWEEP_INTERVAL_SECONDS: z.coerce.number().positive().default(3600),
  RATE_LIMIT_ENABLED: bool.optional(),
  RATE_LIMIT_FAIL_MODE: z.enum(["open", "closed"]).default("open"),
  /** JSON object of per-class limits per minute, e.g. {"deployments":10,"auth":5} */
  RATE_LIMITS: z.string().optional(),
  APPROVAL_TIMEOUT_SECONDS: int(1).default(24 * 3600),
  ALLOW_SELF_APPROVAL: bool.default(false),
  DEPLOYMENT_QUEUE_MODE: z.enum(["queue", "reject"]).default("queue"),
  /** JSON object of per-environment strategy settings overrides */
  STRATEGY_SETTINGS: z.string().optional(),
  /** shared secret agents present to register; required in production mode */
  AGENT_JOIN_TOKEN: z.string().min(16, "must be at least 16 characters").optional(),
  HEARTBEAT_UNHEALTHY_SECONDS: z.coerce.number().positive().optional(),
  HEARTBEAT_OFFLINE_SECONDS: z.coerce.number().positive().optional(),
  /** share of the heartbeat interval a node must leave between two stored heartbeats; 0: not paced (benches, tests) */
  HEARTBEAT_PACING: z.coerce.number().min(0).max(1).default(0.5),
  TELEMETRY_RETENTION_SECONDS: int(1).default(3600),
  SIMULATOR: bool.optional(),
  SIMULATOR_SEED: int().default(42),
  SIMULATOR_CLUSTER_SIZES: z.string().default("Development:3,QA:5,Staging:10,Production:20"),
  SSE_HEARTBEAT_SECONDS: z.coerce.number().positive().default(15),
  SSE_MAX_CONNECTIONS: int(1).default(5000),
  SSE_MAX_CONNECTIONS_PER_USER: int(1).default(50),
  SSE_STALL_SECONDS: z.coerce.number().positive().default(30),
  /** how long a runner instance holds a deployment without renewing before another may take over */
  LEASE_TTL_MS: int(1000).default(10_000),
  /** SIGTERM/SIGINT: how long the server takes to end feeds, finish requests and steps, and close stores before it exits anyway (code 1) */
  SHUTDOWN_TIMEOUT_MS: int(100).default(10_000),
  READ_WAIT_TIMEOUT_MS: int(0).default(5000),
  /** run: this instance writes the read models; follow: another instance does, into the shared MONGODB_URL */
  PROJECTIONS_MODE: z.enum(["run", "follow"]).default("run"),
  AUDIT_RETENTION_DAYS: int(1).default(90),
  /** the audit chain is anchored in the event log every this many events at most */
  AUDIT_ANCHOR_EVERY_EVENTS: int(1).default(1000),
  /** and at least this often while events come in (also at shutdown) */
  AUDIT_ANCHOR_INTERVAL_SECONDS: z.coerce.number().positive().default(60),
  OTEL_EXPORTER_OTLP_ENDPOINT: url.optional(),
  OTEL_SERVICE_NAME: z.string().default("kernel-orchestrator"),
  /** when set, GET /metrics needs Authorization: Bearer <METRICS_TOKEN> */
  METRICS_TOKEN: z.string().min(16, "must be at least 16 characters").optional(),
  /** SECRETS_BACKEND, SECRETS_MASTER_KEY, VAULT_*, SECRET_ROTATION_*: see src/secrets/config.ts */
  ...SecretsEnvShape,
});

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
  }
}

const DEV_STRATEGY_SETTINGS = {
  "*": {
    checkIntervalMs: 1000,
    requiredStableChecks: 2,
    minWaitMs: 1000,
    maxWaitMs: 20_000,
    analysisWindowMs: 4000,
    installTimeoutMs: 15_000,
    progressDeadlineMs: 10 * 60_000,
    thresholds: { minSamplesPerNode: 2 },
  },
};

/**
 * APP_MODE decides. Without it, NODE_ENV is read the way people write it: any spelling of
 * production means production (which then demands real secrets), the usual development values
 * mean development, and anything else is refused rather than guessed, because a guess of
 * "development" is what once served known credentials on a server meant for production.
 */
function resolveMode(appMode: "development" | "production" | undefined, nodeEnv: string | undefined, problems: string[]) {
  if (appMode) return appMode;
  const v = nodeEnv?.trim().toLowerCase();
  if (v === undefined || v === "development" || v === "dev" || v === "test") return "development";
  if (v === "production" || v === "prod") return "production";
  problems.push(`NODE_ENV: "${nodeEnv}" does not say which mode to run in; set APP_MODE=production or APP_MODE=development`);
  // the start is refused anyway; development only keeps production's missing-secret lines out of the message
  return "development";
}

/**
 * Commands (POST/PUT/DELETE) keep the reference system's per-resource limits; reads are `queries`
 * and event-stream connects `sse`, so polling a deployment or a dashboard does not use up the
 * deployment budget (classifyRequest in src/http/rate-limit.ts assigns them).
 */
export const RateLimitClasses = ["auth", "deployments", "approvals", "clusters", "agents", "queries", "sse", "global"] as const;
export type RateLimitClass = (typeof RateLimitClasses)[number];

function parseJson(name: string, raw: string | undefined, problems: string[]): unknown {
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    problems.push(`${name}: not valid JSON`);
    return undefined;
  }
}

export function loadConfig(env: Record<string, string | undefined> = process.env) {
  const parsed = EnvSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== "")));
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`));
  }
  const e = parsed.data;
  const problems: string[] = [];
  const mode = resolveMode(e.APP_MODE, e.NODE_ENV, problems);
  const dev = mode === "development";
  if (!dev && !e.AGENT_JOIN_TOKEN) problems.push("AGENT_JOIN_TOKEN: required in production mode (agents register with it)");
  // a verifier that cached the key set must find a new key in it before the key signs anything
  const jwksMaxAgeSeconds = e.JWKS_MAX_AGE_SECONDS ?? (dev ? 2 : 300);
  const publishAheadSeconds = e.JWKS_PUBLISH_AHEAD_SECONDS ?? jwksMaxAgeSeconds;
  if (publishAheadSeconds < jwksMaxAgeSeconds) {
    problems.push(`JWKS_PUBLISH_AHEAD_SECONDS: must be at least JWKS_MAX_AGE_SECONDS (${jwksMaxAgeSeconds} s), or a verifier with a cached key set meets a key it does not know`);
  }
  if (e.PROJECTIONS_MODE === "follow" && !e.MONGODB_URL) {
    problems.push("PROJECTIONS_MODE: follow needs MONGODB_URL (the read models it follows are written there by another instance)");
  }

  const limitsPerMinute: Record<RateLimitClass, number> = dev
    ? { auth: 50, deployments: 100, approvals: 300, clusters: 600, agents: 100_000, queries: 6000, sse: 600, global: 10_000 }
    : { auth: 5, deployments: 10, approvals: 30, clusters: 60, agents: 100_000, queries: 600, sse: 60, global: 1000 };
  const overrides = parseJson("RATE_LIMITS", e.RATE_LIMITS, problems);
  if (overrides !== undefined) {
    const o = z.partialRecord(z.enum(RateLimitClasses), z.number().int().positive()).safeParse(overrides);
    if (o.success) Object.assign(limitsPerMinute, o.data);
    else problems.push(`RATE_LIMITS: ${o.error.issues.map((i) => `${i.path.join(".")} ${i.message}`).join("; ")}`);
  }
  // development mode waits seconds, not minutes, so a canary finishes quickly with the simulator
  const strategyOverrides = parseJson("STRATEGY_SETTINGS", e.STRATEGY_SETTINGS, problems) ?? (dev ? DEV_STRATEGY_SETTINGS : undefined);
  for (const env of ["Development", "QA", "Staging", "Production"] as const) {
    try {
      resolveSettings(env, strategyOverrides);
    } catch (err) {
      const issues = err instanceof DomainError ? JSON.stringify(err.details.issues) : String(err);
      problems.push(`STRATEGY_SETTINGS: ${env}: ${issues}`);
      break;
    }
  }

  const clusterSizes: Record<string, number> = {};
  for (const part of e.SIMULATOR_CLUSTER_SIZES.split(",").filter(Boolean)) {
    const [env, n] = part.split(":");
    const count = Number(n);
    if (!env || !Number.isInteger(count) || count < 0) problems.push(`SIMULATOR_CLUSTER_SIZES: bad entry "${part}" (want Env:count)`);
    else clusterSizes[env] = count;
  }
  let trustProxy: TrustProxy = { kind: "none" };
  try {
    trustProxy = parseTrustProxy(e.TRUST_PROXY);
  } catch (err) {
    problems.push(`TRUST_PROXY: ${(err as Error).message}`);
  }
  const lockoutMaxSeconds = e.LOCKOUT_MAX_DURATION_SECONDS ?? Math.max(86_400, e.LOCKOUT_DURATION_SECONDS);
  if (lockoutMaxSeconds < e.LOCKOUT_DURATION_SECONDS) {
    problems.push("LOCKOUT_MAX_DURATION_SECONDS: must be at least LOCKOUT_DURATION_SECONDS");
  }
  const secrets = secretsConfig(e, dev, resolve(e.DATA_DIR), problems);
  if (problems.length) throw new ConfigError(problems);

  const dataDir = resolve(e.DATA_DIR);
  let agentJoinToken = e.AGENT_JOIN_TOKEN;
  // only development gets here without it (production refused above); a given value always wins
  if (!agentJoinToken) {
    try {
      agentJoinToken = loadOrCreateDevSecrets(dataDir).agentJoinToken;
    } catch (err) {
      throw new ConfigError([`DATA_DIR: cannot keep development secrets in ${DEV_SECRETS_FILE}: ${err instanceof Error ? err.message : String(err)}`]);
    }
  }

  return {
    mode,
    dev,
    port: e.PORT,
    host: e.HOST ?? (dev ? "127.0.0.1" : "0.0.0.0"),
    dataDir,
    eventstoreUrl: e.EVENTSTORE_URL,
    mongodbUrl: e.MONGODB_URL,
    mongodbDb: e.MONGODB_DB,
    redisUrl: e.REDIS_URL,
    sqliteSynchronous: e.SQLITE_SYNCHRONOUS,
    logLevel: e.LOG_LEVEL,
    jwt: {
      issuer: e.JWT_ISSUER,
      audience: e.JWT_AUDIENCE,
      ttlSeconds: e.JWT_TTL_SECONDS,
      ...(e.JWT_SECRET === undefined ? {} : { legacy: { secret: e.JWT_SECRET, kid: e.JWT_KID } }),
      jwksMaxAgeSeconds,
      /** the jwt-signing-key kind's install step waits this long: the new key is in the JWKS, not yet signing */
      publishAheadMs: publishAheadSeconds * 1000,
    },
    lockout: {
      maxAttempts: e.LOCKOUT_MAX_ATTEMPTS,
      windowMs: e.LOCKOUT_WINDOW_SECONDS * 1000,
      durationMs: e.LOCKOUT_DURATION_SECONDS * 1000,
      maxDurationMs: lockoutMaxSeconds * 1000,
    },
    trustProxy,
    bodyLimitBytes: e.BODY_LIMIT_BYTES,
    modules: { maxBytes: e.MODULE_MAX_BYTES, downloadsMax: e.MODULE_DOWNLOADS_MAX },
    artifactSweep: { graceMs: e.ARTIFACT_SWEEP_GRACE_SECONDS * 1000, intervalMs: e.ARTIFACT_SWEEP_INTERVAL_SECONDS * 1000 },
    rateLimit: {
      enabled: e.RATE_LIMIT_ENABLED ?? true,
      failMode: e.RATE_LIMIT_FAIL_MODE,
      limitsPerMinute,
    },
    approvals: { timeoutMs: e.APPROVAL_TIMEOUT_SECONDS * 1000, allowSelfApproval: e.ALLOW_SELF_APPROVAL },
    deploymentQueueMode: e.DEPLOYMENT_QUEUE_MODE,
    strategyOverrides,
    agentJoinToken,
    metricsToken: e.METRICS_TOKEN,
    secrets,
    heartbeat: {
      unhealthyAfterMs: (e.HEARTBEAT_UNHEALTHY_SECONDS ?? (dev ? 5 : 30)) * 1000,
      offlineAfterMs: (e.HEARTBEAT_OFFLINE_SECONDS ?? (dev ? 15 : 120)) * 1000,
      pacing: e.HEARTBEAT_PACING,
    },
    telemetryRetentionMs: e.TELEMETRY_RETENTION_SECONDS * 1000,
    simulator: { enabled: e.SIMULATOR ?? dev, seed: e.SIMULATOR_SEED, clusterSizes },
    sse: {
      heartbeatMs: e.SSE_HEARTBEAT_SECONDS * 1000,
      maxConnections: e.SSE_MAX_CONNECTIONS,
      maxConnectionsPerUser: e.SSE_MAX_CONNECTIONS_PER_USER,
      stallTimeoutMs: e.SSE_STALL_SECONDS * 1000,
    },
    readWaitTimeoutMs: e.READ_WAIT_TIMEOUT_MS,
    projectionsMode: e.PROJECTIONS_MODE,
    leaseTtlMs: e.LEASE_TTL_MS,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    auditRetentionMs: e.AUDIT_RETENTION_DAYS * 86_400_000,
    auditAnchor: { everyEvents: e.AUDIT_ANCHOR_EVERY_EVENTS, intervalMs: e.AUDIT_ANCHOR_INTERVAL_SECONDS * 1000 },
    otel: { endpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: e.OTEL_SERVICE_NAME },
  };
}

export type Config = ReturnType<typeof loadConfig>;
