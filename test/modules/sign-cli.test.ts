// The signing tool and the development demo PKI: a module signed with `npm run modules -- sign`
// against the demo CA verifies (kernel format and detached), in the exact format sign-file writes.
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ensureDemoPki } from "../../src/modules/demo-pki.js";
import { hasAppendedSignature, signModule } from "../../src/modules/sign-cli.js";
import { kernelTrailer, splitKernelSignature, verifyModule } from "../../src/modules/verification/index.js";
import { kernelTrailerFor } from "./fixtures-gen.js";

const dir = mkdtempSync(join(tmpdir(), "korch-sign-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test("the demo PKI is made once per data directory, keys 0600", async () => {
  const first = await ensureDemoPki(dir);
  assert.ok(first.created);
  for (const key of [first.caKeyPath, first.signerKeyPath]) assert.is(statSync(key).mode & 0o777, 0o600);
  const again = await ensureDemoPki(dir);
  assert.not.ok(again.created);
  assert.is(again.caPem, first.caPem);
});

test("the trailer is struct module_signature + magic, as sign-file writes it", () => {
  assert.equal(Buffer.from(kernelTrailer(1234)), kernelTrailerFor(1234));
});

test("kernel-format and detached signatures by the demo signer verify against the demo CA", async () => {
  const pki = await ensureDemoPki(dir);
  const trust = { roots: [pki.caPem], revokedFingerprints: new Set<string>(), now: new Date() };
  const certificates = readFileSync(pki.signerCertPath, "utf8");
  const module = join(dir, "demo.ko");
  const bytes = randomBytes(50_000);
  writeFileSync(module, bytes);

  const detached = join(dir, "demo.p7s");
  await signModule({ file: module, key: pki.signerKeyPath, cert: pki.signerCertPath, detached });
  assert.equal(readFileSync(module), bytes, "--detached leaves the module alone");
  const d = verifyModule({ module: bytes, signature: new Uint8Array(readFileSync(detached)), certificates, trust });
  assert.is(d.status, "verified", d.reason ?? "");
  assert.match(d.signer!.subject, /CN=Demo Module Signing/);

  const out = join(dir, "demo.signed.ko");
  await signModule({ file: module, key: pki.signerKeyPath, cert: pki.signerCertPath, out });
  const signed = readFileSync(out);
  assert.ok(hasAppendedSignature(signed));
  const split = splitKernelSignature(signed);
  assert.equal(Buffer.from(split.module), bytes);
  assert.is(verifyModule({ module: split.module, signature: split.signature, certificates, trust }).status, "verified");

  await signModule({ file: out, key: pki.signerKeyPath, cert: pki.signerCertPath }).then(
    () => assert.unreachable("signing twice"),
    (err: unknown) => assert.match(String(err), /already carries an appended signature/),
  );
});

test.run();
