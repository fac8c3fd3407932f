import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { evolveSecret, initialSecretState, type SecretState } from "../commands/secret.js";
import type { SecretEvent } from "../events/catalog/secret.js";
import type { EventLog } from "../events/event-log.js";
import { streams } from "../events/streams.js";
import type { SigningKeys } from "../http/auth.js";
import type { Clock } from "../platform/clock.js";
import type { Logger } from "../platform/logger.js";
import { SerialRetry } from "../platform/serial-retry.js";
import type { SecretDirectory } from "../secrets/read-model.js";
import {
  emptyKeySet,
  nextKeySet,
  JWT_SIGNING_KEY,
  keyCounts,
  kidFor,
  nextExpiryMs,
  publishedKeys,
  versionOfKid,
  type KeySetState,
  type PublishedKey,
} from "./key-set.js";

/** A version's value, decrypted through the secret backend (the rotation's and the ring's own reads, not audited). */
export type ReadSecretVersion = (name: string, version: number) => Promise<Buffer>;

export interface KeyRingOptions {
  clock: Clock;
  logger?: Pick<Logger, "warn" | "error">;
  /** first wait before a failed private-key load is tried again; doubles up to a minute */
  retryMs?: number;
}

/** Where the ring reads from; given at start, since the secrets runtime is built after the kinds that use the ring. */
export interface SecretSource {
  /** the secrets read model, caught up */
  directory: Pick<SecretDirectory, "get" | "onChange" | "position">;
  readVersion: ReadSecretVersion;
  /**
   * The log, to replay the secret's history once at start: the read model knows only the latest
   * `previous`, and a key retired by the rotation before last may still be within its overlap.
   */
  log?: Pick<EventLog, "readStream">;
}


/** The private key of an Ed25519 version, from its PKCS8 DER value; throws on anything else. */
export function privateKeyFrom(value: Buffer): KeyObject {
  const key = createPrivateKey({ key: value, format: "der", type: "pkcs8" });
  if (key.asymmetricKeyType !== "ed25519") throw new Error(`expected an Ed25519 key, got ${key.asymmetricKeyType}`);
  return key;
}

/**
 * The JWT keys of this instance, kept current from the event log: it follows the
 * `jwt-signing-key` secret in the secrets read model, which the shared live feed keeps current,
 * so a rotation made on any instance is known here as soon as the log has it, without a restart.
 * Public keys come from the events (published in clear); the current private key is decrypted
 * through the secret backend when the `current` label moves, and the old one signs on until it is
 * loaded (while it still counts).
 */
export class KeyRing implements SigningKeys {
  private state: KeySetState = emptyKeySet;
  private readonly publicKeys = new Map<number, KeyObject>();
  private signing: { version: number; kid: string; key: KeyObject } | null = null;
  private readonly loader: SerialRetry;
  private detach?: () => void;
  private readVersion?: ReadSecretVersion;
  private stopped = false;
  private readonly waiters = new Set<() => void>();

  constructor(private readonly o: KeyRingOptions) {
    // the old key keeps signing while it is still current; else login answers 503 until this works
    this.loader = new SerialRetry(
      () => this.loadSigner(),
      (err) => o.logger?.error({ err, version: this.state.current }, "cannot load the current JWT signing key; retrying"),
      o.retryMs,
    );
  }

  /** Resolves once the key set is the read model's and, if there is a current key, it signs here. */
  async start(source: SecretSource): Promise<void> {
    this.readVersion = source.readVersion;
    // changes that land while history is replayed wait: the read model's latest state comes last
    let replaying = true;
    this.detach = source.directory.onChange((name, secret) => {
      if (name === JWT_SIGNING_KEY && !replaying) this.apply(secret);
    });
    if (source.log) {
      let secret = initialSecretState;
      let keys = this.state;
      const history = await source.log.readStream(streams.secret(JWT_SIGNING_KEY), { untilPosition: source.directory.position() });
      for (const event of history) {
        secret = evolveSecret(secret, event as unknown as SecretEvent);
        keys = nextKeySet(keys, secret);
      }
      this.state = keys;
    }
    replaying = false;
    const now = source.directory.get(JWT_SIGNING_KEY);
    if (now) this.apply(now);
    await this.loader.settled();
  }

  stop(): void {
    this.stopped = true;
    this.loader.stop();
    this.detach?.();
    for (const wake of this.waiters) wake();
    this.waiters.clear();
  }

