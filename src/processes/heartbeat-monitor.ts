import { randomUUID } from "node:crypto";
import { DomainError } from "../commands/errors.js";
import { handleCommand, type CommandContext } from "../commands/handler.js";
import { nodeDecider } from "../commands/node.js";
import type { EventLog } from "../events/event-log.js";
import { streams } from "../events/streams.js";
import { telemetryOf } from "../fleet/telemetry.js";
import { NODES, type NodeDoc } from "../projections/nodes.js";
import type { ReadStore } from "../projections/store/port.js";
import type { Clock } from "../platform/clock.js";

export interface HeartbeatMonitorDeps {
  log: EventLog;
  readStore: ReadStore;
  clock: Clock;
  heartbeat: { unhealthyAfterMs: number; offlineAfterMs: number };
  logger?: { warn(obj: object, msg?: string): void };
}

export interface TickResult {
  unhealthy: string[];
  offline: string[];
}

/** A stretch of time the monitor could not watch heartbeats arrive (clock ms, `from` < `to`). */
export interface Blind {
  from: number;
  to: number;
}

/**
 * How long a node was silent in the monitor's sight: the time from `seen` to `now`, less the parts
 * of `blind` (in time order) inside it. A node is only blamed for silence the server could hear.
 */
export function watchedSilence(seen: number, now: number, blind: readonly Blind[]): number {
  let silence = now - seen;
  for (const b of blind) silence -= Math.max(0, Math.min(b.to, now) - Math.max(b.from, seen));
  return silence;
}

/** A timer callback this much later than its interval: the event loop could not run meanwhile. */
const BLOCKED_LOOP_MS = 1000;

/**
 * Whether the event loop was blocked between two of the timer's callbacks (a long synchronous step,
 * a GC pause, a process the host stopped): the callback came `BLOCKED_LOOP_MS` or more late.
 */
export const loopWasBlocked = (previousMs: number, nowMs: number, intervalMs: number): boolean => nowMs - previousMs >= intervalMs + BLOCKED_LOOP_MS;

/**
 * Marks nodes whose heartbeats stopped: Unhealthy after unhealthyAfterMs of silence, Offline after
 * offlineAfterMs. Recovery is the heartbeat route's job (a node's next heartbeat). The node decider
 * makes each mark idempotent, so two monitors (or a lagging read model) cannot double-record.
 *
 * Silence counts only while the monitor could watch (`watchedSilence`). It could not before it
 * started (heartbeats are not replayed after a restart), while the event loop was blocked (the
 * heartbeats that came meanwhile wait unread behind the timer that notices: timers run before I/O),
 * or between a failed tick and the next good one (a store outage may have refused heartbeats too).
 * Otherwise a server that stalls, or whose store fails for a while, would mark its whole fleet
 * Unhealthy for its own fault, thousands of events that say nothing about the nodes.
 */
export class HeartbeatMonitor {
  private readonly startedAt: number;
  /** stretches the monitor could not watch, oldest first; those older than offlineAfterMs are let go */
  private readonly blind: Blind[];
  /** when the last tick that read the stores began; a failed tick leaves it */
  private lastGoodTick: number;
  /** a tick failed since lastGoodTick */
  private failed = false;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(private readonly deps: HeartbeatMonitorDeps) {
    this.startedAt = deps.clock.now();
    this.blind = [{ from: -Infinity, to: this.startedAt }];
    this.lastGoodTick = this.startedAt;
  }

  /** The monitor could not watch up to `now` since `from` (see the class). */
  lostSight(from: number, now: number = this.deps.clock.now()): void {
    if (!(from < now)) return;
    const last = this.blind.at(-1);
    if (last && from <= last.to) last.to = Math.max(last.to, now);
    else this.blind.push({ from, to: now });
  }

  async tick(now: number = this.deps.clock.now()): Promise<TickResult> {
    try {
      return await this.look(now);
    } catch (err) {
      this.failed = true;
      throw err;
    }
  }

  private async look(now: number): Promise<TickResult> {
    const { unhealthyAfterMs, offlineAfterMs } = this.deps.heartbeat;
    const result: TickResult = { unhealthy: [], offline: [] };
    if (now - this.startedAt < unhealthyAfterMs) return result;
    // no projection: at 10,000 nodes mingo's took 45-110 ms a tick (every second; 5 % of the
    // server's CPU under heartbeats), whole documents 5-20 ms
    const nodes = await this.deps.readStore.collection<NodeDoc>(NODES).find({ status: { $ne: "Offline" } });
    if (this.failed) this.lostSight(this.lastGoodTick, now);
    this.failed = false;
    this.lastGoodTick = now;
    while (this.blind.length > 1 && this.blind[0]!.to < now - offlineAfterMs) this.blind.shift();
    if (nodes.length === 0) return result;
    const telemetry = telemetryOf(this.deps.readStore);
    const ctx = (): CommandContext => ({
      actor: { kind: "system", id: "heartbeat-monitor" },
      correlationId: randomUUID(),
      now,
    });
    const silentIds = new Set(await telemetry.silentAmong(nodes.map((node) => node._id), now - unhealthyAfterMs));
    if (silentIds.size === 0) return result;
    const silent = nodes.filter((node) => silentIds.has(node._id));
    // one read for all the silent nodes, not one each (a cluster gone quiet is thousands)
    const liveness = await telemetry.liveness(silent.map((node) => node._id));
    for (const node of silent) {
      const seen = liveness.get(node._id)?.lastSeenAt ?? Date.parse(node.registeredAt);
      // what the events say: the last time anyone heard it, or the monitor's start
      const lastSeenAt = Math.max(seen, this.startedAt);
      const silence = watchedSilence(seen, now, this.blind);
      const command =
        silence >= offlineAfterMs
          ? ({ type: "MarkOffline", lastSeenAt, now } as const)
          : silence >= unhealthyAfterMs && node.status === "Healthy"
            ? ({ type: "MarkUnhealthy", lastSeenAt, now } as const)
            : null;
      if (!command) continue;
      try {
        const r = await handleCommand(this.deps.log, streams.node(node._id), nodeDecider, command, ctx());
        if (r.events.length === 0) continue;
        (command.type === "MarkOffline" ? result.offline : result.unhealthy).push(node._id);
      } catch (err) {
        // deregistered meanwhile, or a write conflict storm: the next tick looks again
        if (!(err instanceof DomainError)) throw err;
      }
    }
    return result;
  }

  /** Ticks every intervalMs on the real timer; a slow tick is never overlapped by the next. */
  start(intervalMs: number): void {
    if (this.timer) return;
    let previous = performance.now();
    this.timer = setInterval(() => {
      const at = performance.now();
      if (loopWasBlocked(previous, at, intervalMs)) {
        const now = this.deps.clock.now();
        this.lostSight(now - (at - previous - intervalMs), now);
      }
      previous = at;
      if (this.running) return;
      this.running = this.tick()
        .catch((err) => this.deps.logger?.warn({ err }, "heartbeat monitor tick failed"))
        .finally(() => (this.running = undefined));
    }, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
