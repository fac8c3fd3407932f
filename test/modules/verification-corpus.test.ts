// Acceptance corpus for module verification, generated here with the openssl CLI: valid
// kernel-format and detached signatures verify; every broken one fails with the right check and
// code named, or is refused as a ModuleFormatError. Cases marked "limbo" mirror C2SP x509-limbo
// test cases (same chain shapes, generated rather than vendored).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  ModuleFormatError,
  parseCertificates,
  parseSignature,
  splitKernelSignature,
  verifyModule,
  type CheckName,
  type FailureCode,
  type TrustMaterial,
  type Verification,
  type VerificationStatus,
} from "../../src/modules/verification/index.js";
import { makePki, signDetached, signModule, kernelTrailerFor, type Identity, type Pki, type StandardPki } from "./fixtures-gen.js";

const YEAR = 365 * 86_400_000;
const now = new Date();
const ago = (ms: number) => new Date(now.getTime() - ms);
const ahead = (ms: number) => new Date(now.getTime() + ms);

let dir = "";
let std: StandardPki;
let pki: Pki;
let mod: { path: string; bytes: Uint8Array };
/** Every identity beyond the standard three, by case. */
const id: Record<string, Identity> = Object.create(null);

function trust(roots: Identity[], revoked: Identity[] = [], at = now): TrustMaterial {
  return { roots: roots.map((r) => r.pem), revokedFingerprints: new Set(revoked.map((r) => r.fingerprint256)), now: at };
}

function kernel(file: Uint8Array, certificates: string, t: TrustMaterial): Verification {
  const { module, signature } = splitKernelSignature(file);
  return verifyModule({ module, signature, certificates, trust: t });
}

function detached(module: Uint8Array, signature: Uint8Array, certificates: string, t: TrustMaterial): Verification {
  return verifyModule({ module, signature, certificates, trust: t });
}

/** Signs the shared module with `signer` in kernel format and verifies it. */
function kernelBy(signer: Identity, certificates: string, t: TrustMaterial, o: Parameters<typeof signModule>[3] = {}): Verification {
  return kernel(signModule(mod.path, signer, "kernel", o).artifact, certificates, t);
}

function assertVerified(v: Verification, chainLength?: number): void {
  assert.is(v.status, "verified", `expected verified, got ${v.status}: ${JSON.stringify(v.failures)}`);
  assert.equal(v.failures, []);
  assert.is(v.reason, null);
  assert.equal(v.checks, { integrity: "passed", authenticity: "passed", expiry: "passed", revocation: "passed" });
  if (chainLength !== undefined) assert.is(v.chain.length, chainLength);
  assert.is(v.chain.length, v.chainFingerprints.length);
}

/** The verdict fails `check` with `code`, that failure decides the status, and (with `only`) no other check fails. */
function assertFails(v: Verification, status: VerificationStatus, check: CheckName, code: FailureCode, only = true): void {
  const seen = JSON.stringify(v.failures);
  assert.is(v.status, status, `status ${v.status}, failures ${seen}`);
  assert.ok(v.failures.some((f) => f.check === check && f.code === code), `expected ${check}/${code} in ${seen}`);
  assert.is(v.checks[check], "failed");
  assert.is(v.reason, v.failures[0]!.reason);
  if (only) {
    assert.ok(v.failures.every((f) => f.check === check), `only ${check} should fail: ${seen}`);
    for (const c of ["integrity", "authenticity", "expiry", "revocation"] as const) if (c !== check) assert.is(v.checks[c], "passed", `${c} in ${seen}`);
  }
}

function assertFormatError(fn: () => unknown, pattern: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, ModuleFormatError);
    assert.is((e as Error).name, "ModuleFormatError");
    assert.match((e as Error).message, pattern);
    return;
  }
  assert.unreachable(`expected a ModuleFormatError matching ${pattern}`);
}

