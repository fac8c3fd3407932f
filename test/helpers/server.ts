import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/platform/config.js";
import type { Clock } from "../../src/platform/clock.js";
import type { ReadStore } from "../../src/projections/store/port.js";
import { startServer, type RunningServer } from "../../src/server.js";

export interface TestServer extends RunningServer {
  dataDir: string;
  /** logs in and returns a bearer token */
  login(username: string, password: string): Promise<string>;
  /** fetch relative to the server, with an optional bearer token */
  call(path: string, init?: RequestInit & { token?: string; json?: unknown }): Promise<Response>;
  stop(): Promise<void>;
}

export const DEMO = {
  admin: ["admin", "Admin123!"],
  deployer: ["deployer", "Deploy123!"],
  viewer: ["viewer", "Viewer123!"],
} as const;

/** A real server on port 0 with its own temp data dir; env entries override the test defaults. */
export async function startTestServer(
  env: Record<string, string> = {},
  options: { clock?: Clock; dataDir?: string; readStore?: ReadStore } = {},
): Promise<TestServer> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "korch-test-"));
  const config = loadConfig({
    APP_MODE: "development",
    PORT: "0",
    HOST: "127.0.0.1",
    DATA_DIR: dataDir,
    LOG_LEVEL: "silent",
    SQLITE_SYNCHRONOUS: "NORMAL",
    SIMULATOR: "false",
    RATE_LIMIT_ENABLED: "false",
    // the server no longer has a built-in join token; tests register agents with this known one
    AGENT_JOIN_TOKEN: "development-join-token",
    ...env,
  });
  const server = await startServer(config, { clock: options.clock, readStore: options.readStore });
  const call = (path: string, init: RequestInit & { token?: string; json?: unknown } = {}) => {
    const headers = new Headers(init.headers);
    if (init.token) headers.set("authorization", `Bearer ${init.token}`);
    let body = init.body;
    if (init.json !== undefined) {
      headers.set("content-type", "application/json");
      body = JSON.stringify(init.json);
    }
    return fetch(server.url + path, { ...init, headers, body });
  };
  return {
    ...server,
    dataDir,
    call,
    async login(username, password) {
      const res = await call("/api/v1/authentication/login", { method: "POST", json: { username, password } });
      if (res.status !== 200) throw new Error(`login ${username} failed: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { token: string }).token;
    },
    async stop() {
      await server.close();
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
