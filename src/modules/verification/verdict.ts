import type { CheckName, CheckOutcome, Failure, FailureCode, VerificationStatus } from "./types.js";

// Which failure decides the status when several fail: a verdict names the worst thing first.
const ALGORITHM_CODES: ReadonlySet<FailureCode> = new Set(["weak-algorithm", "unsupported-algorithm", "weak-key"]);

function severity(f: Failure): number {
  if (f.check === "integrity") return 0;
  if (ALGORITHM_CODES.has(f.code)) return 1;
  if (f.check === "revocation") return 2;
  if (f.check === "expiry") return 3;
  return 4;
}

const STATUS_BY_SEVERITY: readonly VerificationStatus[] = ["invalid", "invalid", "revoked", "expired", "untrusted"];

/** Most decisive first; stable otherwise, so failures keep the order they were found in (signer first). */
export function sortFailures(failures: readonly Failure[]): Failure[] {
  return failures
    .map((f, i) => ({ f, i }))
    .sort((a, b) => severity(a.f) - severity(b.f) || a.i - b.i)
    .map(({ f }) => f);
}

export function statusOf(failures: readonly Failure[]): VerificationStatus {
  let worst = Number.POSITIVE_INFINITY;
  for (const f of failures) worst = Math.min(worst, severity(f));
  return Number.isFinite(worst) ? STATUS_BY_SEVERITY[worst]! : "verified";
}

/** Lower is better; used to pick among several candidate chains. */
export function statusRank(s: VerificationStatus): number {
  return ["verified", "untrusted", "expired", "revoked", "invalid", "unsigned"].indexOf(s);
}

export function checksOf(failures: readonly Failure[], skipped: readonly CheckName[] = []): Record<CheckName, CheckOutcome> {
  const outcome = (c: CheckName): CheckOutcome => (failures.some((f) => f.check === c) ? "failed" : skipped.includes(c) ? "skipped" : "passed");
  return { integrity: outcome("integrity"), authenticity: outcome("authenticity"), expiry: outcome("expiry"), revocation: outcome("revocation") };
}

/** Drops exact repeats (the same weak digest named by both the digest and the signature algorithm). */
export function dedupeFailures(failures: readonly Failure[]): Failure[] {
  const seen = new Set<string>();
  return failures.filter((f) => {
    const key = `${f.check}\u0000${f.code}\u0000${f.reason}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