test.before(() => {
  dir = mkdtempSync(join(tmpdir(), "module-corpus-"));
  std = makePki(dir);
  pki = std.pki;
  mod = pki.module("netfilter-ext", 64 * 1024);
  const { root, intermediate, signer } = std;
  const same = (i: Identity) => ({ sameKeyAs: i });
  id.ec256 = pki.issue("ec256-signer", { issuer: intermediate, key: "ec256" });
  id.ec384 = pki.issue("ec384-signer", { issuer: intermediate, key: "ec384" });
  id.pssCert = pki.issue("pss-cert-signer", { issuer: intermediate, key: same(signer), pss: true });
  id.expired = pki.issue("expired-signer", { issuer: intermediate, key: same(signer), notBefore: ago(2 * YEAR), notAfter: ago(YEAR) });
  id.future = pki.issue("future-signer", { issuer: intermediate, key: same(signer), notBefore: ahead(YEAR), notAfter: ahead(2 * YEAR) });
  id.notCa = pki.issue("not-a-ca", { issuer: root, key: same(intermediate), basicConstraints: "critical,CA:FALSE", keyUsage: "critical,keyCertSign,digitalSignature" });
  id.underNotCa = pki.issue("under-not-a-ca", { issuer: id.notCa, key: same(signer) });
  id.noBc = pki.issue("no-basic-constraints-ca", { issuer: root, key: same(intermediate), basicConstraints: null });
  id.underNoBc = pki.issue("under-no-bc", { issuer: id.noBc, key: same(signer) });
  id.subCa = pki.issue("sub-ca", { issuer: intermediate, key: same(intermediate), ca: { pathLen: 0 } });
  id.underSubCa = pki.issue("under-sub-ca", { issuer: id.subCa, key: same(signer) });
  id.pl1 = pki.issue("int-pathlen-1", { issuer: root, key: same(intermediate), ca: { pathLen: 1 } });
  id.pl2 = pki.issue("int-pathlen-2", { issuer: id.pl1, key: same(intermediate), ca: { pathLen: 2 } });
  id.underPl2 = pki.issue("under-pathlen-2", { issuer: id.pl2, key: same(signer) });
  id.noDigSig = pki.issue("no-digital-signature", { issuer: intermediate, key: same(signer), keyUsage: "critical,keyEncipherment" });
  id.serverAuth = pki.issue("server-auth-only", { issuer: intermediate, key: same(signer), extendedKeyUsage: "serverAuth" });
  id.otherRoot = pki.issue("other-root", { subj: "/O=Other Corp/CN=Other Root CA", ca: true, key: "ec256" });
  id.underOther = pki.issue("under-other-root", { issuer: id.otherRoot, key: same(signer) });
  id.sha1Cert = pki.issue("sha1-cert-signer", { issuer: intermediate, key: same(signer), md: "sha1" });
  id.rsa1024 = pki.issue("rsa1024-signer", { issuer: intermediate, key: "rsa1024" });
  id.bigExponent = pki.issue("big-exponent-signer", { issuer: intermediate, key: { keyPath: pki.key("rsa2048", "big-exponent", { publicExponent: 2n ** 33n + 1n }) } });
  id.critical = pki.issue("unknown-critical-signer", { issuer: intermediate, key: same(signer), extra: ["1.3.6.1.4.1.55738.666.1 = critical,ASN1:NULL"] });
  id.unrelated = pki.issue("unrelated-critical-int", { subj: "/CN=unrelated-intermediate", issuer: root, key: same(intermediate), ca: true, extra: ["1.3.6.1.4.1.55738.666.1 = critical,ASN1:NULL"] });
  // Two CAs that issue each other (x509-limbo intermediate-cycle-distinct-cas).
  const a0 = pki.issue("loop-a0", { subj: "/CN=Loop CA A", ca: true, key: "ec256" });
  const b0 = pki.issue("loop-b0", { subj: "/CN=Loop CA B", ca: true, key: "ec256" });
  id.loopA = pki.issue("loop-a", { subj: "/CN=Loop CA A", ca: true, key: same(a0), issuer: b0 });
  id.loopB = pki.issue("loop-b", { subj: "/CN=Loop CA B", ca: true, key: same(b0), issuer: a0 });
  id.underLoop = pki.issue("under-loop", { issuer: id.loopA, key: same(signer) });
  // Same names as the real root and intermediate, other keys: names alone must never link.
  const fakeRoot = pki.issue("fake-root", { subj: root.subj, ca: true, key: "ec256" });
  id.forgedInt = pki.issue("forged-intermediate", { subj: intermediate.subj, ca: { pathLen: 0 }, key: "ec256", issuer: fakeRoot });
  id.underForged = pki.issue("under-forged", { issuer: id.forgedInt, key: same(signer) });
  // x509-limbo multiple-chains-expired-intermediate ("chain of pain").
  id.root2 = pki.issue("limbo-root-2", { subj: "/CN=x509-limbo-root-2", ca: true, key: "ec256" });
  id.expiredCrossInt = pki.issue("expired-cross", { subj: root.subj, ca: { pathLen: 1 }, key: same(root), issuer: id.root2, notBefore: ago(3 * YEAR), notAfter: ago(2 * YEAR) });
  id.underRoot = pki.issue("under-root", { issuer: root, key: same(signer) });
  id.expiredRoot = pki.issue("expired-root", { subj: "/CN=Expired Root", ca: true, key: same(root), notBefore: ago(3 * YEAR), notAfter: ago(YEAR) });
  id.underExpiredRoot = pki.issue("under-expired-root", { issuer: id.expiredRoot, key: same(signer) });
  id.expiredInt = pki.issue("expired-int", { subj: "/CN=Expired Intermediate", ca: true, key: same(intermediate), issuer: root, notBefore: ago(3 * YEAR), notAfter: ago(YEAR) });
  id.underExpiredInt = pki.issue("under-expired-int", { issuer: id.expiredInt, key: same(signer) });
});

