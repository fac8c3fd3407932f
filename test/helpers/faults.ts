// Fault injection for tests: wrappers around the EventStore, ReadStore and Coordination ports
// that fail, delay or drop calls according to a FaultPlan. One plan (one seed, one clock) can
// drive all three wrappers, so a single schedule describes an outage across the whole system;
// rules are added and removed while a test runs, and every injected fault is recorded.
import type { RecordedEvent } from "../../src/events/envelope.js";
import type { EventStore, Subscription } from "../../src/events/store/port.js";
import type { Clock } from "../../src/platform/clock.js";
import type { Coordination } from "../../src/platform/coordination/port.js";
import { realSleep, type Sleep } from "../../src/platform/sleep.js";
import { mulberry32 } from "../../src/fleet/random.js";
import { aroundReadStore } from "../../src/projections/store/around.js";
import type { ReadStore } from "../../src/projections/store/port.js";

/** A small deterministic PRNG (the simulator's), so fault schedules (and a runner's jitter) replay from a seed. */
export const seededRandom = mulberry32;

export type FaultTarget = "eventStore" | "readStore" | "coordination";

/** One call about to go through a faulty adapter. */
export interface FaultCall {
  target: FaultTarget;
  /**
   * The port method ("append", "readAll", "get", "putMany", "rename", "acquire", "hit", ...), or
   * "deliver" for an event store subscription handing one event to its handler (a failure there
   * drops the subscription: its `done` rejects and the event is not delivered), or "message" for
   * a pub/sub message (a failure there loses the message, as Redis pub/sub does while disconnected).
   */
  op: string;
  /** the read-store collection, for collection methods */
  collection?: string;
}

/**
 * Which calls a rule applies to, and when it fires. The selectors (target, ops, collections)
 * narrow the calls the rule sees; the triggers (nth, times, window, probability, when) decide
 * whether a call it sees is hit. Triggers given together must all hold; a rule with none hits
 * every call it sees. Calls are counted per rule, from 1, over the calls it sees.
 */
export interface FaultRule {
  /** only calls to this adapter (default: all three) */
  target?: FaultTarget;
  /** only these operations (default: all) */
  ops?: string[];
  /** only calls on these read-store collections (calls without a collection never match) */
  collections?: string[];
  /** hit the calls with these numbers */
  nth?: number[];
  /** hit the first `times` calls */
  times?: number;
  /** hit every call while from <= clock.now() < to (the plan's injected clock) */
  window?: { from: number; to: number };
  /** hit each call with this probability, drawn from the plan's seeded random */
  probability?: number;
  /** hit while this returns true (a switch the test flips) */
  when?: () => boolean;
  /** what a hit does: throw an InjectedFault (default), or wait delayMs (the plan's sleep) and let the call through */
  effect?: "fail" | { delayMs: number };
}

/** The error a "fail" rule throws: what a dropped connection or an election looks like to the caller. */
export class InjectedFault extends Error {
  constructor(readonly call: FaultCall) {
    super(`injected fault: ${call.target}.${call.op}${call.collection ? ` on ${call.collection}` : ""}`);
    this.name = "InjectedFault";
  }
}

export interface FaultPlanOptions {
  /** seeds the random draws of `probability` rules (default 1) */
  seed?: number;
  /** the clock `window` rules read (default: wall clock) */
  clock?: Clock;
  /** how "delay" effects wait (default: real timers) */
  sleep?: Sleep;
  rules?: FaultRule[];
}

interface ActiveRule {
  rule: FaultRule;
  seen: number;
}

export class FaultPlan {
  /** every hit so far, in order: what failed or was delayed, and by which rule */
  readonly hits: (FaultCall & { effect: "fail" | "delay" })[] = [];
  private readonly rules: ActiveRule[] = [];
  private readonly random: () => number;
  private readonly clock: Clock;
  private readonly sleep: Sleep;

  constructor(options: FaultPlanOptions = {}) {
    this.random = seededRandom(options.seed ?? 1);
    this.clock = options.clock ?? { now: () => Date.now() };
    this.sleep = options.sleep ?? realSleep;
    for (const rule of options.rules ?? []) this.add(rule);
  }

  /** Adds a rule; returns a function that removes it. */
  add(rule: FaultRule): () => void {
    const active = { rule, seen: 0 };
    this.rules.push(active);
    return () => {
      const at = this.rules.indexOf(active);
      if (at >= 0) this.rules.splice(at, 1);
    };
  }

  clear(): void {
    this.rules.length = 0;
  }

