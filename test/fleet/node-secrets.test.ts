import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { streams } from "../../src/events/streams.js";
import { FileNodeSecretStore } from "../../src/fleet/node-secret-store.js";
import { DEMO, startTestServer, type TestServer } from "../helpers/server.js";
import { JOIN_TOKEN } from "./helpers.js";

// Agents keep the node secrets the server issues, so a restarted agent is still the same node.

const t = suite<{ dir: string }>("node secrets across restarts");
t.before((ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), "korch-node-secrets-"));
});
t.after((ctx) => rmSync(ctx.dir, { recursive: true, force: true }));

const mode = (path: string) => statSync(path).mode & 0o777;

t("the file store keeps every secret of concurrent writes, in a 0600 file in a 0700 directory, and refuses a file it did not write", async ({ dir }) => {
  const path = join(dir, "store", "secrets.json");
  const store = new FileNodeSecretStore(path);
  assert.is(await store.get("a"), undefined);
  await Promise.all(Array.from({ length: 20 }, (_, i) => store.set(`k${i}`, `s${i}`)));
  assert.is(mode(path), 0o600);
  assert.is(mode(join(dir, "store")), 0o700);
  const reread = new FileNodeSecretStore(path);
  for (let i = 0; i < 20; i++) assert.is(await reread.get(`k${i}`), `s${i}`);
  assert.is(await reread.get("__proto__"), undefined);

  const bad = join(dir, "bad.json");
  writeFileSync(bad, "{not json");
  try {
    await new FileNodeSecretStore(bad).get("x");
    assert.unreachable("a corrupt file is an error, not an empty store");
  } catch (err) {
    assert.match(String(err), /not a node credentials file/);
  }
});

type Detail = { nodes: { nodeId: string; lastHeartbeatAt: string | null }[] };

t("the in-process simulator is the same nodes after a restart on the same data directory", async ({ dir }) => {
  const dataDir = join(dir, "server-data");
  const env = { SIMULATOR: "true", SIMULATOR_CLUSTER_SIZES: "Development:2" };
  let s: TestServer = await startTestServer(env, { dataDir });
  try {
    const before = await s.deps.log.readAll({ filter: { eventTypes: ["NodeCredentialIssued"] } });
    assert.is(before.length, 2);
    assert.is(mode(join(dataDir, "simulator-credentials.json")), 0o600);
    await s.stop();

    const restartedAt = Date.now();
    s = await startTestServer(env, { dataDir });
    const viewer = await s.login(...DEMO.viewer);
    const detail = (await (await s.call("/api/v1/clusters/Development", { token: viewer })).json()) as Detail;
    assert.is(detail.nodes.length, 2);
    // each node registered again with its secret and heartbeated: no node was refused
    for (const n of detail.nodes) assert.ok(Date.parse(n.lastHeartbeatAt ?? "0") >= restartedAt - 1000, `${n.nodeId} beat after the restart`);
    for (const n of detail.nodes) {
      const issued = (await s.deps.log.readStream(streams.node(n.nodeId))).filter((e) => e.type === "NodeCredentialIssued");
      assert.is(issued.length, 1, "registered again with the kept secret, not claimed afresh");
    }
  } finally {
    await s.stop();
  }
});

/** `npm run agent` as a user runs it; resolves once it says its agents run, or when it exits. */
function agentCli(server: TestServer, credentials: string): Promise<{ code: number | null; stdout: string; stderr: string; stop(): Promise<void> }> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "src/fleet/agent-cli.ts", "--server", server.url, "--cluster", "QA", "--count", "2", "--join-token", JOIN_TOKEN, "--credentials", credentials],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return new Promise((resolve) => {
    const stop = async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    };
    child.stdout.on("data", (d) => {
      stdout += d;
      if (stdout.includes("running against")) resolve({ code: null, stdout, stderr, stop });
    });
    child.stderr.on("data", (d) => (stderr += d));
    void exited.then((code) => resolve({ code, stdout, stderr, stop }));
  });
}

t("the agent CLI keeps its node secrets in a 0600 credentials file and is the same nodes when run again", async ({ dir }) => {
  const s = await startTestServer();
  try {
    const credentials = join(dir, "cli", "agent-credentials.json");
    const first = await agentCli(s, credentials);
    assert.is(first.code, null, first.stderr);
    await first.stop();
    assert.is(mode(credentials), 0o600);
    assert.not.match(readFileSync(credentials, "utf8"), JOIN_TOKEN);

    const again = await agentCli(s, credentials);
    assert.is(again.code, null, again.stderr);
    await again.stop();

    // without the secrets the nodes are someone else's: refused, with a hint
    const stranger = await agentCli(s, join(dir, "cli", "other.json"));
    assert.is(stranger.code, 2, stranger.stdout);
    assert.match(stranger.stderr, /409/);
    assert.match(stranger.stderr, /credentials|secret/);
  } finally {
    await s.stop();
  }
});

t.run();
