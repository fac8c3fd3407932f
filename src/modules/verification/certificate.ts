import { createHash } from "node:crypto";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { algorithmRef, children, decodeOne, errorText, raw } from "./asn1.js";
import { assertStrictDer } from "./der-strict.js";
import { colonHex, equalBytes, ownedCopy, upperHex } from "./bytes.js";
import { ModuleFormatError } from "./errors.js";
import { formatName } from "./names.js";
import { HANDLED_EXTENSIONS, KEY_USAGE_BITS, OID } from "./oids.js";
import { looksLikePem, pemBlocks } from "./pem.js";
import type { ParsedCertificate } from "./types.js";

/** More than this many certificates in one bundle is not a signing chain; refusing bounds path search. */
export const MAX_BUNDLE_CERTIFICATES = 16;

const CERT_LABELS = new Set(["CERTIFICATE", "X509 CERTIFICATE"]);

/** Parses a PEM bundle (or one DER certificate); ModuleFormatError naming the bad block. Empty input -> []. */
export function parseCertificates(input: string | Uint8Array): ParsedCertificate[] {
  if (typeof input !== "string") {
    if (input.byteLength === 0) return [];
    if (!looksLikePem(input)) return [parseCertificate(input, "certificate (DER)")];
    input = Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString("latin1");
  }
  const blocks = pemBlocks(input);
  if (blocks.length === 0) {
    if (input.trim() === "") return [];
    throw new ModuleFormatError("certificates: no PEM CERTIFICATE block found");
  }
  if (blocks.length > MAX_BUNDLE_CERTIFICATES) throw new ModuleFormatError(`certificates: ${blocks.length} blocks, at most ${MAX_BUNDLE_CERTIFICATES} allowed`);
  return blocks.map((b) => {
    if (!CERT_LABELS.has(b.label)) throw new ModuleFormatError(`certificates: PEM block ${b.index} is a ${b.label}, not a CERTIFICATE`);
    return parseCertificate(b.der, `certificate ${b.index}`);
  });
}

/**
 * Parsing with pkijs costs about a millisecond per certificate while the same roots and
 * intermediates come back on every verification (and on every re-verification after a trust
 * change), so parses are remembered by the SHA-256 of their DER. Parsed certificates are shared:
 * treat them as read-only.
 */
const PARSE_CACHE_SIZE = 1024;
const parsed = new Map<string, ParsedCertificate>();

/** Parses one DER certificate. `what` names it in error messages. */
export function parseCertificate(input: Uint8Array, what = "certificate"): ParsedCertificate {
  const digest = createHash("sha256").update(input).digest();
  const key = digest.toString("hex");
  const hit = parsed.get(key);
  if (hit) {
    parsed.delete(key);
    parsed.set(key, hit);
    return hit;
  }
  const cert = parseUncached(input, what, digest);
  if (parsed.size >= PARSE_CACHE_SIZE) parsed.delete(parsed.keys().next().value!);
  parsed.set(key, cert);
  return cert;
}

function parseUncached(input: Uint8Array, what: string, digest: Uint8Array): ParsedCertificate {
  const der = ownedCopy(input);
  assertStrictDer(der, what);
  const top = decodeOne(der, what);
  let cert: pkijs.Certificate;
  try {
    cert = new pkijs.Certificate({ schema: top });
  } catch (e) {
    throw new ModuleFormatError(`${what} is not an X.509 certificate (${errorText(e)})`);
  }
  const [tbsBlock, outerAlg, sigBits] = children(top);
  const tbsParts = children(tbsBlock);
  // version is an optional [0]; every later field shifts by one when it is present.
  const off = tbsParts[0]?.idBlock.tagClass === 3 ? 1 : 0;
  const [tbsAlg, issuerBlock, , subjectBlock, spkiBlock] = tbsParts.slice(off + 1);
  if (!tbsBlock || !outerAlg || !tbsAlg || !issuerBlock || !subjectBlock || !spkiBlock || !(sigBits instanceof asn1js.BitString)) {
    throw new ModuleFormatError(`${what} is not an X.509 certificate (missing fields)`);
  }
  if (!equalBytes(raw(tbsAlg), raw(outerAlg))) throw new ModuleFormatError(`${what}: signature algorithm inside the certificate differs from the outer one`);
  if (sigBits.idBlock.isConstructed) throw new ModuleFormatError(`${what}: signature bit string is constructed`);
  if (sigBits.valueBlock.unusedBits !== 0) throw new ModuleFormatError(`${what}: signature bit string has unused bits`);
  const { notBefore, notAfter } = { notBefore: cert.notBefore.value, notAfter: cert.notAfter.value };
  if (!(notBefore instanceof Date) || !(notAfter instanceof Date) || Number.isNaN(notBefore.getTime()) || Number.isNaN(notAfter.getTime())) {
    throw new ModuleFormatError(`${what}: validity dates are not valid times`);
  }

  const ext = readExtensions(cert, what);
  return {
    der,
    subject: formatName(cert.subject),
    issuer: formatName(cert.issuer),
    subjectDer: raw(subjectBlock),
    issuerDer: raw(issuerBlock),
    fingerprint256: colonHex(digest),
    tbsFingerprint256: colonHex(createHash("sha256").update(raw(tbsBlock)).digest()),
    serialNumber: serialHex(cert.serialNumber),
    notBefore,
    notAfter,
    tbs: raw(tbsBlock),
    signatureAlgorithm: algorithmRef(outerAlg, what),
    signature: sigBits.valueBlock.valueHexView,
    spki: raw(spkiBlock),
    ...ext,
  };
}

