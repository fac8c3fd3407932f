import type { Actor, RecordedEvent } from "../events/envelope.js";
import type { EventLog, MetadataInput } from "../events/event-log.js";
import { WrongExpectedRevisionError } from "../events/store/port.js";
import { deterministicUuid } from "../platform/ids.js";
import { keepLoaded, loadAggregate, type Loaded } from "./aggregate-cache.js";
import { fold, type Decider, type DomainEvent } from "./decider.js";
import { DomainError } from "./errors.js";

/** Who asked, and the request they asked in: becomes every event's metadata. */
export interface CommandContext {
  actor: Actor;
  correlationId: string;
  causationId?: string;
  traceparent?: string;
  tenantId?: string;
  sourceIp?: string;
  userAgent?: string;
  /**
   * Set only by the HTTP idempotency helper (src/http/idempotency.ts), which has bound the key to
   * this one request. Scoped to the actor: the same key from another user is a different command.
   */
  idempotencyKey?: string;
  /**
   * Set with idempotencyKey when the key was never used before (the helper's first claim of it):
   * no earlier attempt can have appended anything, so the stream is not searched for one. That
   * search reads and folds the whole stream: some 20,000 events on a 10,000-node deployment.
   */
  firstUseOfKey?: boolean;
  /** epoch ms; the only clock a command sees */
  now: number;
}

export interface CommandResult<S> {
  state: S;
  /** events appended by this call (or found already appended, on an idempotent retry) */
  events: DomainEvent[];
  /** global position of the last event of the stream after the command; a consistency token */
  position: number;
  /** true when an earlier attempt with the same Idempotency-Key had already appended these events */
  replayed: boolean;
}

/**
 * With an Idempotency-Key, event ids follow from actor, key, command type, stream and index, so
 * a retried command appends nothing new, and two different commands never share ids.
 */
export function metadataFor(ctx: CommandContext, streamId: string, index: number, commandType?: string): MetadataInput {
  return {
    eventId: ctx.idempotencyKey
      ? deterministicUuid(`${ctx.actor.kind}:${ctx.actor.id}:${ctx.idempotencyKey}:${commandType ?? ""}:${streamId}:${index}`)
      : undefined,
    occurredAt: new Date(ctx.now).toISOString(),
    actor: ctx.actor,
    correlationId: ctx.correlationId,
    causationId: ctx.causationId ?? ctx.correlationId,
    traceparent: ctx.traceparent,
    tenantId: ctx.tenantId,
    sourceIp: ctx.sourceIp,
    userAgent: ctx.userAgent,
  };
}

/**
 * Load -> fold -> decide -> append with the expected revision. On a concurrent write the
 * stream is read again and the command decided again, a bounded number of times. The fold starts
 * from the state this process last folded for the stream when the decider is cacheable.
 */
export async function handleCommand<S, C extends { type: string }, E extends DomainEvent>(
  log: EventLog,
  streamId: string,
  decider: Decider<S, C, E>,
  command: C,
  ctx: CommandContext,
  options: {
    /** tries in all, on concurrent writes; default 5 */
    maxAttempts?: number;
    /** the stream folded, where the caller has a quicker way than loadAggregate (a deployment's snapshots) */
    load?: () => Promise<Loaded<S>>;
  } = {},
): Promise<CommandResult<S>> {
  const { maxAttempts = 5, load = () => loadAggregate(log, streamId, decider) } = options;
  for (let attempt = 1; ; attempt++) {
    let loaded: Loaded<S>;
    if (ctx.idempotencyKey && !ctx.firstUseOfKey) {
      // an earlier attempt's events may be anywhere in the stream: this read is of all of it
      const history = await log.readStream(streamId);
      const replay = earlierAttempt(history, (i) => metadataFor(ctx, streamId, i, command.type).eventId);
      if (replay) {
        // answered as the first attempt was: with the state right after its events, not as of now
        const state = fold(decider, history.slice(0, replay.end) as unknown as E[]);
        return { state, events: replay.events, position: replay.events.at(-1)!.position, replayed: true };
      }
      const last = history.at(-1);
      loaded = { state: fold(decider, history as unknown as E[]), revision: last?.revision ?? null, position: last?.position ?? null };
      keepLoaded(log, streamId, decider, loaded);
    } else {
      loaded = await load();
    }
    const { state } = loaded;

    const decided = decider.decide(command, state);
    if (decided.length === 0) return { state, events: [], position: loaded.position ?? 0, replayed: false };

    const envelopes = log.envelope(decided, (i) => metadataFor(ctx, streamId, i, command.type));
    try {
      const result = await log.append(streamId, envelopes, loaded.revision ?? "no_stream");
      // The state kept stays the one before: the next load reads these events back as stored
      // (validated, maybe upcast) and folds them, rather than trusting the decided copies.
      return { state: fold(decider, decided, state), events: decided, position: result.position, replayed: false };
    } catch (err) {
      if (err instanceof WrongExpectedRevisionError && attempt < maxAttempts) continue;
      if (err instanceof WrongExpectedRevisionError) {
        throw new DomainError("conflict", `too many concurrent changes to ${streamId}; try again`);
      }
      throw err;
    }
  }
}

/** The events an earlier attempt of this command appended (consecutive, from its first id), if any. */
function earlierAttempt(history: RecordedEvent[], idAt: (index: number) => string | undefined): { events: RecordedEvent[]; end: number } | null {
  const first = idAt(0);
  const start = history.findIndex((e) => e.metadata.eventId === first);
  if (start < 0) return null;
  let end = start + 1;
  while (end < history.length && history[end]!.metadata.eventId === idAt(end - start)) end++;
  return { events: history.slice(start, end), end };
}