  /** The folded state (for the JWKS route's headers, the start-up policy check and tests). */
  snapshot(): KeySetState {
    return this.state;
  }

  signer(): { kid: string; key: KeyObject } | null {
    const s = this.signing;
    // while the new current key loads (milliseconds) the old one signs on if it still counts; a
    // destroyed one never does
    return s && keyCounts(this.state, s.version, this.o.clock.now()) ? { kid: s.kid, key: s.key } : null;
  }

  verifier(kid: string, nowMs: number): KeyObject | null {
    const version = versionOfKid(kid);
    if (version === null || !keyCounts(this.state, version, nowMs)) return null;
    return this.publicKeys.get(version) ?? null;
  }

  managedSinceMs(): number | null {
    return this.state.managedSinceMs;
  }

  /** The published key set and how long it may be cached: no longer than until a key in it expires. */
  jwks(nowMs: number, maxAgeSeconds: number): { keys: PublishedKey[]; maxAgeSeconds: number } {
    const next = nextExpiryMs(this.state, nowMs);
    const untilChange = next === null ? maxAgeSeconds : Math.max(0, Math.floor((next - nowMs) / 1000));
    return { keys: publishedKeys(this.state, nowMs), maxAgeSeconds: Math.min(maxAgeSeconds, untilChange) };
  }

  /** Resolves true once `version` is current and signs here (or false after timeoutMs): the rotation's test step, e2e tests. */
  async waitForSigner(version: number | null, timeoutMs: number): Promise<boolean> {
    const done = () => this.signer() !== null && (version === null || this.signing?.version === version);
    return this.waitUntil(done, timeoutMs);
  }

  /** Resolves true once this instance has `version`'s public key (published), false after timeoutMs. */
  async waitForPublished(version: number, timeoutMs: number): Promise<boolean> {
    return this.waitUntil(() => this.publicKeys.has(version), timeoutMs);
  }

  private async waitUntil(done: () => boolean, timeoutMs: number): Promise<boolean> {
    if (done()) return true;
    if (this.stopped) return false;
    return new Promise<boolean>((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(done());
      };
      const check = () => {
        if (done() || this.stopped) finish();
      };
      // a wait, not a measurement: the deadline is real time even under a manual clock
      const timer = setTimeout(finish, timeoutMs);
      this.waiters.add(check);
    });
  }

  private wake(): void {
    for (const check of [...this.waiters]) check();
  }

  private apply(secret: SecretState): void {
    this.state = nextKeySet(this.state, secret);
    for (const [version, jwk] of this.state.keys) {
      if (!this.publicKeys.has(version)) this.publicKeys.set(version, createPublicKey({ key: { ...jwk }, format: "jwk" }));
    }
    for (const version of this.publicKeys.keys()) if (!this.state.keys.has(version)) this.publicKeys.delete(version);
    if (this.state.current !== this.signing?.version) this.loader.request();
    this.wake();
  }

  /** Loads the current version's private key; the newest label wins. */
  private async loadSigner(): Promise<void> {
    const version = this.state.current;
    if (version === null || this.signing?.version === version) return;
    const key = privateKeyFrom(await this.readVersion!(JWT_SIGNING_KEY, version));
    this.signing = { version, kid: kidFor(version), key };
    this.wake();
  }
}

/**
 * Why this instance must not start with its token lifetime, or null: tokens living longer than
 * the stored jwt-signing-key overlap would be refused before they expire (vault#11441). Read from
 * the log before anything starts, so the refusal is a configuration error naming the variable.
 */
export async function tokenLifetimeProblem(log: Pick<EventLog, "readStream">, ttlSeconds: number): Promise<string | null> {
  const events = await log.readStream(streams.secret(JWT_SIGNING_KEY));
  const secret = events.reduce((s, e) => evolveSecret(s, e as unknown as SecretEvent), initialSecretState);
  if (!secret.exists || secret.policy.overlapSeconds >= ttlSeconds) return null;
  return (
    `JWT_TTL_SECONDS: ${ttlSeconds} s is longer than the jwt-signing-key's overlapSeconds (${secret.policy.overlapSeconds} s), ` +
    `so tokens would be refused before they expire after a rotation; lower JWT_TTL_SECONDS, or first raise the overlap ` +
    `(PUT /api/v1/secrets/jwt-signing-key/policy {"overlapSeconds": ${ttlSeconds + 300}}) with the current setting`
  );
}
