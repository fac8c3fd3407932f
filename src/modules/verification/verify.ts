import { createHash } from "node:crypto";
import { certificateKey, resolveHash, resolveSignatureAlgorithm, verifySignature } from "./algorithms.js";
import { equalBytes, normalizeFingerprint } from "./bytes.js";
import { parseCertificates } from "./certificate.js";
import { judgeChain } from "./chain.js";
import { OID } from "./oids.js";
import { parseSignature } from "./signature.js";
import { checksOf, dedupeFailures, sortFailures, statusOf } from "./verdict.js";
import type { Failure, ParsedCertificate, ParsedSignature, SignerIdentifier, TrustMaterial, Verification, VerifyInput } from "./types.js";

/**
 * The whole judgement, synchronous. Throws ModuleFormatError only for a signature or certificate
 * bundle that cannot be parsed; every other problem is a verdict. The module is hashed once.
 */
export function verifyModule(input: VerifyInput): Verification {
  if (input.signature === null) return unsigned();
  const sig = input.signature instanceof Uint8Array ? parseSignature(input.signature) : input.signature;
  const supplied = typeof input.certificates === "string" ? parseCertificates(input.certificates) : input.certificates;
  const anchors = parseAnchors(input.trust.roots);
  const pool = [...supplied, ...sig.certificates];
  // The signer may itself be a trust anchor: the kernel's own model trusts signing certificates directly.
  const signer = [...pool, ...anchors].find((c) => identifies(sig.signerId, c));
  if (!signer) {
    const reason = `the signer's certificate (${describeSignerId(sig.signerId)}) is neither in the certificates supplied nor a trusted root`;
    const failures: Failure[] = [
      { check: "integrity", code: "signer-certificate-missing", reason: `cannot check the signature: ${reason}` },
      { check: "authenticity", code: "signer-certificate-missing", reason },
    ];
    return { status: "invalid", signer: null, chain: [], chainFingerprints: [], chainTbsFingerprints: [], checks: checksOf(failures, ["expiry", "revocation"]), reason: failures[0]!.reason, failures };
  }

  const chain = judgeChain({ signer, pool, anchors, now: input.trust.now, revoked: new Set([...input.trust.revokedFingerprints].map(normalizeFingerprint)) });
  const failures = sortFailures(dedupeFailures([...integrity(input.module, sig, signer), ...chain.failures]));
  return {
    status: statusOf(failures),
    signer: { subject: signer.subject, fingerprint256: signer.fingerprint256, serialNumber: signer.serialNumber, notAfter: signer.notAfter.toISOString() },
    chain: chain.certs.map((c) => c.subject),
    chainFingerprints: chain.certs.map((c) => c.fingerprint256),
    chainTbsFingerprints: chain.certs.map((c) => c.tbsFingerprint256),
    checks: checksOf(failures),
    reason: failures[0]?.reason ?? null,
    failures,
  };
}

function unsigned(): Verification {
  const failures: Failure[] = [
    { check: "integrity", code: "no-signature", reason: "no signature" },
    { check: "authenticity", code: "no-signature", reason: "no signature: nobody vouches for these bytes" },
  ];
  return { status: "unsigned", signer: null, chain: [], chainFingerprints: [], chainTbsFingerprints: [], checks: checksOf(failures, ["expiry", "revocation"]), reason: "no signature", failures };
}

/** The module bytes are exactly what the signer signed, with algorithms strong enough to say so. */
function integrity(module: Uint8Array, sig: ParsedSignature, signer: ParsedCertificate): Failure[] {
  const out: Failure[] = [];
  const fail = (code: Failure["code"], reason: string): void => void out.push({ check: "integrity", code, reason });
  const digest = resolveHash(sig.digestAlgorithm);
  const scheme = resolveSignatureAlgorithm(sig.signatureAlgorithm, sig.digestAlgorithm);
  const key = certificateKey(signer);
  for (const r of [digest, scheme]) {
    if (!r.ok) fail(r.problem.code, r.problem.reason);
    else if (r.weak) fail(r.weak.code, r.weak.reason);
  }
  if (!key.ok) fail(key.problem.code, `cannot check the signature: ${key.problem.reason}`);
  if (!digest.ok || !scheme.ok || !key.ok) return out;

  const attrs = sig.signedAttributes;
  if (!attrs) {
    if (!verifySignature(scheme.value, key.value, module, sig.signature)) {
      fail("bad-signature", "the module bytes do not match the signature (changed after signing, or signed with another key)");
    }
    return out;
  }
  if (attrs.contentType !== OID.data) fail("bad-signature", `signed attributes declare content type ${attrs.contentType}, not data`);
  if (!equalBytes(createHash(digest.value).update(module).digest(), attrs.messageDigest)) {
    fail("digest-mismatch", "the module bytes do not match the signed digest (changed after signing)");
  }
  if (!verifySignature(scheme.value, key.value, attrs.der, sig.signature)) {
    fail("bad-signature", "the signature over the signed attributes does not verify with the signer's key");
  }
  return out;
}

function identifies(id: SignerIdentifier, cert: ParsedCertificate): boolean {
  if (id.kind === "issuerAndSerial") return id.serialNumber === cert.serialNumber && equalBytes(id.issuerDer, cert.issuerDer);
  return cert.subjectKeyIdentifier !== null && equalBytes(id.keyId, cert.subjectKeyIdentifier);
}

function describeSignerId(id: SignerIdentifier): string {
  if (id.kind === "issuerAndSerial") return `serial ${id.serialNumber}`;
  return `subject key identifier ${Buffer.from(id.keyId).toString("hex")}`;
}

/** Roots are validated when they are added to the trust store; an unreadable one here trusts nothing. */
function parseAnchors(roots: TrustMaterial["roots"]): ParsedCertificate[] {
  return roots.flatMap((r) => {
    if (typeof r !== "string") return [r];
    try {
      return parseCertificates(r);
    } catch {
      return [];
    }
  });
}
