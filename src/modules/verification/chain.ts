import { equalBytes, normalizeFingerprint } from "./bytes.js";
import { certificateKey, resolveSignatureAlgorithm, verifySignature, type Problem } from "./algorithms.js";
import { OID } from "./oids.js";
import { statusOf, statusRank } from "./verdict.js";
import type { Failure, ParsedCertificate } from "./types.js";

/** Longest path judged, signer and anchor included. */
export const MAX_CHAIN_LENGTH = 8;
/** Bounds the path search over a hostile bundle (many certificates sharing one name). */
const MAX_EXPANSIONS = 64;

export interface ChainInput {
  signer: ParsedCertificate;
  /** Supplied certificates (bundle and CMS); anchors are added to the search by the function. */
  pool: readonly ParsedCertificate[];
  anchors: readonly ParsedCertificate[];
  now: Date;
  /** Normalized fingerprints (normalizeFingerprint). */
  revoked: ReadonlySet<string>;
}

export interface ChainResult {
  /** Signer first; ends at a trust anchor, or where the path broke off. */
  certs: ParsedCertificate[];
  anchored: boolean;
  failures: Failure[];
}

interface Link {
  ok: boolean;
  /** Set when the link verifies but with an algorithm too weak to accept. */
  weak?: Problem;
  /** Set when the link could not be checked at all. */
  problem?: Problem;
}

interface Candidate {
  certs: ParsedCertificate[];
  ending: Failure | null;
}

/**
 * Builds every path from the signer to a trust anchor through certificates whose subject is the
 * child's issuer AND whose key verifies the child's signature (names alone never link), then
 * judges each (constraints, dates, revocation) and returns the best: anchored first, then the
 * mildest status, then the fewest failures. Without any anchored path, the mildest broken-off
 * path is reported, with the reason it broke off as one of its failures.
 */
export function judgeChain(input: ChainInput): ChainResult {
  const anchorFps = new Set(input.anchors.map((a) => a.fingerprint256));
  const all = uniqueByFingerprint([...input.pool, ...input.anchors]);
  const links = new Map<string, Link>();
  const link = (child: ParsedCertificate, issuer: ParsedCertificate): Link => {
    const key = `${child.fingerprint256}>${issuer.fingerprint256}`;
    let l = links.get(key);
    if (!l) links.set(key, (l = checkLink(child, issuer)));
    return l;
  };

  const candidates: Candidate[] = [];
  let budget = MAX_EXPANSIONS;
  const extend = (path: ParsedCertificate[]): void => {
    const cur = path[path.length - 1]!;
    const stop = (code: Failure["code"], reason: string): void => {
      candidates.push({ certs: path, ending: { check: "authenticity", code, reason } });
    };
    if (anchorFps.has(cur.fingerprint256)) return void candidates.push({ certs: path, ending: null });
    if (budget-- <= 0) return stop("chain-too-long", "gave up searching for a path to a trusted root (too many candidate issuers)");
    if (path.length >= MAX_CHAIN_LENGTH) return stop("chain-too-long", `no trusted root within ${MAX_CHAIN_LENGTH} certificates`);
    const byName = all.filter((c) => c.fingerprint256 !== cur.fingerprint256 && equalBytes(c.subjectDer, cur.issuerDer));
    if (byName.length === 0) {
      if (equalBytes(cur.subjectDer, cur.issuerDer)) return stop("untrusted-root", `root "${cur.subject}" is not a trusted root`);
      return stop("no-issuer", `no certificate for "${cur.issuer}", the issuer of "${cur.subject}", and it is not a trusted root`);
    }
    const linked = byName.filter((c) => link(cur, c).ok);
    if (linked.length === 0) {
      const problem = byName.map((c) => link(cur, c).problem).find((p) => p !== undefined);
      if (problem) return stop(problem.code, `cannot check the signature on "${cur.subject}": ${problem.reason}`);
      return stop("bad-certificate-signature", `"${byName[0]!.subject}" has the issuer name of "${cur.subject}" but its key does not verify that certificate's signature`);
    }
    const fresh = linked.filter((c) => !path.some((p) => p.fingerprint256 === c.fingerprint256));
    if (fresh.length === 0) {
      const loop = [...path.map((p) => `"${p.subject}"`), `"${linked[0]!.subject}"`].join(" -> ");
      return stop("chain-loop", `certificates issue each other in a loop: ${loop}`);
    }
    for (const c of fresh) extend([...path, c]);
  };
  extend([input.signer]);

  let best: { result: ChainResult; rank: [number, number, number] } | null = null;
  for (const c of candidates) {
    const failures = [...(c.ending ? [c.ending] : []), ...judgePath(c.certs, link, input)];
    const rank: [number, number, number] = [c.ending ? 1 : 0, statusRank(statusOf(failures)), failures.length];
    if (!best || lexLess(rank, best.rank)) best = { result: { certs: c.certs, anchored: !c.ending, failures }, rank };
  }
  // extend() always records at least one candidate.
  return best!.result;
}