  /** Called by the wrappers before each call: throws, waits, or returns at once. */
  async check(call: FaultCall): Promise<void> {
    for (const active of [...this.rules]) {
      if (!this.sees(active.rule, call)) continue;
      active.seen++;
      if (!this.fires(active)) continue;
      const effect = active.rule.effect ?? "fail";
      if (effect === "fail") {
        this.hits.push({ ...call, effect: "fail" });
        throw new InjectedFault(call);
      }
      this.hits.push({ ...call, effect: "delay" });
      await this.sleep(effect.delayMs);
    }
  }

  private sees(rule: FaultRule, call: FaultCall): boolean {
    if (rule.target && rule.target !== call.target) return false;
    if (rule.ops && !rule.ops.includes(call.op)) return false;
    if (rule.collections && (call.collection === undefined || !rule.collections.includes(call.collection))) return false;
    return true;
  }

  private fires({ rule, seen }: ActiveRule): boolean {
    if (rule.nth && !rule.nth.includes(seen)) return false;
    if (rule.times !== undefined && seen > rule.times) return false;
    if (rule.window) {
      const now = this.clock.now();
      if (now < rule.window.from || now >= rule.window.to) return false;
    }
    if (rule.when && !rule.when()) return false;
    // drawn last, and only for calls every other trigger let through, so a schedule replays
    if (rule.probability !== undefined && this.random() >= rule.probability) return false;
    return true;
  }
}

/** A ReadStore whose every call (collection methods included) first asks the plan. */
export function faultyReadStore(store: ReadStore, plan: FaultPlan): ReadStore {
  return aroundReadStore(store, async (call, run) => {
    await plan.check({ target: "readStore", ...call });
    return run();
  });
}

/** An EventStore whose calls ask the plan; a "deliver" hit drops the subscription. */
export function faultyEventStore(store: EventStore, plan: FaultPlan): EventStore {
  const check = (op: string) => plan.check({ target: "eventStore", op });
  return {
    get kind() {
      return store.kind;
    },
    append: async (streamId, events, expected) => (await check("append"), store.append(streamId, events, expected)),
    readStream: async (streamId, options) => (await check("readStream"), store.readStream(streamId, options)),
    readAll: async (options) => (await check("readAll"), store.readAll(options)),
    headPosition: async () => (await check("headPosition"), store.headPosition()),
    subscribe(options, handler): Subscription {
      // a handler that throws ends the underlying subscription: the adapter's own way to drop one
      return store.subscribe(options, async (event: RecordedEvent, control) => {
        await check("deliver");
        await handler(event, control);
      });
    },
    ping: async () => (await check("ping"), store.ping()),
    close: () => store.close(),
  };
}

/** A Coordination whose calls ask the plan; a "message" hit loses that pub/sub message. */
export function faultyCoordination(coordination: Coordination, plan: FaultPlan): Coordination {
  const check = (op: string) => plan.check({ target: "coordination", op });
  return {
    get kind() {
      return coordination.kind;
    },
    acquire: async (key, owner, ttlMs) => (await check("acquire"), coordination.acquire(key, owner, ttlMs)),
    renew: async (lease, ttlMs) => (await check("renew"), coordination.renew(lease, ttlMs)),
    release: async (lease) => (await check("release"), coordination.release(lease)),
    hit: async (key, limit, windowMs) => (await check("hit"), coordination.hit(key, limit, windowMs)),
    tryLock: async (key, owner, ttlMs) => (await check("tryLock"), coordination.tryLock(key, owner, ttlMs)),
    unlock: async (key, owner) => (await check("unlock"), coordination.unlock(key, owner)),
    lockoutStatus: async (key, policy) => (await check("lockoutStatus"), coordination.lockoutStatus(key, policy)),
    lockoutFailure: async (key, policy) => (await check("lockoutFailure"), coordination.lockoutFailure(key, policy)),
    lockoutSuccess: async (key) => (await check("lockoutSuccess"), coordination.lockoutSuccess(key)),
    publish: async (channel, message) => (await check("publish"), coordination.publish(channel, message)),
    async subscribe(channel, onMessage) {
      await check("subscribe");
      // one chain per subscription keeps messages in order even when some are delayed
      let chain = Promise.resolve();
      return coordination.subscribe(channel, (message) => {
        chain = chain.then(() => check("message")).then(
          () => onMessage(message),
          () => undefined,
        );
      });
    },
    ping: async () => (await check("ping"), coordination.ping()),
    close: () => coordination.close(),
  };
}
