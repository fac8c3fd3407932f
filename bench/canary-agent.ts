// The light agent the canary bench (pipeline.bench.ts) drives, answering instantly: it hears a
// deployment's NodeUpdateRequested, fetches the node's desired state once the read model has the
// assignment, reports success, and once a wave is installed sends one heartbeat per updated node
// (the one sample the analysis needs). The same agent runs in the bench's process, fed by the live
// feed and calling the app without sockets, or in a process of its own (canary-agent-process.ts),
// fed by the deployment's SSE feed and calling over keep-alive sockets.

/** What the agent needs of an event: as the live feed holds it, or as an SSE message carries it. */
export interface AgentEvent {
  type: string;
  streamId: string;
  position: number;
  data: unknown;
}

/** One request; rejects unless the answer has status `want`. */
export type Call = (method: string, path: string, body: unknown, token: string | undefined, want: number) => Promise<Record<string, unknown>>;

export interface CanaryAgentOptions {
  /** the deployment's stream; other streams' events are ignored */
  streamId: string;
  /** nodeId -> agent token */
  tokens: ReadonlyMap<string, string>;
  call: Call;
  /**
   * Waits until the read models have applied `position` (in process); without it the desired-state
   * request asks the same with ?minPosition (over sockets, as a remote agent would).
   */
  waitFor?: (position: number) => Promise<unknown>;
  /** requests in flight at once */
  concurrency: number;
  moduleName: string;
  version: string;
  metrics: Record<string, number>;
}

const TERMINAL = new Set(["DeploymentSucceeded", "DeploymentFailed", "DeploymentRolledBack", "DeploymentCancelled", "DeploymentRejected"]);

/** Follows one deployment's events: counts them and resolves `finished` at the terminal one. */
export class DeploymentFollower {
  events = 0;
  lastType = "";
  /** the terminal event's type, once one came */
  status = "";
  readonly finished: Promise<string>;
  private done!: (status: string) => void;

  constructor(readonly streamId: string) {
    this.finished = new Promise((resolve) => (this.done = resolve));
  }

  /** false for another stream's event */
  onEvent(e: AgentEvent): boolean {
    if (e.streamId !== this.streamId) return false;
    this.events++;
    this.lastType = e.type;
    if (TERMINAL.has(e.type)) {
      this.status = e.type;
      this.done(e.type);
    }
    return true;
  }
}

export class CanaryAgent extends DeploymentFollower {
  private readonly waveOf = new Map<number, { nodeIds: string[]; updated: number }>();
  private readonly nodeWave = new Map<string, number>();
  private readonly work: (() => Promise<void>)[] = [];
  private readonly idle: (() => void)[] = [];
  private stopped = false;
  private readonly workers: Promise<void>[];

  constructor(private readonly o: CanaryAgentOptions) {
    super(o.streamId);
    this.workers = Array.from({ length: o.concurrency }, async () => {
      while (!this.stopped) {
        const job = this.work.shift();
        if (!job) {
          await new Promise<void>((resolve) => this.idle.push(resolve));
          continue;
        }
        await job().catch((err) => console.error("agent:", String(err)));
      }
    });
  }

  private enqueue(job: () => Promise<void>): void {
    this.work.push(job);
    this.idle.shift()?.();
  }

  override onEvent(e: AgentEvent): boolean {
    if (!super.onEvent(e)) return false;
    const d = e.data as { wave?: number; nodeIds?: string[]; nodeId?: string; at?: string };
    if (e.type === "WaveStarted") {
      this.waveOf.set(d.wave!, { nodeIds: d.nodeIds!, updated: 0 });
      for (const id of d.nodeIds!) this.nodeWave.set(id, d.wave!);
    }
    if (e.type === "NodeUpdateRequested") this.enqueue(() => this.install(d.nodeId!, e.position));
    if (e.type === "NodeUpdated") {
      const w = this.waveOf.get(this.nodeWave.get(d.nodeId!)!);
      if (w && ++w.updated === w.nodeIds.length) {
        // the wave is installed: one fresh sample from every updated node (this wave's and the
        // earlier ones': the analysis judges them all), strictly after the install instant
        const installedAt = Date.parse(d.at!);
        const updated = [...this.waveOf.values()].filter((x) => x.updated === x.nodeIds.length).flatMap((x) => x.nodeIds);
        for (const nodeId of updated) this.enqueue(() => this.heartbeat(nodeId, installedAt));
      }
    }
    return true;
  }

  private async install(nodeId: string, position: number): Promise<void> {
    const token = this.o.tokens.get(nodeId)!;
    // as a long poll would: answer once the desired-state read model has the assignment
    let path = `/api/v1/agents/${nodeId}/desired-state`;
    if (this.o.waitFor) await this.o.waitFor(position);
    else path += `?minPosition=${position}`;
    const state = (await this.o.call("GET", path, undefined, token, 200)) as { assignments: { assignmentId: string }[] };
    for (const a of state.assignments) await this.o.call("POST", `/api/v1/agents/${nodeId}/reports`, { assignmentId: a.assignmentId, outcome: "succeeded", durationMs: 0 }, token, 200);
  }

  private async heartbeat(nodeId: string, installedAt: number): Promise<void> {
    while (Date.now() <= installedAt) await new Promise((r) => setTimeout(r, 1));
    await this.o.call("POST", `/api/v1/agents/${nodeId}/heartbeat`, { metrics: this.o.metrics, modules: { [this.o.moduleName]: this.o.version } }, this.o.tokens.get(nodeId)!, 202);
  }

  /** Stops taking work; resolves once every worker has finished its job in hand. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const wake of this.idle.splice(0)) wake();
    await Promise.all(this.workers);
  }
}