/** As X509Certificate.serialNumber prints it: upper-case hex without the DER sign byte. */
function serialHex(serial: asn1js.Integer): string {
  let bytes = serial.valueBlock.valueHexView;
  while (bytes.length > 1 && bytes[0] === 0) bytes = bytes.subarray(1);
  return upperHex(bytes);
}

type Extensions = Pick<ParsedCertificate, "basicConstraints" | "keyUsage" | "extendedKeyUsage" | "subjectKeyIdentifier" | "unhandledCritical">;

function readExtensions(cert: pkijs.Certificate, what: string): Extensions {
  const out: Extensions = { basicConstraints: null, keyUsage: null, extendedKeyUsage: null, subjectKeyIdentifier: null, unhandledCritical: [] };
  const seen = new Set<string>();
  const unhandled: string[] = [];
  for (const e of cert.extensions ?? []) {
    if (seen.has(e.extnID)) throw new ModuleFormatError(`${what}: extension ${e.extnID} appears twice`);
    seen.add(e.extnID);
    if (e.critical && !HANDLED_EXTENSIONS.has(e.extnID)) unhandled.push(e.extnID);
    const value = ownedCopy(e.extnValue.valueBlock.valueHexView);
    const label = `${what}: extension ${e.extnID}`;
    try {
      switch (e.extnID) {
        case OID.basicConstraints: {
          const bc = new pkijs.BasicConstraints({ schema: decodeOne(value, label) });
          const pl = bc.pathLenConstraint;
          const pathLen = pl === undefined ? null : typeof pl === "number" ? pl : Number(pl.toBigInt());
          if (pathLen !== null && (!Number.isSafeInteger(pathLen) || pathLen < 0)) throw new ModuleFormatError(`${label}: bad pathLenConstraint`);
          out.basicConstraints = { ca: bc.cA, pathLen };
          break;
        }
        case OID.keyUsage: {
          const bits = decodeOne(value, label);
          if (!(bits instanceof asn1js.BitString)) throw new ModuleFormatError(`${label}: keyUsage is not a BIT STRING`);
          const v = bits.valueBlock.valueHexView;
          const set = new Set<string>();
          KEY_USAGE_BITS.forEach((name, i) => {
            if (((v[i >> 3] ?? 0) >> (7 - (i & 7))) & 1) set.add(name);
          });
          out.keyUsage = set;
          break;
        }
        case OID.extKeyUsage:
          out.extendedKeyUsage = [...new pkijs.ExtKeyUsage({ schema: decodeOne(value, label) }).keyPurposes];
          break;
        case OID.subjectKeyIdentifier: {
          const ski = decodeOne(value, label);
          if (!(ski instanceof asn1js.OctetString)) throw new ModuleFormatError(`${label}: subjectKeyIdentifier is not an OCTET STRING`);
          out.subjectKeyIdentifier = ski.valueBlock.valueHexView;
          break;
        }
      }
    } catch (err) {
      if (err instanceof ModuleFormatError) throw err;
      throw new ModuleFormatError(`${label} is malformed (${errorText(err)})`);
    }
  }
  out.unhandledCritical = unhandled;
  return out;
}