test.after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// ---- valid signatures ----

test("kernel format, RSA-2048 PKCS#1 v1.5 (as scripts/sign-file makes it) verifies", () => {
  const v = kernelBy(std.signer, std.bundle, trust([std.root]));
  assertVerified(v, 3);
  assert.is(v.signer?.fingerprint256, std.signer.fingerprint256);
  assert.is(v.signer?.subject, "O=Example Corp, CN=Example Module Signer");
  assert.equal(v.chainFingerprints, [std.signer.fingerprint256, std.intermediate.fingerprint256, std.root.fingerprint256]);
  assert.equal(v.chain, ["O=Example Corp, CN=Example Module Signer", "O=Example Corp, CN=Example Intermediate CA", "O=Example Corp, CN=Example Root CA"]);
});

test("kernel split gives back exactly the module bytes and the CMS", () => {
  const s = signModule(mod.path, std.signer, "kernel");
  const split = splitKernelSignature(s.artifact);
  assert.equal(Buffer.from(split.module), Buffer.from(mod.bytes));
  assert.equal(Buffer.from(split.signature!), Buffer.from(s.cms));
  assert.equal(split.trailer, { algo: 0, hash: 0, idType: 2, signerLen: 0, keyIdLen: 0, sigLen: s.cms.byteLength });
});

test("detached DER, RSA-2048 PKCS#1 v1.5 verifies", () => {
  assertVerified(detached(mod.bytes, signDetached(mod.path, std.signer), std.bundle, trust([std.root])), 3);
});

test("detached PEM with signed attributes (messageDigest) verifies", () => {
  const sig = signDetached(mod.path, std.signer, { outform: "PEM", attributes: true });
  const parsed = parseSignature(sig);
  assert.ok(parsed.signedAttributes, "has signed attributes");
  assertVerified(detached(mod.bytes, sig, std.bundle, trust([std.root])));
});

test("RSA-2048 PSS verifies, kernel and detached", () => {
  assertVerified(kernelBy(std.signer, std.bundle, trust([std.root]), { pss: true }));
  const sig = signDetached(mod.path, std.signer, { pss: true });
  assert.is(parseSignature(sig).signatureAlgorithm.oid, "1.2.840.113549.1.1.10");
  assertVerified(detached(mod.bytes, sig, std.bundle, trust([std.root])));
  assertVerified(detached(mod.bytes, signDetached(mod.path, std.signer, { pss: true, attributes: true }), std.bundle, trust([std.root])));
});

