// Starts a throw-away redis-server for tests (no persistence, free port, killed on stop or exit).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestRedis {
  url: string;
  stop(): Promise<void>;
}

/**
 * A Redis for tests: REDIS_URL when set (stop() then does nothing, and tests should use their own
 * key prefix), else a fresh redis-server from PATH on a free port. Null when neither is available.
 */
export async function startRedisServer(): Promise<TestRedis | null> {
  const external = process.env.REDIS_URL;
  if (external) return { url: external, stop: async () => {} };
  if (!hasRedisServer()) return null;
  let lastError: unknown;
  // another process can grab the free port between our probe and redis binding it: retry
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await launch(await freePort());
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}

/** the port of a listener just opened and closed, so nothing is listening there now */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

function hasRedisServer(): boolean {
  const r = spawnSync("redis-server", ["--version"], { stdio: "ignore" });
  return !r.error && r.status === 0;
}

async function launch(port: number): Promise<TestRedis> {
  const dir = mkdtempSync(join(tmpdir(), "redis-test-"));
  const child = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout?.on("data", (d) => (output += d));
  child.stderr?.on("data", (d) => (output += d));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  // a test process that ends without stop() must not leave a server behind
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);

  const stop = async () => {
    process.off("exit", killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const force = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(force);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    await waitForPong(port, child, 5000);
  } catch (err) {
    await stop();
    throw new Error(`redis-server did not start on port ${port}: ${(err as Error).message}\n${output}`);
  }
  return { url: `redis://127.0.0.1:${port}`, stop };
}

async function waitForPong(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`exited with code ${child.exitCode}`);
    if (await pingOnce(port)) return;
    await delay(20);
  }
  throw new Error(`no PONG within ${timeoutMs} ms`);
}

function pingOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ port, host: "127.0.0.1" });
    let reply = "";
    const finish = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => finish(false));
    sock.once("error", () => finish(false));
    sock.once("connect", () => sock.write("PING\r\n"));
    sock.on("data", (d) => {
      reply += d;
      if (reply.includes("\r\n")) finish(reply.startsWith("+PONG"));
    });
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
