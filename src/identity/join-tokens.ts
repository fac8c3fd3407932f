import { createHash, timingSafeEqual } from "node:crypto";
import type { SecretState } from "../commands/secret.js";
import type { Clock } from "../platform/clock.js";
import type { Logger } from "../platform/logger.js";
import { SerialRetry } from "../platform/serial-retry.js";
import type { ReadSecretVersion, SecretSource } from "./key-ring.js";

export const AGENT_JOIN_TOKEN = "agent-join-token";

const digest = (value: Buffer | string) => createHash("sha256").update(value).digest();

export interface JoinTokensOptions {
  clock: Clock;
  /**
   * AGENT_JOIN_TOKEN: what seeds the secret's first version, so it is also what is accepted in the
   * moment before the seed is in the log. Once the secret exists it is never consulted again.
   */
  seed: string;
  logger?: Pick<Logger, "error">;
  retryMs?: number;
}

/**
 * The join tokens agents may register with: the `agent-join-token` secret's current version,
 * and its previous one until the overlap ends (so agents configured before a rotation keep
 * registering while they are moved over), followed from the secrets read model on every
 * instance. Only SHA-256 digests of the values are kept in memory; a presented token is compared
 * with every candidate in constant time.
 */
export class JoinTokens {
  private secret: SecretState | null = null;
  /** digests of the versions that are or may soon be accepted (pending too, so finish has no gap) */
  private readonly digests = new Map<number, Buffer>();
  private readonly seedDigest: Buffer;
  private readonly loader: SerialRetry;
  private detach?: () => void;
  private readVersion?: ReadSecretVersion;

  constructor(private readonly o: JoinTokensOptions) {
    this.seedDigest = digest(o.seed);
    this.loader = new SerialRetry(() => this.load(), (err) => o.logger?.error({ err }, "cannot load the agent join token; retrying"), o.retryMs);
  }

  /** Resolves once the values of the versions in use are loaded. */
  async start(source: Pick<SecretSource, "directory" | "readVersion">): Promise<void> {
    this.readVersion = source.readVersion;
    this.detach = source.directory.onChange((name, secret) => {
      if (name === AGENT_JOIN_TOKEN) this.apply(secret);
    });
    const known = source.directory.get(AGENT_JOIN_TOKEN);
    if (known) this.apply(known);
    await this.settled();
  }

  /** Resolves once the loads started by the last change are done (tests, start). */
  async settled(): Promise<void> {
    await this.loader.settled();
  }

  stop(): void {
    this.loader.stop();
    this.detach?.();
  }

  /** Whether `given` is a join token agents may register with at nowMs. */
  accepts(given: string, nowMs: number): boolean {
    const presented = digest(given);
    const candidates = this.acceptedDigests(nowMs);
    let ok = false;
    // every candidate is compared, so the time taken does not say which one matched
    for (const candidate of candidates) ok = timingSafeEqual(presented, candidate) || ok;
    return ok;
  }

  /** The versions accepted at nowMs (for tests and the start-up log). */
  acceptedVersions(nowMs: number): number[] {
    const s = this.secret;
    if (!s?.exists) return [];
    const out: number[] = [];
    if (s.labels.current !== null) out.push(s.labels.current);
    const { previous } = s.labels;
    const until = s.previousValidUntil === null ? Infinity : Date.parse(s.previousValidUntil);
    if (previous !== null && until > nowMs && !s.versions.find((v) => v.version === previous)?.destroyed) out.push(previous);
    return out;
  }

  private acceptedDigests(nowMs: number): Buffer[] {
    if (!this.secret?.exists) return [this.seedDigest];
    return this.acceptedVersions(nowMs).flatMap((v) => this.digests.get(v) ?? []);
  }

  private apply(secret: SecretState): void {
    this.secret = secret;
    this.loader.request();
  }

  /** Loads the values of the labelled versions not loaded yet and forgets the rest. */
  private async load(): Promise<void> {
    const s = this.secret;
    if (!s?.exists) return;
    const wanted = new Set(
      [s.labels.current, s.labels.pending, s.labels.previous].filter(
        (v): v is number => v !== null && s.versions.some((x) => x.version === v && !x.destroyed),
      ),
    );
    for (const v of this.digests.keys()) if (!wanted.has(v)) this.digests.delete(v);
    for (const v of wanted) if (!this.digests.has(v)) this.digests.set(v, digest(await this.readVersion!(AGENT_JOIN_TOKEN, v)));
  }
}