test("ECDSA P-256 verifies, kernel and detached; P-384 too", () => {
  const bundle256 = id.ec256!.pem + std.intermediate.pem;
  assertVerified(kernelBy(id.ec256!, bundle256, trust([std.root])));
  assertVerified(detached(mod.bytes, signDetached(mod.path, id.ec256!), bundle256, trust([std.root])));
  assertVerified(detached(mod.bytes, signDetached(mod.path, id.ec384!, { md: "sha384" }), id.ec384!.pem + std.intermediate.pem, trust([std.root])));
});

test("a certificate signed with RSASSA-PSS links; signer named by subjectKeyIdentifier (sign-file -k) is found", () => {
  assertVerified(kernelBy(id.pssCert!, id.pssCert!.pem + std.intermediate.pem, trust([std.root])));
  const sig = signDetached(mod.path, std.signer, { keyId: true });
  assert.is(parseSignature(sig).signerId.kind, "subjectKeyIdentifier");
  assertVerified(detached(mod.bytes, sig, std.bundle, trust([std.root])));
});

test("a signer certificate trusted directly (the kernel's own model) verifies with no bundle", () => {
  assertVerified(kernelBy(std.signer, "", trust([std.signer])), 1);
});

test("a certificate carried inside the CMS is used to find the signer", () => {
  const sig = signDetached(mod.path, std.signer, { embedCertificate: true });
  assert.is(parseSignature(sig).certificates.length, 1);
  assertVerified(detached(mod.bytes, sig, std.intermediate.pem, trust([std.root])));
});

test("trust is judged against the roots in force: untrusted, then verified once the root is added", () => {
  const file = signModule(mod.path, std.signer, "kernel").artifact;
  assertFails(kernel(file, std.bundle, trust([])), "untrusted", "authenticity", "no-issuer");
  assertVerified(kernel(file, std.bundle, trust([id.otherRoot!, std.root])));
});

// ---- each failure names its check ----

test("one flipped byte in the module: integrity (bad-signature, kernel; digest-mismatch, signed attributes)", () => {
  const file = new Uint8Array(signModule(mod.path, std.signer, "kernel").artifact);
  file[1000]! ^= 0x01;
  assertFails(kernel(file, std.bundle, trust([std.root])), "invalid", "integrity", "bad-signature");
  const flipped = new Uint8Array(mod.bytes);
  flipped[flipped.length - 1]! ^= 0x80;
  assertFails(detached(flipped, signDetached(mod.path, std.signer, { attributes: true }), std.bundle, trust([std.root])), "invalid", "integrity", "digest-mismatch");
  assertFails(detached(flipped, signDetached(mod.path, id.ec256!), id.ec256!.pem + std.intermediate.pem, trust([std.root])), "invalid", "integrity", "bad-signature");
});

test("expired signer: expiry (expired)", () => {
  assertFails(kernelBy(id.expired!, id.expired!.pem + std.intermediate.pem, trust([std.root])), "expired", "expiry", "expired");
});

test("not-yet-valid signer: expiry (not-yet-valid)", () => {
  assertFails(kernelBy(id.future!, id.future!.pem + std.intermediate.pem, trust([std.root])), "expired", "expiry", "not-yet-valid");
});

test("the whole chain is judged at trust.now: a verified module expires when time passes its notAfter", () => {
  const file = signModule(mod.path, std.signer, "kernel").artifact;
  const v = kernel(file, std.bundle, trust([std.root], [], ahead(10 * YEAR)));
  assert.is(v.status, "expired");
  assert.is(v.failures.filter((f) => f.code === "expired").length, 3);
});

test("intermediate without the CA flag: authenticity (not-a-ca); limbo intermediate-ca-missing-basic-constraints too", () => {
  assertFails(kernelBy(id.underNotCa!, id.underNotCa!.pem + id.notCa!.pem, trust([std.root])), "untrusted", "authenticity", "not-a-ca");
  assertFails(kernelBy(id.underNoBc!, id.underNoBc!.pem + id.noBc!.pem, trust([std.root])), "untrusted", "authenticity", "not-a-ca");
});

