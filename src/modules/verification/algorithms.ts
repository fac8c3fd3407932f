import { createPublicKey, verify as cryptoVerify, constants, type KeyObject } from "node:crypto";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { decodeOne, errorText } from "./asn1.js";
import { ownedCopy } from "./bytes.js";
import { OID } from "./oids.js";
import type { AlgorithmRef, FailureCode, ParsedCertificate } from "./types.js";

// One table for CMS signer infos and certificate signatures alike, so "SHA-256 or stronger" means
// the same thing everywhere.

type Hash = "sha256" | "sha384" | "sha512";
const STRONG_HASHES: ReadonlyMap<string, Hash> = new Map([
  ["2.16.840.1.101.3.4.2.1", "sha256"],
  ["2.16.840.1.101.3.4.2.2", "sha384"],
  ["2.16.840.1.101.3.4.2.3", "sha512"],
]);
const WEAK_HASHES: ReadonlyMap<string, string> = new Map([
  ["1.3.14.3.2.26", "SHA-1"],
  ["1.2.840.113549.2.5", "MD5"],
  ["1.2.840.113549.2.2", "MD2"],
  ["2.16.840.1.101.3.4.2.4", "SHA-224"],
]);

type Scheme = "pkcs1" | "pss" | "ecdsa";
const SIGNATURE_ALGORITHMS: ReadonlyMap<string, { scheme: Scheme; hash: Hash }> = new Map([
  ["1.2.840.113549.1.1.11", { scheme: "pkcs1", hash: "sha256" }],
  ["1.2.840.113549.1.1.12", { scheme: "pkcs1", hash: "sha384" }],
  ["1.2.840.113549.1.1.13", { scheme: "pkcs1", hash: "sha512" }],
  ["1.2.840.10045.4.3.2", { scheme: "ecdsa", hash: "sha256" }],
  ["1.2.840.10045.4.3.3", { scheme: "ecdsa", hash: "sha384" }],
  ["1.2.840.10045.4.3.4", { scheme: "ecdsa", hash: "sha512" }],
]);
// Still checked (a forged link stays distinguishable from a weak one), but never accepted.
const WEAK_SIGNATURE_ALGORITHMS: ReadonlyMap<string, { name: string; scheme: Scheme; hash: string | null }> = new Map([
  ["1.2.840.113549.1.1.5", { name: "sha1WithRSAEncryption", scheme: "pkcs1", hash: "sha1" }],
  ["1.2.840.113549.1.1.14", { name: "sha224WithRSAEncryption", scheme: "pkcs1", hash: "sha224" }],
  ["1.2.840.113549.1.1.4", { name: "md5WithRSAEncryption", scheme: "pkcs1", hash: null }],
  ["1.2.840.113549.1.1.2", { name: "md2WithRSAEncryption", scheme: "pkcs1", hash: null }],
  ["1.2.840.10045.4.1", { name: "ecdsa-with-SHA1", scheme: "ecdsa", hash: "sha1" }],
  ["1.2.840.10045.4.3.1", { name: "ecdsa-with-SHA224", scheme: "ecdsa", hash: "sha224" }],
  ["1.2.840.10040.4.3", { name: "dsa-with-sha1", scheme: "ecdsa", hash: null }],
]);

export const MIN_RSA_BITS = 2048;
// RSA verification costs grow with the modulus and the public exponent: a bundle of certificates
// with 3072-bit exponents would make path building take seconds. Real keys use e = 65537.
const MAX_RSA_BITS = 8192;
const MAX_RSA_EXPONENT = 2n ** 32n;
const CURVES: ReadonlyMap<string, string> = new Map([
  ["prime256v1", "P-256"],
  ["secp384r1", "P-384"],
  ["secp521r1", "P-521"],
]);

export type Problem = { code: Extract<FailureCode, "weak-algorithm" | "unsupported-algorithm" | "weak-key">; reason: string };
export type Resolved<T> = { ok: true; value: T; weak?: Problem } | { ok: false; problem: Problem };

