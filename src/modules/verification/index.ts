// Verification of signed kernel modules: pure functions over bytes and certificates.
// Synchronous by design: the only heavy work is one hash pass over the module (inside
// node:crypto, a few ms per MiB); everything else is bounded by the size of the certificates.
//
// Checks (each one named in the verdict, so a policy can enforce some and log others):
// - integrity: the module bytes are exactly what the signer signed (CMS digest and signature,
//   SHA-256 or stronger). Unsigned -> failed, "no signature".
// - authenticity: the signer's certificate chains to a trusted root, every link verified by
//   signature (never by names alone), with basicConstraints, pathLen, keyUsage, EKU, key sizes.
// - expiry: every certificate in the path is valid at trust.now.
// - revocation: no certificate in the path has its fingerprint256 or tbsFingerprint256 in
//   trust.revokedFingerprints (signer, intermediates and root alike).
// Status precedence: unsigned; invalid (integrity or a weak/unsupported algorithm or key);
// revoked; expired; untrusted; verified. Input that is not what it claims (a lying trailer, a
// signature that is not CMS, a PEM block that is not a certificate) throws ModuleFormatError.
export { ModuleFormatError } from "./errors.js";
export { splitKernelSignature, appendKernelSignature, kernelTrailer, MODULE_SIGNATURE_MAGIC } from "./trailer.js";
export { parseSignature } from "./signature.js";
export { parseCertificates, parseCertificate } from "./certificate.js";
export { verifyModule } from "./verify.js";
export type * from "./types.js";
