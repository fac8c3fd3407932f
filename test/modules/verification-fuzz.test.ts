// Properties of module verification over hostile bytes: whatever arrives as a .ko, a signature or
// a certificate bundle, the only exception is ModuleFormatError and the verdict is never
// "verified" unless the signed bytes are intact.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  ModuleFormatError,
  parseCertificates,
  splitKernelSignature,
  verifyModule,
  type TrustMaterial,
  type Verification,
} from "../../src/modules/verification/index.js";
import { kernelTrailerFor, makePki, signModule, type StandardPki } from "./fixtures-gen.js";

let dir = "";
let std: StandardPki;
let signed: Uint8Array;
let moduleLength = 0;
let trust: TrustMaterial;

/** Runs the whole pipeline as the registry does; undefined when the input was refused as malformed. */
function pipeline(file: Uint8Array, certificates: string = std.bundle, signature?: Uint8Array): Verification | undefined {
  try {
    const split = signature ? { module: file, signature } : splitKernelSignature(file);
    return verifyModule({ module: split.module, signature: split.signature, certificates, trust });
  } catch (e) {
    if (e instanceof ModuleFormatError) return undefined;
    throw e;
  }
}

test.before(() => {
  dir = mkdtempSync(join(tmpdir(), "module-fuzz-"));
  std = makePki(dir);
  const mod = std.pki.module("fuzz", 2048);
  moduleLength = mod.bytes.byteLength;
  signed = std.signModule(mod.path, "kernel").artifact;
  trust = { roots: [std.root.pem], revokedFingerprints: new Set(), now: new Date() };
  assert.is(pipeline(signed)?.status, "verified", "the unmutated file verifies");
});

test.after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("random bytes as a .ko (with or without a kernel trailer) never throw anything but ModuleFormatError, never verify", () => {
  const withTrailer = fc
    .record({ body: fc.uint8Array({ maxLength: 2048 }), sigLen: fc.oneof(fc.nat({ max: 4096 }), fc.nat()), idType: fc.constantFrom(2, 2, 2, 1, 0) })
    .map(({ body, sigLen, idType }) => new Uint8Array(Buffer.concat([body, kernelTrailerFor(sigLen, idType)])));
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 4096 }), withTrailer), (file) => {
      const v = pipeline(file);
      assert.ok(v === undefined || v.status !== "verified");
    }),
    { numRuns: 300 },
  );
});

test("random bytes as a detached signature never throw anything but ModuleFormatError, never verify", () => {
  // Mostly DER-looking: a SEQUENCE header in front of random content reaches deeper into the parser.
  const derish = fc.uint8Array({ minLength: 2, maxLength: 1500 }).map((b) => new Uint8Array([0x30, 0x82, (b.length >> 8) & 0xff, b.length & 0xff, ...b]));
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 1500 }), derish), (sig) => {
      const v = pipeline(new Uint8Array(16), std.bundle, sig);
      assert.ok(v === undefined || v.status !== "verified");
    }),
    { numRuns: 300 },
  );
});

test("any byte changed in a signed .ko: only ModuleFormatError or a verdict, and never verified when a module byte changed", () => {
  fc.assert(
    fc.property(fc.array(fc.record({ at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }), { minLength: 1, maxLength: 4 }), (flips) => {
      const file = new Uint8Array(signed);
      let touchedModule = false;
      for (const { at, xor } of flips) {
        const i = at % file.length;
        file[i]! ^= xor;
        if (i < moduleLength) touchedModule = true;
      }
      const v = pipeline(file);
      if (touchedModule) assert.ok(v === undefined || v.status !== "verified", `module byte changed but ${v?.status}`);
    }),
    { numRuns: 300 },
  );
});

test("any byte changed in a certificate of the bundle: only ModuleFormatError or a verdict that is not verified", () => {
  const ders = parseCertificates(std.bundle).map((c) => c.der);
  const pem = (der: Uint8Array) => `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString("base64")}\n-----END CERTIFICATE-----\n`;
  fc.assert(
    fc.property(fc.nat({ max: ders.length - 1 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (which, at, xor) => {
      const mutated = ders.map((d, i) => {
        const copy = new Uint8Array(d);
        if (i === which) copy[at % copy.length]! ^= xor;
        return pem(copy);
      });
      const v = pipeline(signed, mutated.join(""));
      assert.ok(v === undefined || v.status !== "verified", `certificate ${which} byte ${at % ders[which]!.length} changed but verified`);
    }),
    { numRuns: 300 },
  );
});

test("random text as a certificate bundle never throws anything but ModuleFormatError", () => {
  const blocky = fc
    .tuple(fc.constantFrom("CERTIFICATE", "PRIVATE KEY", "X509 CERTIFICATE", "CMS"), fc.base64String({ maxLength: 800 }))
    .map(([label, b64]) => `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`);
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 400 }), blocky, fc.tuple(blocky, blocky).map(([a, b]) => a + b)), (text) => {
      const v = pipeline(signed, text);
      assert.ok(v === undefined || v.status !== "verified");
    }),
    { numRuns: 300 },
  );
});

test.run();
