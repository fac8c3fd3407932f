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

/**
 * Marks nodes whose heartbeats stopped: Unhealthy after unhealthyAfterMs of silence, Offline after
 * offlineAfterMs. Recovery is the heartbeat route's job (a node's next heartbeat). The node decider
 * makes each mark idempotent, so two monitors (or a lagging read model) cannot double-record.
 */
export class HeartbeatMonitor {
  /** nodes get a full grace period after the monitor starts (heartbeats are not replayed after a restart) */
  private readonly startedAt: number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(private readonly deps: HeartbeatMonitorDeps) {
    this.startedAt = deps.clock.now();
  }

  async tick(now: number = this.deps.clock.now()): Promise<TickResult> {
    const { unhealthyAfterMs, offlineAfterMs } = this.deps.heartbeat;
    const result: TickResult = { unhealthy: [], offline: [] };
    if (now - this.startedAt < unhealthyAfterMs) return result;
    // no projection: at 10,000 nodes mingo's took 45-110 ms a tick (every second; 5 % of the
    // server's CPU under heartbeats), whole documents 5-20 ms
    const nodes = await this.deps.readStore.collection<NodeDoc>(NODES).find({ status: { $ne: "Offline" } });
    if (nodes.length === 0) return result;
    const telemetry = telemetryOf(this.deps.readStore);
    const fresh = await telemetry.seenSince(now - unhealthyAfterMs);
    const ctx = (): CommandContext => ({
      actor: { kind: "system", id: "heartbeat-monitor" },
      correlationId: randomUUID(),
      now,
    });
    const silent = nodes.filter((node) => !fresh.has(node._id));
    if (silent.length === 0) return result;
    // one read for all the silent nodes, not one each (a cluster gone quiet is thousands)
    const liveness = await telemetry.liveness(silent.map((node) => node._id));
    for (const node of silent) {
      const seen = liveness.get(node._id)?.lastSeenAt ?? Date.parse(node.registeredAt);
      const lastSeenAt = Math.max(seen, this.startedAt);
      const silence = now - lastSeenAt;
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
    this.timer = setInterval(() => {
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
