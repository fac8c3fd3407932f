// Module registry uploads over HTTP against an embedded server: wall time and throughput of
// POST /api/v1/modules (multipart streamed to content-addressed storage while hashed, then the
// staged file verified and committed) for 1, 16 and 63 MiB artifacts, unsigned and with an
// appended kernel signature (RSA-2048, chain of 3, root trusted), one at a time and four at once.
// The client runs in its own process (bench/modules-upload-client.ts), so the server's event-loop
// delay sampled during the uploads is the server's own: its longest stall, also per MiB uploaded,
// is what the issue bounds ("a few ms per MiB").
import { fork } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { startServer } from "../src/server.js";
import { makePki } from "../test/modules/fixtures-gen.js";
import { benchConfig } from "./config.js";
import { emit } from "./emit.js";
import { QUICK } from "./quick.js";

const MiB = 1024 * 1024;
const { config, dataDir } = benchConfig("modules");
const server = await startServer(config);
const client = fork(fileURLToPath(new URL("./modules-upload-client.ts", import.meta.url)), [], { execArgv: ["--import", "tsx"] });
const delay = monitorEventLoopDelay({ resolution: 2 });
try {
  const login = async (username: string, password: string) =>
    ((await (await fetch(`${server.url}/api/v1/authentication/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username, password }) })).json()) as { token: string }).token;
  const [admin, deployer] = [await login("admin", "Admin123!"), await login("deployer", "Deploy123!")];
  const pki = makePki(join(dataDir, "bench-pki"));
  const root = await fetch(`${server.url}/api/v1/trust/roots`, { method: "POST", headers: { authorization: `Bearer ${admin}`, "content-type": "application/x-pem-file" }, body: pki.root.pem });
  if (root.status !== 201) throw new Error(`trusting the bench root: ${root.status} ${await root.text()}`);

  let n = 0;
  const pending = new Map<number, (r: { status: number; verdict: string; ms: number }) => void>();
  client.on("message", (r: { id: number; status: number; verdict: string; ms: number }) => pending.get(r.id)?.(r));
  const upload = (path: string, certificates?: string) =>
    new Promise<{ status: number; verdict: string; ms: number }>((resolve) => {
      const id = n++;
      pending.set(id, resolve);
      client.send({ id, url: server.url, token: deployer, name: "benchmod", version: `1.0.${id}`, path, certificates });
    }).then((r) => {
      if (r.status !== 201) throw new Error(`upload: ${r.status} ${r.verdict}`);
      return r;
    });

  // 63 MiB: with its signature and trailer a signed one still fits the default MODULE_MAX_BYTES (64 MiB)
  for (const sizeMiB of QUICK ? [1, 8] : [1, 16, 63]) {
    const mod = pki.pki.module(`bench-${sizeMiB}`, sizeMiB * MiB);
    const signed = pki.signModule(mod.path, "kernel");
    for (const kind of ["unsigned", "kernel-signed"] as const) {
      const path = kind === "unsigned" ? mod.path : signed.artifactPath;
      const certificates = kind === "unsigned" ? undefined : pki.bundle;
      const runs = QUICK ? 2 : sizeMiB >= 63 ? 3 : sizeMiB === 16 ? 5 : 15;
      await upload(path, certificates); // warm-up
      const times: number[] = [];
      delay.reset();
      delay.enable();
      for (let i = 0; i < runs; i++) {
        const r = await upload(path, certificates);
        if (r.verdict !== (kind === "unsigned" ? "unsigned" : "verified")) throw new Error(`unexpected verdict ${r.verdict}`);
        times.push(r.ms);
      }
      delay.disable();
      times.sort((a, b) => a - b);
      const median = times[Math.floor(times.length / 2)]!;
      const conditions = { module_mib: sizeMiB, artifact: kind, runs, storage: "file", sqlite_synchronous: "NORMAL", client: "separate process, loopback" };
      emit("module_upload_ms", median, "ms", conditions);
      emit("module_upload_mib_per_s", sizeMiB / (median / 1000), "MiB/s", conditions);
      emit("module_upload_max_event_loop_delay_ms", delay.max / 1e6, "ms", conditions);
      emit("module_upload_max_event_loop_delay_ms_per_mib", delay.max / 1e6 / sizeMiB, "ms/MiB", conditions);
    }
  }

  const parMiB = QUICK ? 4 : 16;
  const mod = pki.pki.module("bench-par", parMiB * MiB);
  await upload(mod.path);
  const t0 = performance.now();
  await Promise.all([0, 1, 2, 3].map(() => upload(mod.path)));
  const dt = performance.now() - t0;
  emit("module_upload_parallel_mib_per_s", (4 * parMiB) / (dt / 1000), "MiB/s", { module_mib: parMiB, concurrent: 4, artifact: "unsigned", storage: "file" });
} finally {
  client.disconnect();
  await server.close();
  rmSync(dataDir, { recursive: true, force: true });
}
