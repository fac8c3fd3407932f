import { evolveSecret, initialSecretState, type SecretState } from "../commands/secret.js";
import { secretEvents, type SecretEvent } from "../events/catalog/secret.js";
import type { RecordedEvent } from "../events/envelope.js";
import type { EventLog } from "../events/event-log.js";
import { followStreams } from "../events/follow-streams.js";
import type { Attachment, LiveFeed } from "../events/live-feed.js";
import { streamKey, streamPrefixes } from "../events/streams.js";
import { waitForPosition } from "../projections/progress.js";

const SECRET_EVENT_TYPES: ReadonlySet<string> = new Set(secretEvents.map((d) => d.type));

export type SecretChangeListener = (name: string, state: SecretState, event: RecordedEvent) => void;

/**
 * The `secrets` read model: every secret's folded state (the secret decider's own evolve, so the
 * write side, the rotation process, the key ring and the API agree on what a stream means), in
 * memory on every instance: caught up at start, then kept current from the shared live feed, so a
 * rotation finished on one instance is seen on all within the feed's latency, without restart.
 * Secrets are few (tens, not millions), and the key ring consults it on every token check: a
 * shared ReadStore round trip per request would be the wrong trade. Holds material (ciphertext or
 * references), never values; the API shapes it with toSecretView (src/secrets/view.ts).
 */
export class SecretDirectory {
  private readonly secrets = new Map<string, SecretState>();
  private applied = 0;
  private readonly progress = new Set<(position: number) => void>();
  private readonly changes = new Set<SecretChangeListener>();
  private attachment?: Attachment;

  constructor(
    private readonly log: EventLog,
    private readonly feed: LiveFeed,
  ) {}

  /** Resolves once every secret event up to the feed's position at the call is applied. */
  async start(): Promise<void> {
    this.attachment = await followStreams(this.log, this.feed, streamPrefixes.secret, (e) => this.apply(e), (p) => this.advance(p));
  }

  stop(): void {
    this.attachment?.detach();
    this.progress.clear();
    this.changes.clear();
  }

  get(name: string): SecretState | undefined {
    return this.secrets.get(name);
  }

  /** every secret, by name */
  list(): SecretState[] {
    return [...this.secrets.values()].filter((s) => s.exists).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** the log position this read model has applied */
  position(): number {
    return this.applied;
  }

  onProgress(listener: (position: number) => void): () => void {
    this.progress.add(listener);
    return () => this.progress.delete(listener);
  }

  /** Called after each secret event is folded in, with the secret's new state. Must be quick and not throw. */
  onChange(listener: SecretChangeListener): () => void {
    this.changes.add(listener);
    return () => this.changes.delete(listener);
  }

  /** true once `position` is applied (read your writes), false after timeoutMs */
  waitFor(position: number, timeoutMs: number): Promise<boolean> {
    return waitForPosition(this, position, timeoutMs);
  }

  private apply(event: RecordedEvent): void {
    if (event.position <= this.applied) return;
    // a type this code does not know (written by a newer version) is skipped, not folded
    if (event.streamId.startsWith(streamPrefixes.secret) && SECRET_EVENT_TYPES.has(event.type)) {
      const name = streamKey(event.streamId);
      const next = evolveSecret(this.secrets.get(name) ?? initialSecretState, event as unknown as SecretEvent);
      this.secrets.set(name, next);
      for (const listener of this.changes) listener(name, next, event);
    }
    this.advance(event.position);
  }

  private advance(position: number): void {
    if (position <= this.applied) return;
    this.applied = position;
    for (const listener of this.progress) listener(position);
  }
}
