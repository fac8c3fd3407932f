// The verdict of one registered version against trust material: which bytes the signature covers
// (the module before an appended signature, or the whole artifact for a detached one), then the
// verifier. Pure: the caller reads the bytes and the trust store.
import { verifyModule, splitKernelSignature, type TrustMaterial, type Verification } from "./verification/index.js";
import type { TrustState } from "./trust.js";
import type { Registration } from "./registry.js";

export type SignatureSource = Registration["signature"];

export function judge(artifact: Uint8Array, signature: SignatureSource, certificates: string | null, trust: TrustMaterial): Verification {
  if (signature.source === "appended") {
    const split = splitKernelSignature(artifact);
    return verifyModule({ module: split.module, signature: split.signature, certificates: certificates ?? [], trust });
  }
  const detached = signature.source === "detached" && signature.der !== null ? new Uint8Array(Buffer.from(signature.der, "base64")) : null;
  return verifyModule({ module: artifact, signature: detached, certificates: certificates ?? [], trust });
}

/** The trust store's roots and revocations as the verifier takes them, judged at `now`. */
export function trustMaterial(state: TrustState, now: number): TrustMaterial {
  return {
    roots: [...state.roots.values()].map((r) => r.pem),
    revokedFingerprints: new Set([...state.revocations.values()].flatMap((r) => [r.fingerprint256, ...r.tbsFingerprints])),
    now: new Date(now),
  };
}

/**
 * Verdict failures that make an upload unacceptable rather than merely untrusted: algorithms and
 * keys too weak to mean anything, and a certificate chain that loops. No later trust change can
 * make them good, so they are refused (422) instead of registered.
 */
export const REFUSED_CODES: ReadonlySet<string> = new Set(["weak-algorithm", "unsupported-algorithm", "weak-key", "chain-loop"]);
