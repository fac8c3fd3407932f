// A real server process (`node --import tsx src/main.ts`) on 127.0.0.1 over a data dir, for the
// tests that kill it and start it again on the same data (test/e2e/*-crash*, crash-resume).
import { spawn, type ChildProcess } from "node:child_process";
import { freePort } from "./redis-server.js";

export interface ServerProcess {
  /** picks the free port every later start listens on */
  pickPort(): Promise<void>;
  /** where it listens (after pickPort) */
  url(): string;
  /**
   * Starts the server; `env` adds to or overrides the defaults (development mode, silent, no rate
   * limit). `onStderr` hears what it writes there (ignored otherwise).
   */
  start(env: Record<string, string>, onStderr?: (text: string) => void): ChildProcess;
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** fetch relative to the server with a bearer token; a body is sent as JSON */
  api(path: string, token: string, init?: RequestInit): Promise<Response>;
  /** logs in as the development admin */
  login(): Promise<string>;
}

export function serverProcess(dataDir: string): ServerProcess {
  let port = 0;
  const base = () => `http://127.0.0.1:${port}`;
  return {
    async pickPort() {
      port = await freePort();
    },
    url: base,
    start(env, onStderr) {
      const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
        env: {
          ...process.env,
          APP_MODE: "development",
          PORT: String(port),
          HOST: "127.0.0.1",
          DATA_DIR: dataDir,
          LOG_LEVEL: "silent",
          RATE_LIMIT_ENABLED: "false",
          ...env,
        },
        stdio: ["ignore", "ignore", onStderr ? "pipe" : "ignore"],
      });
      if (onStderr) child.stderr?.on("data", (d) => onStderr(String(d)));
      return child;
    },
    async waitHealthy(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        try {
          if ((await fetch(`${base()}/health`)).status === 200) return;
        } catch {
          // not up yet
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error("server did not become healthy");
    },
    async api(path, token, init = {}) {
      const headers = new Headers({ authorization: `Bearer ${token}` });
      if (init.body) headers.set("content-type", "application/json");
      return fetch(base() + path, { ...init, headers });
    },
    async login() {
      const res = await fetch(`${base()}/api/v1/authentication/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ username: "admin", password: "Admin123!" }),
      });
      return ((await res.json()) as { token: string }).token;
    },
  };
}
