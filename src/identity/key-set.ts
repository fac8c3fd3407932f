// Which JWT keys count, derived from the `jwt-signing-key` secret's state as it moves: pure, so
// every instance that has read the same log answers the same, and a test can state it without a
// server. The private key is not here (it never is in the log in clear): KeyRing loads
// the current one through the secret backend.
import { z } from "zod";
import type { SecretState } from "../commands/secret.js";

export const JWT_SIGNING_KEY = "jwt-signing-key";

/** The public half of an Ed25519 key as published (RFC 8037); generate writes it, the JWKS serves it. */
export const PublicJwkSchema = z.object({
  kty: z.literal("OKP"),
  crv: z.literal("Ed25519"),
  x: z.string().regex(/^[A-Za-z0-9_-]{43}$/, "32 bytes, base64url"),
});
export type PublicJwk = z.infer<typeof PublicJwkSchema>;

/** A key's id in token headers and the JWKS names its secret version. */
export function kidFor(version: number): string {
  return `${JWT_SIGNING_KEY}@${version}`;
}

/** The version a kid names, or null for anything that is not one of ours. */
export function versionOfKid(kid: string): number | null {
  const m = /^jwt-signing-key@([1-9]\d{0,8})$/.exec(kid);
  return m ? Number(m[1]) : null;
}

export interface KeySetState {
  /** every version with a usable public key that has not been destroyed */
  readonly keys: ReadonlyMap<number, PublicJwk>;
  readonly current: number | null;
  readonly pending: number | null;
  /**
   * Versions that were current and retired: until when (ms) tokens signed with them count.
   * Infinity while labelled `previous` without an end. A version keeps its window when a later
   * rotation takes the `previous` label from it, so two rotations within one overlap never cut
   * short a token that was valid when issued; destroying the version ends it at once.
   */
  readonly retiredUntil: ReadonlyMap<number, number>;
  /** when a managed key first became current (ms); ends the legacy HS256 secret's window */
  readonly managedSinceMs: number | null;
  /** the secret's policy overlap, to check against the token lifetime at start */
  readonly overlapSeconds: number | null;
}

export const emptyKeySet: KeySetState = {
  keys: new Map(),
  current: null,
  pending: null,
  retiredUntil: new Map(),
  managedSinceMs: null,
  overlapSeconds: null,
};

/**
 * The key set after the secret's state moved to `secret` (the secret aggregate's own fold, one
 * event at a time). Only the windows of retired keys need the previous key set: the secret's state
 * knows only the latest `previous`.
 */
export function nextKeySet(prev: KeySetState, secret: SecretState): KeySetState {
  if (!secret.exists) return prev;
  const keys = new Map<number, PublicJwk>();
  for (const v of secret.versions) {
    if (v.destroyed) continue;
    const jwk = PublicJwkSchema.safeParse(v.publicInfo);
    // a version without a readable public key cannot verify anything: it is left out
    if (jwk.success) keys.set(v.version, { kty: jwk.data.kty, crv: jwk.data.crv, x: jwk.data.x });
  }
  const { current, pending, previous } = secret.labels;
  const retiredUntil = new Map<number, number>();
  for (const [version, until] of prev.retiredUntil) {
    // an open-ended window lasts only while the label does
    if (keys.has(version) && version !== current && !(until === Infinity && version !== previous)) retiredUntil.set(version, until);
  }
  if (previous !== null && keys.has(previous)) {
    retiredUntil.set(previous, secret.previousValidUntil === null ? Infinity : Date.parse(secret.previousValidUntil));
  }
  const managedSinceMs = prev.managedSinceMs ?? (current !== null ? Date.parse(secret.lastRotatedAt ?? secret.createdAt) : null);
  return { keys, current, pending, retiredUntil, managedSinceMs, overlapSeconds: secret.policy.overlapSeconds };
}

/** Whether tokens signed with `version` count at nowMs (the pending key does: another instance may have finished the rotation already). */
export function keyCounts(state: KeySetState, version: number, nowMs: number): boolean {
  if (!state.keys.has(version)) return false;
  if (version === state.current || version === state.pending) return true;
  return (state.retiredUntil.get(version) ?? -Infinity) > nowMs;
}

export interface PublishedKey extends PublicJwk {
  kid: string;
  alg: "EdDSA";
  use: "sig";
}

/**
 * The key set as published at nowMs: the next key first (in the set before it signs anything),
 * then the current one, then retired ones still within their overlap, newest first.
 */
export function publishedKeys(state: KeySetState, nowMs: number): PublishedKey[] {
  const order: number[] = [];
  if (state.pending !== null) order.push(state.pending);
  if (state.current !== null && state.current !== state.pending) order.push(state.current);
  const retired = [...state.retiredUntil.keys()].filter((v) => !order.includes(v)).sort((a, b) => b - a);
  return [...order, ...retired]
    .filter((v) => keyCounts(state, v, nowMs))
    .map((v) => ({ ...state.keys.get(v)!, kid: kidFor(v), alg: "EdDSA" as const, use: "sig" as const }));
}

/** When the published set next changes by itself (a retired key's window ends), in ms; null if never. */
export function nextExpiryMs(state: KeySetState, nowMs: number): number | null {
  let next: number | null = null;
  for (const [version, until] of state.retiredUntil) {
    if (until > nowMs && until !== Infinity && state.keys.has(version) && (next === null || until < next)) next = until;
  }
  return next;
}
