// What a kind of secret decides: how a new version's value is made, installed where it is used,
// and tested before it becomes current. The rotation process (src/processes/secret-rotation.ts)
// calls these between its steps; each result becomes an event, so a kind needs no state of its own.
//
// Kinds: `generic` (src/secrets/kinds/generic.ts), `jwt-signing-key` and `agent-join-token`
// (src/secrets/kinds/*.ts). A new kind implements SecretKindHandler and is registered in the
// registry the composition root builds (src/server.ts: secretKinds.register(...)).
import type { Config } from "../platform/config.js";
import type { SecretPolicy } from "./policy.js";

export interface SecretKindContext {
  /** the secret's name */
  name: string;
  /** the version being made (generate) or rotated in (install, test) */
  version: number;
  policy: SecretPolicy;
  /** epoch ms, from the injected clock */
  now: number;
}

export interface SecretVersionContext extends SecretKindContext {
  /** what generate published in clear for this version (a public JWK), if anything */
  publicInfo: Record<string, unknown> | undefined;
  /** the version's value, decrypted through the backend (not audited: the process's own read) */
  readValue(): Promise<Buffer>;
}

export type SecretTestResult = { ok: true } | { ok: false; reason: string };

export interface SecretKindHandler {
  readonly kind: string;
  /** whether POST /api/v1/secrets may carry a value; generated kinds refuse one (400 naming json.value) */
  readonly clientValueAllowed: boolean;
  /**
   * Whether an Admin may read a value over GET .../value (each read audited). Absent means never:
   * a kind that takes a caller's value, or a generated value someone must hand out (a join token),
   * sets this; a private key never does.
   */
  readonly valueReadable?: boolean;
  /** a fresh value for a new version; publicInfo is stored in clear beside its ciphertext (never secret material) */
  generate(ctx: SecretKindContext): Promise<{ value: Buffer; publicInfo?: Record<string, unknown> }>;
  /**
   * Makes the pending version known where it will be used, before it becomes current. Must be
   * idempotent: after a crash the step runs again. Throwing is a transient failure (retried).
   */
  install(ctx: SecretVersionContext): Promise<void>;
  /**
   * How long (ms) the process waits after install before it tests and finishes: e.g. the JWKS
   * publish-ahead, so every verifier has the next key before anything is signed with it.
   */
  installSettleMs(policy: SecretPolicy, config: Config): number;
  /** Whether the pending version works. { ok: false } rolls the rotation back; throwing is retried. */
  test(ctx: SecretVersionContext): Promise<SecretTestResult>;
  /** A rule of this kind the policy breaks (overlap shorter than a token lifetime), naming the field, or null. */
  policyProblem?(policy: SecretPolicy, config: Config): { field: keyof SecretPolicy; message: string } | null;
  /** The policy a secret of this kind starts with when the caller gives none. */
  defaultPolicy?(config: Config): SecretPolicy;
  /** Checks a caller's value before it is stored (length, charset); a message names what is wrong, or null. */
  valueProblem?(value: Buffer): string | null;
}

/** The kinds this instance knows, by name. A secret of a kind not registered here is listed but not rotated. */
export class SecretKindRegistry {
  private readonly kinds = new Map<string, SecretKindHandler>();

  constructor(handlers: Iterable<SecretKindHandler> = []) {
    for (const h of handlers) this.register(h);
  }

  register(handler: SecretKindHandler): void {
    if (this.kinds.has(handler.kind)) throw new Error(`secret kind ${handler.kind} registered twice`);
    this.kinds.set(handler.kind, handler);
  }

  get(kind: string): SecretKindHandler | undefined {
    return this.kinds.get(kind);
  }

  names(): string[] {
    return [...this.kinds.keys()].sort();
  }
}