test("pathLen exceeded (limbo intermediate-violates-pathlen-0): authenticity (path-length-exceeded)", () => {
  const v = kernelBy(id.underSubCa!, id.underSubCa!.pem + id.subCa!.pem + std.intermediate.pem, trust([std.root]));
  assertFails(v, "untrusted", "authenticity", "path-length-exceeded");
  assert.match(v.reason!, /Example Intermediate CA/);
});

test("limbo intermediate-pathlen-may-increase: root -> int(pathlen:1) -> int(pathlen:2) -> signer verifies", () => {
  assertVerified(kernelBy(id.underPl2!, id.underPl2!.pem + id.pl2!.pem + id.pl1!.pem, trust([std.root])), 4);
});

test("signer without digitalSignature: authenticity (key-usage); limbo ee-wrong-eku: authenticity (extended-key-usage)", () => {
  assertFails(kernelBy(id.noDigSig!, id.noDigSig!.pem + std.intermediate.pem, trust([std.root])), "untrusted", "authenticity", "key-usage");
  assertFails(kernelBy(id.serverAuth!, id.serverAuth!.pem + std.intermediate.pem, trust([std.root])), "untrusted", "authenticity", "extended-key-usage");
});

test("untrusted root (limbo chain-untrusted-root): authenticity (untrusted-root), or no-issuer when the root is not supplied", () => {
  const v = kernelBy(id.underOther!, id.underOther!.pem + id.otherRoot!.pem, trust([std.root]));
  assertFails(v, "untrusted", "authenticity", "untrusted-root");
  assert.equal(v.chain, ["O=Example Corp, CN=under-other-root", "O=Other Corp, CN=Other Root CA"]);
  assertFails(kernelBy(id.underOther!, id.underOther!.pem, trust([std.root])), "untrusted", "authenticity", "no-issuer");
});

test("revoked signer, revoked intermediate, revoked root: revocation (revoked)", () => {
  const file = signModule(mod.path, std.signer, "kernel").artifact;
  for (const who of [std.signer, std.intermediate, std.root]) {
    const v = kernel(file, std.bundle, trust([std.root], [who]));
    assertFails(v, "revoked", "revocation", "revoked");
    assert.match(v.reason!, new RegExp(who.fingerprint256));
  }
  // Fingerprints compare ignoring case and separators.
  const loose = { ...trust([std.root]), revokedFingerprints: new Set([std.intermediate.fingerprint256.replace(/:/g, "").toLowerCase()]) };
  assert.is(kernel(file, std.bundle, loose).status, "revoked");
});

test("SHA-1 digest: integrity (weak-algorithm); a SHA-1-signed certificate: authenticity (weak-algorithm); both invalid", () => {
  assertFails(kernelBy(std.signer, std.bundle, trust([std.root]), { md: "sha1" }), "invalid", "integrity", "weak-algorithm");
  assertFails(kernelBy(id.sha1Cert!, id.sha1Cert!.pem + std.intermediate.pem, trust([std.root])), "invalid", "authenticity", "weak-algorithm");
});

test("RSA-1024 signer key: authenticity (weak-key), invalid", () => {
  assertFails(kernelBy(id.rsa1024!, id.rsa1024!.pem + std.intermediate.pem, trust([std.root])), "invalid", "authenticity", "weak-key");
});

test("an RSA key with a huge public exponent (costly to verify, never used by real signers): unsupported-algorithm, invalid", () => {
  const v = kernelBy(id.bigExponent!, id.bigExponent!.pem + std.intermediate.pem, trust([std.root]));
  assert.is(v.status, "invalid");
  assert.ok(v.failures.some((f) => f.code === "unsupported-algorithm" && /exponent/.test(f.reason)), JSON.stringify(v.failures));
});

test("chain with a loop (limbo intermediate-cycle-distinct-cas): authenticity (chain-loop)", () => {
  const v = kernelBy(id.underLoop!, id.underLoop!.pem + id.loopA!.pem + id.loopB!.pem, trust([std.root]));
  assertFails(v, "untrusted", "authenticity", "chain-loop");
  assert.match(v.reason!, /Loop CA A.*Loop CA B.*Loop CA A/);
});