export interface SignatureScheme {
  scheme: Scheme;
  hash: string;
  saltLength?: number;
}

/**
 * A digest algorithm. SHA-1 and friends still resolve (so the signature can be checked and a
 * flipped byte still named) but carry `weak`: the verdict is invalid either way.
 */
export function resolveHash(alg: AlgorithmRef): Resolved<string> {
  const strong = STRONG_HASHES.get(alg.oid);
  if (strong) return { ok: true, value: strong };
  const weak = WEAK_HASHES.get(alg.oid);
  if (weak === "SHA-1" || weak === "SHA-224") {
    return { ok: true, value: weak.toLowerCase().replace("-", ""), weak: { code: "weak-algorithm", reason: `digest algorithm ${weak} is too weak (SHA-256 or stronger required)` } };
  }
  if (weak) return { ok: false, problem: { code: "weak-algorithm", reason: `digest algorithm ${weak} is too weak (SHA-256 or stronger required)` } };
  return { ok: false, problem: { code: "unsupported-algorithm", reason: `unsupported digest algorithm ${alg.oid}` } };
}

/**
 * A signature algorithm. `digestHint` is the CMS signer's digestAlgorithm: CMS names plain
 * rsaEncryption as the signature algorithm and the hash separately.
 */
export function resolveSignatureAlgorithm(alg: AlgorithmRef, digestHint?: AlgorithmRef): Resolved<SignatureScheme> {
  const known = SIGNATURE_ALGORITHMS.get(alg.oid);
  if (known) {
    if (digestHint && STRONG_HASHES.get(digestHint.oid) !== known.hash) return mismatch(alg, digestHint);
    return { ok: true, value: { scheme: known.scheme, hash: known.hash } };
  }
  if (alg.oid === OID.rsaEncryption && digestHint) {
    const h = resolveHash(digestHint);
    if (!h.ok) return h;
    return { ok: true, value: { scheme: "pkcs1", hash: h.value }, ...(h.weak ? { weak: h.weak } : {}) };
  }
  if (alg.oid === OID.rsassaPss) return resolvePss(alg, digestHint);
  const weak = WEAK_SIGNATURE_ALGORITHMS.get(alg.oid);
  if (weak) {
    const problem: Problem = { code: "weak-algorithm", reason: `signature algorithm ${weak.name} is too weak (SHA-256 or stronger required)` };
    if (!weak.hash) return { ok: false, problem };
    return { ok: true, value: { scheme: weak.scheme, hash: weak.hash }, weak: problem };
  }
  return { ok: false, problem: { code: "unsupported-algorithm", reason: `unsupported signature algorithm ${alg.oid}` } };
}

function mismatch(alg: AlgorithmRef, digest: AlgorithmRef): Resolved<SignatureScheme> {
  return { ok: false, problem: { code: "unsupported-algorithm", reason: `signature algorithm ${alg.oid} does not match digest algorithm ${digest.oid}` } };
}

function resolvePss(alg: AlgorithmRef, digestHint?: AlgorithmRef): Resolved<SignatureScheme> {
  let params: pkijs.RSASSAPSSParams;
  try {
    params = alg.params ? new pkijs.RSASSAPSSParams({ schema: decodeOne(ownedCopy(alg.params), "RSASSA-PSS parameters") }) : new pkijs.RSASSAPSSParams();
  } catch (e) {
    return { ok: false, problem: { code: "unsupported-algorithm", reason: `malformed RSASSA-PSS parameters (${errorText(e)})` } };
  }
  // Absent hashAlgorithm means SHA-1 (RFC 4055 defaults).
  const hashRef: AlgorithmRef = { oid: params.hashAlgorithm.algorithmId || "1.3.14.3.2.26" };
  const h = resolveHash(hashRef);
  if (!h.ok) return h;
  if (digestHint && digestHint.oid !== hashRef.oid) return mismatch(alg, digestHint);
  const mgf = params.maskGenAlgorithm;
  let mgfHash = "1.3.14.3.2.26";
  try {
    if (mgf.algorithmParams instanceof asn1js.Sequence) mgfHash = new pkijs.AlgorithmIdentifier({ schema: mgf.algorithmParams }).algorithmId;
  } catch (e) {
    return { ok: false, problem: { code: "unsupported-algorithm", reason: `malformed MGF1 parameters (${errorText(e)})` } };
  }
  if ((mgf.algorithmId || OID.mgf1) !== OID.mgf1 || mgfHash !== hashRef.oid) {
    return { ok: false, problem: { code: "unsupported-algorithm", reason: "RSASSA-PSS with a mask generation function other than MGF1 over the message hash" } };
  }
  if (params.trailerField !== 1) return { ok: false, problem: { code: "unsupported-algorithm", reason: "RSASSA-PSS trailer field other than 1" } };
  return { ok: true, value: { scheme: "pss", hash: h.value, saltLength: params.saltLength }, ...(h.weak ? { weak: h.weak } : {}) };
}

