// Runs simulated node agents against a (remote) orchestrator over HTTP:
//   npm run agent -- --server http://127.0.0.1:3000 --cluster QA --count 5 [--join-token T] [--seed N]
// Ctrl-C stops heartbeating: the server then marks the nodes Unhealthy, then Offline.
// The node secrets the server issues at first registration are kept in a credentials file (0600;
// --credentials, else $AGENT_CREDENTIALS_FILE, else $DATA_DIR/agent-credentials.json with DATA_DIR
// defaulting to ./data): without them the same nodes cannot register again after a restart.
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { DEV_SECRETS_FILE, readDevSecrets } from "../platform/dev-secrets.js";
import { AgentHttpError } from "./agent-client.js";
import { matchEnvironment } from "./environments.js";
import { FileNodeSecretStore } from "./node-secret-store.js";
import { Simulator } from "./simulator.js";

const usage = `usage: npm run agent -- --server URL --cluster ENV --count N [--join-token T] [--seed N]
  [--hostname-prefix P] [--heartbeat-ms MS] [--install-failure-rate 0..1] [--install-latency-ms MIN,MAX]
  [--credentials FILE]`;

function fail(message: string): never {
  console.error(`${message}\n${usage}`);
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    server: { type: "string", default: "http://127.0.0.1:3000" },
    cluster: { type: "string" },
    count: { type: "string", default: "1" },
    "join-token": { type: "string" },
    seed: { type: "string", default: "42" },
    "hostname-prefix": { type: "string", default: "agent-" },
    "heartbeat-ms": { type: "string" },
    "install-failure-rate": { type: "string" },
    "install-latency-ms": { type: "string" },
    credentials: { type: "string" },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const environment = values.cluster ? matchEnvironment(values.cluster) : null;
if (!environment) fail(`--cluster must be Development, QA, Staging or Production (got ${values.cluster ?? "nothing"})`);
const count = Number(values.count);
if (!Number.isInteger(count) || count < 1 || count > 10_000) fail("--count must be an integer from 1 to 10000");
const seed = Number(values.seed);
if (!Number.isInteger(seed)) fail("--seed must be an integer");
const num = (name: string, raw: string | undefined, min: number, max: number) => {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max) fail(`--${name} must be a number from ${min} to ${max}`);
  return n;
};
const heartbeatIntervalMs = num("heartbeat-ms", values["heartbeat-ms"], 50, 3_600_000);
const installFailureRate = num("install-failure-rate", values["install-failure-rate"], 0, 1);
let installLatencyMs: [number, number] | undefined;
if (values["install-latency-ms"] !== undefined) {
  const [lo, hi] = values["install-latency-ms"].split(",").map(Number);
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || lo! < 0 || hi! < lo!) fail("--install-latency-ms must be MIN,MAX in ms");
  installLatencyMs = [lo!, hi!];
}
const server = values.server.replace(/\/+$/, "");
const credentialsFile = resolve(values.credentials ?? process.env.AGENT_CREDENTIALS_FILE ?? join(process.env.DATA_DIR ?? "./data", "agent-credentials.json"));

/** A development server on this machine keeps its generated join token in its data directory. */
function localDevJoinToken(): string {
  const dataDir = resolve(process.env.DATA_DIR ?? "./data");
  let secrets;
  try {
    secrets = readDevSecrets(dataDir);
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }
  if (!secrets) fail(`--join-token (or AGENT_JOIN_TOKEN) is required: no ${join(dataDir, DEV_SECRETS_FILE)} from a local development server`);
  return secrets.agentJoinToken;
}

const given = values["join-token"] ?? process.env.AGENT_JOIN_TOKEN;
const joinTokenFrom = given === undefined ? "dev-secrets" : "given";
const joinToken = given ?? localDevJoinToken();

const simulator = new Simulator({
  baseUrl: server,
  fetch: (request) => fetch(request),
  joinToken,
  clusterSizes: { [environment]: count },
  seed,
  hostnamePrefix: values["hostname-prefix"],
  secrets: new FileNodeSecretStore(credentialsFile),
  profiles: {
    [environment]: {
      ...(heartbeatIntervalMs !== undefined && { heartbeatIntervalMs }),
      ...(installFailureRate !== undefined && { installFailureRate }),
      ...(installLatencyMs && { installLatencyMs }),
    },
  },
  onError: (err, what) => console.error(`[${what}] ${err instanceof Error ? err.message : String(err)}`),
});

try {
  await simulator.start();
} catch (err) {
  const cause = err instanceof Error ? err.cause : undefined;
  const message = err instanceof Error ? err.message : String(err);
  if (cause instanceof AgentHttpError && cause.status === 409) {
    fail(`registration refused by ${server}: ${message}\n(these nodes' secrets are not in ${credentialsFile}: pass the right --credentials, or have an Admin reset the nodes' credentials)`);
  }
  if (cause instanceof AgentHttpError && cause.status === 401 && joinTokenFrom === "dev-secrets") {
    // the file holds the token the server was first seeded with; a rotation makes a new one
    fail(`registration refused by ${server}: ${message}\n(the join token in ${join(resolve(process.env.DATA_DIR ?? "./data"), DEV_SECRETS_FILE)} is the first one; if the agent-join-token secret was rotated since, an Admin reads the current one with GET /api/v1/secrets/agent-join-token/value (audited): pass it with --join-token)`);
  }
  if (cause instanceof AgentHttpError) fail(`registration refused by ${server}: ${message}`);
  fail(`cannot start the agents against ${server}: ${message}`);
}
for (const n of simulator.nodes) console.log(`node ${n.nodeId} registered in ${environment}`);
console.log(`node secrets kept in ${credentialsFile}`);
console.log(`${count} agent(s) running against ${server}; Ctrl-C to stop`);

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(1);
    stopping = true;
    console.log("stopping agents (the server will mark them Unhealthy, then Offline)");
    simulator.stop().then(() => process.exit(0));
  });
}
