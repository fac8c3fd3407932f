import semver from "semver";
import { AgentClient, AgentHttpError, ArtifactMismatchError, type DesiredAssignment, type DesiredState, type FetchLike } from "./agent-client.js";
import type { NodeSecretStore } from "./node-secret-store.js";
import type { HeartbeatMetrics } from "./telemetry.js";
import type { Random } from "./random.js";
import { putOwn } from "../platform/own-keys.js";

/** Per-cluster knobs of the simulation. */
export interface SimProfile {
  /** undefined: what the server suggests at registration */
  heartbeatIntervalMs?: number;
  installLatencyMs: [min: number, max: number];
  /** chance that an install of a good version fails anyway */
  installFailureRate: number;
  baseline: HeartbeatMetrics;
  /** relative noise on every reading, e.g. 0.1 = ±10 % */
  noise: number;
  /** how far a healthy install moves cpu/memory/latency (relative), drawn per install */
  healthyDrift: number;
  /** what a `faulty` version does to the node */
  faulty: { errorRate: [number, number]; latencyFactor: [number, number] };
}

/** The simulator's fault convention (DESIGN.md §6), read from the semver pre-release. */
export function versionFault(version: string | null): "faulty" | "broken" | null {
  const pre = (version && semver.parse(version)?.prerelease.join(".")) || "";
  if (pre.includes("broken")) return "broken";
  if (pre.includes("faulty")) return "faulty";
  return null;
}

export interface SimNodeOptions {
  baseUrl: string;
  fetch: FetchLike;
  joinToken: string;
  environment: string;
  hostname: string;
  labels: Record<string, string>;
  capacity: { cpuCores: number; memoryMb: number };
  profile: SimProfile;
  random: Random;
  /** long-poll wait; the server caps it at 60 */
  waitSeconds?: number;
  /** where the node secret is kept; in memory (lost with the process) if not given */
  secrets?: NodeSecretStore;
  onError?: (err: unknown, what: string) => void;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });

/**
 * One simulated node speaking the agent protocol: registers, heartbeats with metrics that follow
 * what it runs, long-polls its desired state and applies each assignment once, reporting the outcome.
 */
export class SimulatedNode {
  readonly client: AgentClient;
  modules: Record<string, string> = {};
  private readonly applied = new Set<string>();
  private readonly abort = new AbortController();
  private loops: Promise<void>[] = [];
  private drift = { cpu: 1, memory: 1, latency: 1 };
  private heartbeatMs = 1000;
  heartbeats = 0;

  constructor(private readonly o: SimNodeOptions) {
    this.client = new AgentClient(o.baseUrl, o.fetch, o.secrets);
  }

  get nodeId(): string | undefined {
    return this.client.nodeId;
  }

  get hostname(): string {
    return this.o.hostname;
  }

  async start(): Promise<void> {
    await this.register();
    await this.beat();
    this.loops = [this.heartbeatLoop(), this.desiredStateLoop()];
  }