test("a CA with the right name but another key never links: authenticity (bad-certificate-signature)", () => {
  assertFails(kernelBy(id.underForged!, id.underForged!.pem + id.forgedInt!.pem, trust([std.root])), "untrusted", "authenticity", "bad-certificate-signature");
});

test("limbo unknown-critical-extension-ee fails (unhandled-critical-extension); ...-unrelated-intermediate verifies", () => {
  assertFails(kernelBy(id.critical!, id.critical!.pem + std.intermediate.pem, trust([std.root])), "untrusted", "authenticity", "unhandled-critical-extension");
  assertVerified(kernelBy(std.signer, std.bundle + id.unrelated!.pem, trust([std.root])), 3);
});

test("limbo multiple-chains-expired-intermediate: the valid path wins over the expired cross-signed one", () => {
  const v = kernelBy(id.underRoot!, id.underRoot!.pem + id.expiredCrossInt!.pem, trust([std.root, id.root2!]));
  assertVerified(v, 2);
  assert.equal(v.chainFingerprints, [id.underRoot!.fingerprint256, std.root.fingerprint256]);
});

test("limbo root-and-intermediate-swapped: a trusted intermediate anchors the chain", () => {
  assertVerified(kernelBy(std.signer, std.signer.pem + std.root.pem, trust([std.intermediate])), 2);
});

test("limbo expired-root and expired-intermediate: expiry (expired)", () => {
  assertFails(kernelBy(id.underExpiredRoot!, id.underExpiredRoot!.pem, trust([id.expiredRoot!])), "expired", "expiry", "expired");
  assertFails(kernelBy(id.underExpiredInt!, id.underExpiredInt!.pem + id.expiredInt!.pem, trust([std.root])), "expired", "expiry", "expired");
});

test("several failures: every failed check is listed, the most decisive first", () => {
  const file = new Uint8Array(signModule(mod.path, id.expired!, "kernel").artifact);
  file[10]! ^= 0xff;
  const v = kernel(file, id.expired!.pem + std.intermediate.pem, trust([std.root], [std.intermediate]));
  assert.is(v.status, "invalid");
  assert.equal(v.failures.map((f) => f.check), ["integrity", "revocation", "expiry"]);
  assert.equal(v.checks, { integrity: "failed", authenticity: "passed", expiry: "failed", revocation: "failed" });
  const r = kernel(signModule(mod.path, id.expired!, "kernel").artifact, id.expired!.pem + std.intermediate.pem, trust([std.root], [std.intermediate]));
  assert.is(r.status, "revoked");
});

test("signer certificate not supplied: integrity and authenticity fail (signer-certificate-missing)", () => {
  const v = kernelBy(std.signer, std.intermediate.pem, trust([std.root]));
  assert.is(v.status, "invalid");
  assert.equal(v.failures.map((f) => `${f.check}/${f.code}`), ["integrity/signer-certificate-missing", "authenticity/signer-certificate-missing"]);
  assert.is(v.checks.expiry, "skipped");
});

test("unsigned module: status unsigned, integrity failed with 'no signature'", () => {
  const v = kernel(mod.bytes, std.bundle, trust([std.root]));
  assert.is(v.status, "unsigned");
  assert.is(v.reason, "no signature");
  assert.equal(v.checks, { integrity: "failed", authenticity: "failed", expiry: "skipped", revocation: "skipped" });
  assert.is(v.signer, null);
});

// ---- one certificate, one identity ----

/** DER TLV with a minimal definite length. */
function tlv(tag: number, content: Uint8Array): Buffer {
  const n = content.length;
  const len = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return Buffer.concat([Buffer.from([tag, ...len]), content]);
}

