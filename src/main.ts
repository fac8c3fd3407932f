import { ConfigError, loadConfig } from "./platform/config.js";
import { startServer, StartupRefusedError } from "./server.js";

// Node exits on a promise rejected with nobody listening. Here that would end every deployment
// step in flight, SSE feed and long-poll at once over what is usually one lost background write,
// and a restart would find the same state. Failures are handled (retried, reported) where they
// happen; this only makes one that slipped through visible. uncaughtException still exits: after
// a synchronous throw the process state is unknown.
process.on("unhandledRejection", (reason) => {
  console.error(JSON.stringify({ level: "error", time: new Date().toISOString(), msg: "unhandled rejection (not exiting)", err: reason instanceof Error ? reason.stack : String(reason) }));
});

let config;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(2);
  }
  throw err;
}

// a start refused (a port in use, demo users outside development, a token lifetime the keys cannot
// honour) says what to do and exits 2, having closed what it opened; anything else is a crash
const server = await startServer(config).catch((err: unknown) => {
  if (!(err instanceof StartupRefusedError) && !(err instanceof ConfigError)) throw err;
  console.error(err.message);
  process.exit(2);
});
console.log(`kernel orchestrator (${config.mode}) listening on ${server.url}  docs: ${server.url}/swagger`);

// SIGTERM/SIGINT: close() ends feeds and long-polls, lets requests and steps in flight finish and
// closes the stores, all within SHUTDOWN_TIMEOUT_MS; past it, or on a second signal, exit anyway
// (1): whatever was not finished is resumed from the log by the next start.
let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(1);
    stopping = true;
    const shutdownTimeoutMs = config.shutdownTimeoutMs;
    setTimeout(() => {
      console.error(JSON.stringify({ level: "error", time: new Date().toISOString(), msg: "shutdown did not finish in time; exiting", shutdownTimeoutMs }));
      process.exit(1);
    }, shutdownTimeoutMs).unref();
    server.close().then(
      () => process.exit(0),
      (err) => {
        console.error(err);
        process.exit(1);
      },
    );
  });
}