// createPublicKey costs ~0.1 ms and a chain asks for each key several times; certificates are
// shared objects (see the parse cache), so the answer is remembered per certificate.
const keys = new WeakMap<ParsedCertificate, Resolved<KeyObject>>();

/** The certificate's public key, resolved once per parsed certificate. */
export function certificateKey(cert: ParsedCertificate): Resolved<KeyObject> {
  let k = keys.get(cert);
  if (!k) keys.set(cert, (k = resolveKey(cert.spki)));
  return k;
}

/** A public key from DER SubjectPublicKeyInfo; RSA below 2048 bits resolves with `weak` (still usable to tell a forged link). */
export function resolveKey(spki: Uint8Array): Resolved<KeyObject> {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" });
  } catch (e) {
    return { ok: false, problem: { code: "unsupported-algorithm", reason: `unreadable public key (${errorText(e)})` } };
  }
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  if (type === "rsa" || type === "rsa-pss") {
    const bits = details.modulusLength ?? 0;
    if (bits > MAX_RSA_BITS) return { ok: false, problem: { code: "unsupported-algorithm", reason: `RSA key of ${bits} bits (at most ${MAX_RSA_BITS} supported)` } };
    if ((details.publicExponent ?? 0n) > MAX_RSA_EXPONENT) return { ok: false, problem: { code: "unsupported-algorithm", reason: "RSA public exponent above 2^32" } };
    if (bits < MIN_RSA_BITS) return { ok: true, value: key, weak: { code: "weak-key", reason: `RSA key of ${bits} bits (at least ${MIN_RSA_BITS} required)` } };
    return { ok: true, value: key };
  }
  if (type === "ec") {
    const curve = CURVES.get(details.namedCurve ?? "");
    if (!curve) return { ok: false, problem: { code: "unsupported-algorithm", reason: `unsupported elliptic curve ${details.namedCurve ?? "(unnamed)"}` } };
    return { ok: true, value: key };
  }
  return { ok: false, problem: { code: "unsupported-algorithm", reason: `unsupported public key type ${type ?? "(unknown)"}` } };
}

/** Whether the key type can make signatures of this scheme at all. */
export function keyFitsScheme(key: KeyObject, scheme: Scheme): boolean {
  const t = key.asymmetricKeyType;
  if (scheme === "ecdsa") return t === "ec";
  if (scheme === "pss") return t === "rsa" || t === "rsa-pss";
  return t === "rsa";
}

/**
 * The one place a signature is checked. `data` is hashed inside OpenSSL in one pass; malformed
 * signatures are false, never an exception.
 */
export function verifySignature(s: SignatureScheme, key: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  if (!keyFitsScheme(key, s.scheme)) return false;
  try {
    if (s.scheme === "pss") {
      return cryptoVerify(s.hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: s.saltLength ?? constants.RSA_PSS_SALTLEN_AUTO }, signature);
    }
    if (s.scheme === "pkcs1") return cryptoVerify(s.hash, data, { key, padding: constants.RSA_PKCS1_PADDING }, signature);
    return cryptoVerify(s.hash, data, { key, dsaEncoding: "der" }, signature);
  } catch {
    return false;
  }
}