  /** Stops heartbeating and polling; the server will see the node go Unhealthy, then Offline. */
  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.allSettled(this.loops);
  }

  private async register(): Promise<void> {
    const r = await this.client.register({
      joinToken: this.o.joinToken,
      environment: this.o.environment,
      hostname: this.o.hostname,
      capacity: this.o.capacity,
      labels: this.o.labels,
      modules: this.modules,
    });
    this.heartbeatMs = this.o.profile.heartbeatIntervalMs ?? r.heartbeatIntervalMs;
  }

  metrics(): HeartbeatMetrics {
    const { baseline: b, noise, faulty } = this.o.profile;
    const r = this.o.random;
    const jitter = (x: number) => x * (1 + r.between(-noise, noise));
    const bad = Object.values(this.modules).some((v) => versionFault(v) === "faulty");
    const clamp = (x: number, max: number) => Math.round(Math.min(max, Math.max(0, x)) * 1000) / 1000;
    return {
      cpu: clamp(jitter(b.cpu * this.drift.cpu), 100),
      memory: clamp(jitter(b.memory * this.drift.memory), 100),
      latencyP95Ms: clamp(jitter(b.latencyP95Ms * this.drift.latency) * (bad ? r.between(...faulty.latencyFactor) : 1), 3_600_000),
      errorRate: clamp(bad ? r.between(...faulty.errorRate) : jitter(b.errorRate), 1),
      requestRate: clamp(jitter(b.requestRate), 1e9),
    };
  }

  private async beat(): Promise<void> {
    try {
      await this.client.heartbeat(this.metrics(), this.modules);
      this.heartbeats++;
    } catch (err) {
      // an expired token, or a server that forgot us: register again (idempotent) and go on
      if (err instanceof AgentHttpError && [401, 404, 409].includes(err.status)) await this.register();
      // too soon after the last one (e.g. a heartbeat interval shorter than the server's): skip this one
      else if (!(err instanceof AgentHttpError && err.status === 429)) throw err;
    }
  }

  private async heartbeatLoop(): Promise<void> {
    const { signal } = this.abort;
    while (!signal.aborted) {
      await sleep(this.heartbeatMs * this.o.random.between(0.9, 1.1), signal);
      if (signal.aborted) break;
      await this.beat().catch((err) => this.o.onError?.(err, "heartbeat"));
    }
  }

  private async desiredStateLoop(): Promise<void> {
    const { signal } = this.abort;
    let version: string | undefined;
    while (!signal.aborted) {
      let state: DesiredState;
      try {
        state = await this.client.desiredState(version, version === undefined ? undefined : (this.o.waitSeconds ?? 20), signal);
      } catch (err) {
        if (signal.aborted) break;
        this.o.onError?.(err, "desired-state");
        if (err instanceof AgentHttpError && [401, 404, 409].includes(err.status)) await this.register().catch(() => undefined);
        await sleep(1000, signal);
        continue;
      }
      version = state.version;
      for (const a of state.assignments) {
        if (signal.aborted) break;
        if (this.applied.has(a.assignmentId)) continue;
        await this.apply(a).catch((err) => this.o.onError?.(err, "apply"));
      }
    }
  }

  private async fetchArtifact(a: DesiredAssignment, artifact: { digest: string; size: number; url: string }): Promise<{ digest?: string; error?: string }> {
    try {
      return { digest: (await this.client.fetchArtifact(artifact, this.abort.signal)).digest };
    } catch (err) {
      if (err instanceof ArtifactMismatchError) return { error: err.message };
      return { error: `could not fetch the artifact of ${a.moduleName}@${a.toVersion}: ${err instanceof Error ? err.message : String(err)}` };
    }
  }

  private async apply(a: DesiredAssignment): Promise<void> {
    const { profile, random } = this.o;
    const started = Date.now();
    await sleep(random.between(...profile.installLatencyMs), this.abort.signal);
    if (this.abort.signal.aborted) return;
    const fault = versionFault(a.toVersion);
    // a registered module: its bytes are fetched and checked first, and only they are installed
    const fetched: { digest?: string; error?: string } = a.kind === "install" && a.artifact ? await this.fetchArtifact(a, a.artifact) : {};
    if (this.abort.signal.aborted) return;
    let error = fetched.error;
    if (!error && a.kind === "install" && fault === "broken") error = `install of ${a.moduleName}@${a.toVersion} failed: package is broken`;
    else if (!error && a.kind === "install" && random.chance(profile.installFailureRate)) error = `install of ${a.moduleName}@${a.toVersion} failed (simulated)`;
    const digest = fetched.digest;
    if (!error) {
      if (a.toVersion === null) delete this.modules[a.moduleName];
      else putOwn(this.modules, a.moduleName, a.toVersion);
      const d = () => 1 + random.between(-profile.healthyDrift, profile.healthyDrift);
      this.drift = { cpu: d(), memory: d(), latency: d() };
    }
    const durationMs = Date.now() - started;
    try {
      await this.client.report(
        error ? { assignmentId: a.assignmentId, outcome: "failed", durationMs, error } : { assignmentId: a.assignmentId, outcome: "succeeded", durationMs, ...(digest && { digest }) },
      );
    } catch (err) {
      // stale (superseded) or already reported differently: the server's view wins
      if (!(err instanceof AgentHttpError && (err.status === 409 || err.status === 404))) throw err;
    }
    this.applied.add(a.assignmentId);
  }
}
