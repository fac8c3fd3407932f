// Module verification: wall time of splitKernelSignature + verifyModule (what a registry upload
// and every re-verification after a trust change run, synchronously, on the event loop) for 1 MiB
// and 32 MiB modules signed as scripts/sign-file does (RSA-2048 PKCS#1 v1.5, no signed
// attributes, chain signer -> intermediate -> root), and with signed attributes (the module is then
// hashed by createHash instead of inside the signature check). Median of several runs after a
// warm-up; the very first verification in the process (JIT cold, certificate parse cache empty)
// is reported on its own as module_verify_cold_ms.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { splitKernelSignature, verifyModule } from "../src/modules/verification/index.js";
import { makePki, signModule } from "../test/modules/fixtures-gen.js";
import { emit } from "./emit.js";
import { QUICK } from "./quick.js";

const MiB = 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), "bench-module-verify-"));
try {
  const pki = makePki(dir);
  const trust = { roots: [pki.root.pem], revokedFingerprints: new Set<string>(), now: new Date() };
  for (const sizeMiB of QUICK ? [1, 8] : [1, 32]) {
    const mod = pki.pki.module(`m${sizeMiB}`, sizeMiB * MiB);
    for (const attributes of [false, true]) {
      const file = signModule(mod.path, pki.signer, "kernel", { attributes }).artifact;
      const runs = QUICK ? 3 : sizeMiB === 1 ? 40 : 7;
      const times: number[] = [];
      for (let i = 0; i < runs + 1; i++) {
        const t0 = performance.now();
        const { module, signature } = splitKernelSignature(file);
        const v = verifyModule({ module, signature, certificates: pki.bundle, trust });
        const dt = performance.now() - t0;
        if (v.status !== "verified") throw new Error(`bench fixture did not verify: ${v.reason}`);
        if (i > 0) times.push(dt);
        else if (sizeMiB === 1 && !attributes) emit("module_verify_cold_ms", dt, "ms", { module_mib: sizeMiB, signature: "rsa2048-pkcs1v15", format: "kernel", first_in_process: true });
      }
      times.sort((a, b) => a - b);
      const median = times[Math.floor(times.length / 2)]!;
      const conditions = { module_mib: sizeMiB, signature: "rsa2048-pkcs1v15", format: "kernel", signed_attributes: attributes, chain: 3, runs };
      emit("module_verify_ms", median, "ms", conditions);
      emit("module_verify_ms_per_mib", median / sizeMiB, "ms/MiB", conditions);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
