// Issue 12 acceptance: a rotation survives SIGKILL between steps and completes once. A real server
// process keeps its secret values in a Vault KV v2 stand-in the test controls; the test holds the
// server's requests there to kill it at known points: while the create step's write is in flight
// (Vault applied it, the log never heard: an orphan), and while the test step reads the new value.
// Each restart on the same data resumes from the stream; in the end there is one version 2, each
// step completed once, one RotationCompleted.
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { catalog } from "../../src/events/catalog/index.js";
import type { SecretEvent } from "../../src/events/catalog/secret.js";
import { EventLog } from "../../src/events/event-log.js";
import { SqliteEventStore } from "../../src/events/store/sqlite.js";
import { streams } from "../../src/events/streams.js";
import { serverProcess } from "../helpers/server-process.js";
import { startFakeVault, type FakeVault } from "../secrets/fake-vault.js";

const dataDir = mkdtempSync(join(tmpdir(), "korch-secret-crash-"));
let vault: FakeVault;
const server = serverProcess(dataDir);
const { waitHealthy, api, login } = server;

function startProcess(): ChildProcess {
  return server.start({
    SIMULATOR: "false",
    AGENT_JOIN_TOKEN: "development-join-token",
    SECRETS_BACKEND: "vault",
    VAULT_ADDR: vault.address,
    VAULT_TOKEN: vault.token,
    VAULT_PATH_PREFIX: "korch/",
  });
}
async function kill(child: ChildProcess): Promise<void> {
  child.kill("SIGKILL");
  if (child.exitCode === null && child.signalCode === null) await once(child, "exit");
}
async function readSecretStream(): Promise<SecretEvent[]> {
  const store = new SqliteEventStore({ file: join(dataDir, "events.db") });
  try {
    return (await new EventLog(store, catalog).readStream(streams.secret("rot"))) as unknown as SecretEvent[];
  } finally {
    await store.close();
  }
}
const within = async <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms).unref())]);

test("SIGKILL during the create step and again during the test step: the rotation resumes and completes once", async () => {
  vault = await startFakeVault();
  await server.pickPort();
  let child = startProcess();
  try {
    await waitHealthy();
    let token = await login();
    const created = await api("/api/v1/secrets", token, { method: "POST", body: JSON.stringify({ name: "rot", kind: "generic", value: "the-first-value" }) });
    assert.is(created.status, 201, await created.clone().text());

    // 1. killed while Vault holds the create step's write of version 2
    const write = vault.hold("POST", "/v1/secret/data/korch/rot/v2");
    const rotate = await api("/api/v1/secrets/rot/rotate", token, { method: "POST", body: JSON.stringify({ reason: "crash test" }) });
    assert.is(rotate.status, 202);
    const { rotationId } = (await rotate.json()) as { rotationId: string };
    await within(write.arrived, 15_000, "the create step's write");
    await kill(child);
    write.release(); // Vault applies it after all: an orphan nobody recorded
    let events = await readSecretStream();
    assert.not.ok(events.some((e) => e.type === "SecretVersionAdded" && e.data.version === 2), "the log never heard of version 2");

    // 2. restarted: create runs again (replacing the orphan by check-and-set); killed while the test step reads
    const read = vault.hold("GET", "/v1/secret/data/korch/rot/v2");
    child = startProcess();
    await waitHealthy();
    await within(read.arrived, 15_000, "the test step's read");
    await kill(child);
    read.release();
    events = await readSecretStream();
    const done = events.flatMap((e) => (e.type === "RotationStepCompleted" ? [e.data.step] : []));
    assert.equal(done, ["create", "install"], "killed between install and test");

    // 3. restarted again: the rotation finishes
    child = startProcess();
    await waitHealthy();
    token = await login();
    const deadline = Date.now() + 15_000;
    let rotation: { status: string; steps: { step: string }[] };
    for (;;) {
      rotation = (await (await api(`/api/v1/secrets/rot/rotations/${rotationId}`, token)).json()) as typeof rotation;
      if (rotation.status !== "InProgress" || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.is(rotation.status, "Completed");
    assert.equal(rotation.steps.map((s) => s.step), ["create", "install", "test", "finish"]);
    const view = (await (await api("/api/v1/secrets/rot", token)).json()) as { labels: unknown };
    assert.equal(view.labels, { current: 2, pending: null, previous: 1 });
    const value = (await (await api("/api/v1/secrets/rot/value?version=2", token)).json()) as { value: string };
    assert.match(value.value, /^[A-Za-z0-9_-]{43}$/);
    await kill(child);

    events = await readSecretStream();
    assert.is(events.filter((e) => e.type === "RotationCompleted").length, 1, "completed once");
    assert.is(events.filter((e) => e.type === "SecretVersionAdded" && e.data.version === 2).length, 1, "one version 2");
    assert.equal(
      events.flatMap((e) => (e.type === "RotationStepCompleted" ? [e.data.step] : [])),
      ["create", "install", "test", "finish"],
      "each step once",
    );
  } finally {
    if (child.exitCode === null && child.signalCode === null) await kill(child);
    await vault.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test.run();