function lexLess(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return false;
}

function uniqueByFingerprint(certs: readonly ParsedCertificate[]): ParsedCertificate[] {
  const byFp = new Map<string, ParsedCertificate>();
  for (const c of certs) if (!byFp.has(c.fingerprint256)) byFp.set(c.fingerprint256, c);
  return [...byFp.values()];
}

function checkLink(child: ParsedCertificate, issuer: ParsedCertificate): Link {
  const alg = resolveSignatureAlgorithm(child.signatureAlgorithm);
  if (!alg.ok) return { ok: false, problem: alg.problem };
  const key = certificateKey(issuer);
  if (!key.ok) return { ok: false, problem: key.problem };
  if (!verifySignature(alg.value, key.value, child.tbs, child.signature)) return { ok: false };
  return alg.weak ? { ok: true, weak: alg.weak } : { ok: true };
}

/** Every constraint on one path, signer at 0. */
function judgePath(certs: readonly ParsedCertificate[], link: (c: ParsedCertificate, i: ParsedCertificate) => Link, input: ChainInput): Failure[] {
  const out: Failure[] = [];
  const auth = (code: Failure["code"], reason: string): void => void out.push({ check: "authenticity", code, reason });
  certs.forEach((cert, i) => {
    const name = `"${cert.subject}"`;
    const key = certificateKey(cert);
    if (!key.ok) auth(key.problem.code, `${name}: ${key.problem.reason}`);
    else if (key.weak) auth(key.weak.code, `${name}: ${key.weak.reason}`);
    const issuer = certs[i + 1];
    const l = issuer ? link(cert, issuer) : null;
    if (l?.weak) auth(l.weak.code, `${name}: ${l.weak.reason}`);
    if (cert.unhandledCritical.length) auth("unhandled-critical-extension", `${name} has critical extensions this verifier does not process: ${cert.unhandledCritical.join(", ")}`);

    if (i === 0) {
      if (cert.keyUsage && !cert.keyUsage.has("digitalSignature")) auth("key-usage", `signer ${name} lacks keyUsage digitalSignature`);
      if (cert.extendedKeyUsage && !cert.extendedKeyUsage.includes(OID.codeSigning)) auth("extended-key-usage", `signer ${name} has an extendedKeyUsage without codeSigning`);
    } else {
      if (!cert.basicConstraints?.ca) auth("not-a-ca", `${name} issues "${certs[i - 1]!.subject}" but is not a CA (basicConstraints CA flag missing)`);
      if (cert.keyUsage && !cert.keyUsage.has("keyCertSign")) auth("key-usage", `CA ${name} lacks keyUsage keyCertSign`);
      const below = i - 1;
      const pathLen = cert.basicConstraints?.pathLen;
      if (pathLen !== null && pathLen !== undefined && below > pathLen) auth("path-length-exceeded", `CA ${name} allows ${pathLen} intermediate CA(s) below it (pathLenConstraint) but the chain has ${below}`);
      const eku = cert.extendedKeyUsage;
      if (eku && !eku.includes(OID.codeSigning) && !eku.includes(OID.anyExtendedKeyUsage)) auth("extended-key-usage", `CA ${name} restricts extendedKeyUsage to purposes other than codeSigning`);
    }

    if (input.now < cert.notBefore) out.push({ check: "expiry", code: "not-yet-valid", reason: `${name} is not valid before ${cert.notBefore.toISOString()}` });
    else if (input.now > cert.notAfter) out.push({ check: "expiry", code: "expired", reason: `${name} expired at ${cert.notAfter.toISOString()}` });
    if (input.revoked.has(normalizeFingerprint(cert.fingerprint256)) || input.revoked.has(normalizeFingerprint(cert.tbsFingerprint256))) out.push({ check: "revocation", code: "revoked", reason: `${i === 0 ? "signer" : "certificate"} ${name} (${cert.fingerprint256}) is revoked` });
  });
  return out;
}