/** Children of the DER SEQUENCE at the start of `b` (definite lengths only), as whole TLVs. */
function sequenceChildren(b: Uint8Array): Buffer[] {
  const header = (p: number): [number, number] => {
    const first = b[p + 1]!;
    if (first < 0x80) return [2, first];
    const n = first & 0x7f;
    let len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[p + 2 + i]!;
    return [2 + n, len];
  };
  const [h, len] = header(0);
  const out: Buffer[] = [];
  for (let p = h; p < h + len; ) {
    const [ch, clen] = header(p);
    out.push(Buffer.from(b.subarray(p, p + ch + clen)));
    p += ch + clen;
  }
  return out;
}

function pemOf(der: Uint8Array): string {
  return `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString("base64").replace(/(.{64})/g, "$1\n")}\n-----END CERTIFICATE-----\n`;
}

test("a certificate re-encoded with a non-minimal length is refused, not given a second fingerprint", () => {
  const der = parseCertificates(std.signer.pem)[0]!.der;
  assert.is(der[1], 0x82);
  const longer = Buffer.concat([Buffer.from([0x30, 0x83, 0x00]), der.subarray(2)]);
  assertFormatError(() => parseCertificates(pemOf(longer)), /not DER: non-minimal length/);
  const shorter = Buffer.from(der);
  shorter[3]! -= 1; // outer length one short: the signature BIT STRING would run past it
  assertFormatError(() => parseCertificates(pemOf(shorter)), /not DER|trailing/);
});

test("an ECDSA-signed certificate re-signed as (r, n-s): another fingerprint256, the same tbsFingerprint256, revocable by it", () => {
  const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
  const original = parseCertificates(id.underOther!.pem)[0]!;
  const [tbs, alg, bits] = sequenceChildren(original.der);
  const [r, sInt] = sequenceChildren(bits!.subarray(3 + (bits![1]! >= 0x80 ? bits![1]! & 0x7f : 0)));
  const s = BigInt(`0x${sInt!.subarray(2).toString("hex")}`);
  let hex = (P256_N - s).toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  if (parseInt(hex.slice(0, 2), 16) >= 0x80) hex = `00${hex}`;
  const sig = tlv(0x30, Buffer.concat([r!, tlv(0x02, Buffer.from(hex, "hex"))]));
  const twin = tlv(0x30, Buffer.concat([tbs!, alg!, tlv(0x03, Buffer.concat([Buffer.from([0]), sig]))]));
  const parsedTwin = parseCertificates(pemOf(twin))[0]!;
  assert.is.not(parsedTwin.fingerprint256, original.fingerprint256);
  assert.is(parsedTwin.tbsFingerprint256, original.tbsFingerprint256);

  const file = signModule(mod.path, id.underOther!, "kernel").artifact;
  const v = kernel(file, pemOf(twin), trust([id.otherRoot!]));
  assertVerified(v, 2);
  assert.is(v.chainTbsFingerprints?.[0], original.tbsFingerprint256);
  // What the registry does on a revocation: the fingerprint256 plus the tbs fingerprints it has seen with it.
  const revoked = { ...trust([id.otherRoot!]), revokedFingerprints: new Set([original.fingerprint256, original.tbsFingerprint256]) };
  assertFails(kernel(file, pemOf(twin), revoked), "revoked", "revocation", "revoked");
});

// ---- the kernel trailer ----

test("wrong magic: treated as unsigned", () => {
  const file = new Uint8Array(signModule(mod.path, std.signer, "kernel").artifact);
  file[file.length - 2] = "!".charCodeAt(0);
  const split = splitKernelSignature(file);
  assert.is(split.signature, null);
  assert.is(split.module.byteLength, file.byteLength);
  assert.is(kernel(file, std.bundle, trust([std.root])).status, "unsigned");
});

test("truncated trailer: ModuleFormatError", () => {
  const file = signModule(mod.path, std.signer, "kernel").artifact;
  const magicAt = file.length - 28;
  // Part of struct module_signature cut out: the fields are read from the CMS instead.
  const cut = Buffer.concat([file.subarray(0, magicAt - 5), file.subarray(magicAt)]);
  assertFormatError(() => kernel(cut, std.bundle, trust([std.root])), /sig_len|id_type|non-zero|signature/);
  // Nothing but a stub before the magic.
  assertFormatError(() => splitKernelSignature(Buffer.concat([Buffer.alloc(5), file.subarray(magicAt)])), /truncated/);
  // The CMS cut short, sig_len adjusted to the shorter blob.
  const cms = signModule(mod.path, std.signer, "kernel").cms;
  const short = Buffer.concat([mod.bytes, cms.subarray(0, cms.length - 10), kernelTrailerFor(cms.length - 10)]);
  assertFormatError(() => kernel(short, std.bundle, trust([std.root])), /signature/);
});

