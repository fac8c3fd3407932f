import { ConfigError, loadConfig } from "./platform/config.js";
import { startServer, StartupRefusedError } from "./server.js";

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

const server = await startServer(config).catch((err: unknown) => {
  if (!(err instanceof StartupRefusedError)) throw err;
  console.error(err.message);
  process.exit(2);
});
console.log(`kernel orchestrator (${config.mode}) listening on ${server.url}  docs: ${server.url}/swagger`);

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(1);
    stopping = true;
    server.close().then(
      () => process.exit(0),
      (err) => {
        console.error(err);
        process.exit(1);
      },
    );
  });
}
