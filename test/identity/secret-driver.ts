// A secret driven through the real secret decider, one command at a time, standing in for the
// secrets read model (get/onChange) and the backend (values by version): the key ring and the
// join tokens see what they would see on a server, without one.
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { evolveSecret, initialSecretState, secretDecider, type SecretCommand, type SecretState } from "../../src/commands/secret.js";
import type { SecretMaterial } from "../../src/events/catalog/secret.js";
import { emptyKeySet, nextKeySet, publishedKeys, type KeySetState } from "../../src/identity/key-set.js";
import type { SecretChangeListener } from "../../src/secrets/read-model.js";
import { jwtKeyDefaultPolicy } from "../../src/secrets/kinds/jwt-signing-key.js";
import type { RecordedEvent } from "../../src/events/envelope.js";

export const T0 = Date.parse("2026-01-01T00:00:00.000Z");
export const OVERLAP_S = 3900;
export const material: SecretMaterial = { backend: "embedded", keyId: "k", alg: "A256GCM", iv: "aaaa", ciphertext: "bbbb", tag: "cccc" };

export interface Made {
  value: Buffer;
  publicInfo: Record<string, unknown>;
}

/** An Ed25519 key as the jwt-signing-key kind makes it: PKCS8 value, public JWK in clear. */
export function ed25519(): Made {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const { kty, crv, x } = publicKey.export({ format: "jwk" });
  return { value: privateKey.export({ format: "der", type: "pkcs8" }), publicInfo: { kty, crv, x, alg: "EdDSA", use: "sig" } };
}

export const randomToken = (): Made => ({ value: Buffer.from(randomBytes(24).toString("base64url")), publicInfo: {} });

export class Driven {
  secret: SecretState = initialSecretState;
  /** the key set as the ring derives it, for pure assertions */
  keys: KeySetState = emptyKeySet;
  now = T0;
  readonly values = new Map<number, Buffer>();
  /** every event so far, as the log would hold it (position = index + 1) */
  readonly events: RecordedEvent[] = [];
  private readonly listeners = new Set<SecretChangeListener>();
  private seq = 0;

  constructor(
    readonly name = "jwt-signing-key",
    readonly kind = "jwt-signing-key",
    private readonly make: () => Made = ed25519,
  ) {}

  // the read model's face
  get(name: string): SecretState | undefined {
    return name === this.name && this.secret.exists ? this.secret : undefined;
  }
  position(): number {
    return this.events.length;
  }
  /** the log's face: the stream's events up to a position */
  readonly log = {
    readStream: async (_streamId: string, options: { untilPosition?: number } = {}): Promise<RecordedEvent[]> =>
      this.events.filter((e) => e.position <= (options.untilPosition ?? Infinity)),
  };
  /** what the ring and the join tokens start from */
  source(withLog = true) {
    return { directory: this, readVersion: this.readVersion, ...(withLog && { log: this.log }) };
  }
  onChange(listener: SecretChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  // the backend's face
  readVersion = async (name: string, version: number): Promise<Buffer> => {
    const v = this.secret.versions.find((x) => x.version === version);
    const value = this.values.get(version);
    if (name !== this.name || !v || v.destroyed || !value) throw new Error(`no value for ${name}@${version}`);
    return value;
  };

  run(command: SecretCommand): void {
    for (const event of secretDecider.decide(command, this.secret)) {
      this.secret = evolveSecret(this.secret, event);
      this.keys = nextKeySet(this.keys, this.secret);
      const position = this.events.length + 1;
      const recorded = { ...event, streamId: `secret-${this.name}`, revision: position - 1, position } as unknown as RecordedEvent;
      this.events.push(recorded);
      for (const l of this.listeners) l(this.name, this.secret, recorded);
    }
  }
  create(first: Made = this.make()): this {
    this.values.set(1, first.value);
    this.run({
      type: "CreateSecret",
      name: this.name,
      kind: this.kind,
      policy: { ...jwtKeyDefaultPolicy(3600), overlapSeconds: OVERLAP_S },
      first: { version: 1, material, publicInfo: first.publicInfo },
      now: this.now,
    });
    return this;
  }
  /** request + create: the new version is pending */
  startRotation(made: Made = this.make()): string {
    const rotationId = `r${++this.seq}`;
    this.run({ type: "RequestRotation", rotationId, reason: "test", scheduled: false, requestedBy: "admin", now: this.now });
    const version = (this.secret.versions.at(-1)?.version ?? 0) + 1;
    this.values.set(version, made.value);
    this.run({ type: "CompleteCreateStep", rotationId, added: { version, material, publicInfo: made.publicInfo }, now: this.now });
    return rotationId;
  }
  finish(rotationId: string): void {
    this.run({ type: "CompleteInstallStep", rotationId, settleUntil: null, now: this.now });
    this.run({ type: "CompleteTestStep", rotationId, now: this.now });
    this.run({ type: "FinishRotation", rotationId, now: this.now });
  }
  rotate(): void {
    this.finish(this.startRotation());
  }
  kids(): string[] {
    return publishedKeys(this.keys, this.now).map((k) => k.kid);
  }
}