test("sig_len past the file, swallowing the module, or zero: ModuleFormatError", () => {
  const file = Buffer.from(signModule(mod.path, std.signer, "kernel").artifact);
  const at = file.length - 28 - 4;
  for (const len of [file.length + 100, 0xffffffff, file.length - 40, 0]) {
    const bad = Buffer.from(file);
    bad.writeUInt32BE(len, at);
    assertFormatError(() => splitKernelSignature(bad), /sig_len/);
  }
});

test("id_type other than PKCS#7, or non-zero fields: ModuleFormatError", () => {
  const file = Buffer.from(signModule(mod.path, std.signer, "kernel").artifact);
  const info = file.length - 28 - 12;
  const wrongId = Buffer.from(file);
  wrongId[info + 2] = 1;
  assertFormatError(() => splitKernelSignature(wrongId), /id_type 1/);
  const nonZero = Buffer.from(file);
  nonZero[info + 6] = 7;
  assertFormatError(() => splitKernelSignature(nonZero), /non-zero/);
});

// ---- bad input ----

test("garbage certificate PEM: ModuleFormatError naming the block", () => {
  assertFormatError(() => parseCertificates("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), /certificate 1/);
  assertFormatError(() => parseCertificates(std.signer.pem + "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n"), /block 2/);
  assertFormatError(() => parseCertificates(std.signer.pem + "-----BEGIN CERTIFICATE-----\nMIIB"), /block 2 has no END/);
  assertFormatError(() => parseCertificates("hello, I am a certificate"), /no PEM CERTIFICATE/);
  assertFormatError(() => parseCertificates(std.signer.pem + "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), /block 2 is a PRIVATE KEY/);
  assertFormatError(() => kernelBy(std.signer, "-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n", trust([std.root])), /certificate 1/);
  assert.equal(parseCertificates(""), []);
  assert.is(parseCertificates(std.bundle).length, 2);
});

test("bundles as uploaded bytes: PEM with openssl's subject=/issuer= lines, or one DER certificate", () => {
  const annotated = `subject=O = Example Corp, CN = Example Module Signer\nissuer=O = Example Corp, CN = Example Intermediate CA\n${std.signer.pem}\n${std.intermediate.pem}`;
  assert.equal(parseCertificates(new Uint8Array(Buffer.from(annotated))).map((c) => c.fingerprint256), [std.signer.fingerprint256, std.intermediate.fingerprint256]);
  const der = parseCertificates(std.signer.pem)[0]!.der;
  assert.is(parseCertificates(der)[0]!.fingerprint256, std.signer.fingerprint256);
});

test("a signature that is not CMS: ModuleFormatError", () => {
  assertFormatError(() => parseSignature(new Uint8Array([1, 2, 3, 4])), /signature/);
  assertFormatError(() => parseSignature(new Uint8Array(Buffer.from(std.signer.pem.split("\n").slice(1, -2).join(""), "base64"))), /not a CMS SignedData/);
  assertFormatError(() => parseSignature(new Uint8Array(Buffer.from(std.signer.pem))), /CERTIFICATE, not a CMS/);
  assertFormatError(() => parseSignature(new Uint8Array(0)), /empty/);
  const trailing = Buffer.concat([signDetached(mod.path, std.signer), Buffer.from([0])]);
  assertFormatError(() => parseSignature(trailing), /trailing/);
  assertFormatError(() => parseSignature(signDetached(mod.path, std.signer, { attached: true })), /detached/);
  assertFormatError(() => detached(mod.bytes, new Uint8Array(300).fill(0x30), std.bundle, trust([std.root])), /signature/);
});

test.run();
