// The verdict's shape. Everything here is plain data (JSON-serialisable except Uint8Array fields of
// parsed inputs), so a verdict can be recorded in an event as it is.

export type VerificationStatus = "verified" | "unsigned" | "invalid" | "untrusted" | "expired" | "revoked";
export type CheckOutcome = "passed" | "failed" | "skipped";
export type CheckName = "integrity" | "authenticity" | "expiry" | "revocation";

/**
 * Machine-readable cause of a failed check; `reason` is the sentence for people.
 * integrity: the bytes are not provably what the signer signed.
 * authenticity: the signer is not provably someone a trusted root vouches for.
 */
export type FailureCode =
  // integrity
  | "no-signature"
  | "digest-mismatch"
  | "bad-signature"
  | "signer-certificate-missing"
  // authenticity
  | "untrusted-root"
  | "no-issuer"
  | "bad-certificate-signature"
  | "chain-loop"
  | "chain-too-long"
  | "not-a-ca"
  | "path-length-exceeded"
  | "key-usage"
  | "extended-key-usage"
  | "unhandled-critical-extension"
  // integrity (CMS digest/signature algorithm) or authenticity (keys, certificate signatures)
  | "weak-algorithm"
  | "unsupported-algorithm"
  | "weak-key"
  // expiry
  | "expired"
  | "not-yet-valid"
  // revocation
  | "revoked";

export interface Failure {
  check: CheckName;
  code: FailureCode;
  reason: string;
}

export interface SignerSummary {
  /** RFC 4514-like, most significant first as in the certificate: "C=DE, O=Example Corp, CN=Build". */
  subject: string;
  /** As X509Certificate.fingerprint256 formats it: upper-case hex pairs joined by ':'. */
  fingerprint256: string;
  /** Upper-case hex, no separators (as X509Certificate.serialNumber). */
  serialNumber: string;
  /** ISO-8601. */
  notAfter: string;
}

export interface Verification {
  status: VerificationStatus;
  signer: SignerSummary | null;
  /** Subjects, signer first; the path judged (up to where it broke off when there is no trusted root). */
  chain: string[];
  /** fingerprint256 of each certificate in `chain`, signer first, root last. */
  chainFingerprints: string[];
  /**
   * SHA-256 of each certificate's signed part (tbsCertificate), same order and format. Unlike
   * fingerprint256 it survives re-signing: an ECDSA signature (r, s) is also valid as (r, n-s), so
   * anyone holding a certificate can mint a second encoding with another fingerprint256. Put these
   * into revokedFingerprints beside the fingerprint256 being revoked.
   */
  chainTbsFingerprints?: string[];
  checks: Record<CheckName, CheckOutcome>;
  /** The first failure's reason (the one that decided `status`), null when verified. */
  reason: string | null;
  /** Every failed check with its reason, most decisive first. */
  failures: Failure[];
}

export interface TrustMaterial {
  /** Trust anchors, PEM (or already parsed). An anchor need not be self-signed. Unparseable entries are ignored: validate roots when they are added. */
  roots: ReadonlyArray<string | ParsedCertificate>;
  /**
   * fingerprint256 values (or tbsFingerprint256 values, see Verification.chainTbsFingerprints);
   * compared ignoring case and ':' separators. A certificate is revoked when either of its two
   * fingerprints is in the set.
   */
  revokedFingerprints: ReadonlySet<string>;
  now: Date;
}

export interface KernelTrailer {
  /** struct module_signature fields. */
  algo: number;
  hash: number;
  idType: number;
  signerLen: number;
  keyIdLen: number;
  sigLen: number;
}

export interface SplitModule {
  /** The bytes the signature covers (a view into the input, not a copy). */
  module: Uint8Array;
  /** The detached CMS DER, or null when the file carries no appended signature. */
  signature: Uint8Array | null;
  trailer?: KernelTrailer;
}

export interface AlgorithmRef {
  oid: string;
  /** DER of the AlgorithmIdentifier's parameters, when present (RSASSA-PSS carries them). */
  params?: Uint8Array;
}

export interface ParsedCertificate {
  der: Uint8Array;
  subject: string;
  issuer: string;
  /** Raw DER of the subject and issuer Names: chain links compare these, then verify the signature. */
  subjectDer: Uint8Array;
  issuerDer: Uint8Array;
  fingerprint256: string;
  /** SHA-256 of tbsCertificate (see Verification.chainTbsFingerprints). */
  tbsFingerprint256: string;
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  /** DER of tbsCertificate, the signed part. */
  tbs: Uint8Array;
  signatureAlgorithm: AlgorithmRef;
  signature: Uint8Array;
  /** DER SubjectPublicKeyInfo. */
  spki: Uint8Array;
  basicConstraints: { ca: boolean; pathLen: number | null } | null;
  /** Names of the bits set ("digitalSignature", "keyCertSign", ...), null when the extension is absent. */
  keyUsage: ReadonlySet<string> | null;
  /** OIDs, null when the extension is absent. */
  extendedKeyUsage: readonly string[] | null;
  subjectKeyIdentifier: Uint8Array | null;
  /** OIDs of critical extensions this verifier does not process. */
  unhandledCritical: readonly string[];
}

export type SignerIdentifier =
  | { kind: "issuerAndSerial"; issuerDer: Uint8Array; serialNumber: string }
  | { kind: "subjectKeyIdentifier"; keyId: Uint8Array };

export interface ParsedSignature {
  der: Uint8Array;
  signerId: SignerIdentifier;
  digestAlgorithm: AlgorithmRef;
  signatureAlgorithm: AlgorithmRef;
  signature: Uint8Array;
  /** When signed attributes are present: their DER re-tagged as SET OF (what is signed) and the messageDigest value. */
  signedAttributes: { der: Uint8Array; messageDigest: Uint8Array; contentType: string } | null;
  /** Certificates carried inside the CMS (the kernel's are built with -nocerts, so usually none). */
  certificates: ParsedCertificate[];
}

export interface VerifyInput {
  /** The module bytes (without the appended trailer: see splitKernelSignature). */
  module: Uint8Array;
  /** Detached CMS, DER or PEM bytes, or already parsed; null for an unsigned module. */
  signature: Uint8Array | ParsedSignature | null;
  /** Signer and intermediates: a PEM bundle, or already parsed. */
  certificates: ParsedCertificate[] | string;
  trust: TrustMaterial;
}
