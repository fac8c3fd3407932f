import type { Environment } from "../strategies/settings.js";
import type { FetchLike } from "./agent-client.js";
import { matchEnvironment } from "./environments.js";
import type { NodeSecretStore } from "./node-secret-store.js";
import { deriveSeed, seededRandom } from "./random.js";
import { SimulatedNode, type SimProfile } from "./sim-node.js";

const base: SimProfile = {
  installLatencyMs: [150, 600],
  installFailureRate: 0,
  baseline: { cpu: 30, memory: 45, latencyP95Ms: 60, errorRate: 0.002, requestRate: 120 },
  noise: 0.1,
  healthyDrift: 0.05,
  faulty: { errorRate: [0.2, 0.35], latencyFactor: [3, 4] },
};

/** Defaults per cluster: bigger environments carry more traffic and install a little slower. */
export const defaultProfiles: Record<Environment, SimProfile> = {
  Development: { ...base, installLatencyMs: [100, 300] },
  QA: { ...base, installLatencyMs: [150, 450], baseline: { ...base.baseline, requestRate: 200 } },
  Staging: { ...base, installLatencyMs: [200, 600], baseline: { ...base.baseline, requestRate: 400 } },
  Production: { ...base, installLatencyMs: [250, 800], baseline: { ...base.baseline, cpu: 40, requestRate: 1500 } },
};

export interface SimulatorOptions {
  baseUrl: string;
  fetch: FetchLike;
  joinToken: string;
  /** environment (any case) -> number of nodes */
  clusterSizes: Record<string, number>;
  seed: number;
  profiles?: Partial<Record<Environment, Partial<SimProfile>>>;
  /** hostnames are `<prefix><environment>-<n>`; default "sim-" */
  hostnamePrefix?: string;
  waitSeconds?: number;
  /** where the nodes keep their secrets: persistent, so a restarted simulator is still those nodes */
  secrets?: NodeSecretStore;
  onError?: (err: unknown, what: string) => void;
}

/** A fleet of simulated nodes per environment, each an agent over the real HTTP protocol. */
export class Simulator {
  readonly nodes: SimulatedNode[] = [];

  constructor(o: SimulatorOptions) {
    for (const [raw, count] of Object.entries(o.clusterSizes)) {
      const environment = matchEnvironment(raw);
      if (!environment) throw new Error(`simulator: unknown environment "${raw}"`);
      const profile = { ...defaultProfiles[environment], ...o.profiles?.[environment] };
      for (let i = 1; i <= count; i++) {
        const hostname = `${o.hostnamePrefix ?? "sim-"}${environment.toLowerCase()}-${String(i).padStart(2, "0")}`;
        const random = seededRandom(deriveSeed(o.seed, hostname));
        this.nodes.push(
          new SimulatedNode({
            baseUrl: o.baseUrl,
            fetch: o.fetch,
            joinToken: o.joinToken,
            environment,
            hostname,
            // alternating colors give blue-green deployments two halves to work with
            labels: { color: i % 2 === 1 ? "blue" : "green", simulated: "true", zone: `zone-${((i - 1) % 3) + 1}` },
            capacity: { cpuCores: 2 ** (1 + Math.floor(random.next() * 3)), memoryMb: 4096 * (1 + Math.floor(random.next() * 4)) },
            profile,
            random,
            waitSeconds: o.waitSeconds,
            secrets: o.secrets,
            onError: o.onError,
          }),
        );
      }
    }
  }

  /**
   * Registers every node (in parallel) and starts their loops. Nodes that could not register (a
   * lost node secret is refused with 409) do not stop the others; the error names them all.
   */
  async start(): Promise<void> {
    const results = await Promise.allSettled(this.nodes.map((n) => n.start()));
    const failed = results.flatMap((r, i) => (r.status === "rejected" ? [{ hostname: this.nodes[i]!.hostname, reason: r.reason as unknown }] : []));
    if (failed.length === 0) return;
    const detail = failed.map((f) => `${f.hostname}: ${f.reason instanceof Error ? f.reason.message : String(f.reason)}`).join("; ");
    // the cause is the first node's error (e.g. an AgentHttpError), for callers that tell kinds apart
    throw new Error(`${failed.length} of ${this.nodes.length} simulated node(s) could not start: ${detail}`, { cause: failed[0]!.reason });
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
  }
}
