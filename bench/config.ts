import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, type Config } from "../src/platform/config.js";

/** A bench server's environment: port 0, quiet, unthrottled, no simulator, over `dataDir`. */
export function benchEnv(dataDir: string): Record<string, string> {
  return {
    APP_MODE: "development",
    PORT: "0",
    HOST: "127.0.0.1",
    DATA_DIR: dataDir,
    LOG_LEVEL: "silent",
    SQLITE_SYNCHRONOUS: "NORMAL",
    SIMULATOR: "false",
    RATE_LIMIT_ENABLED: "false",
  };
}

/** An embedded server on port 0 in a fresh temp dir, quiet and unthrottled; `env` adds to it. */
export function benchConfig(name: string, env: Record<string, string> = {}): { config: Config; dataDir: string } {
  const dataDir = mkdtempSync(join(tmpdir(), `korch-${name}-bench-`));
  const config = loadConfig({ ...benchEnv(dataDir), ...env });
  return { config, dataDir };
}
