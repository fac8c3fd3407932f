import { createHash } from "node:crypto";
import { MemoryNodeSecretStore, nodeSecretKey, type NodeSecretStore } from "./node-secret-store.js";
import type { DesiredState, Registration, RegisterBody } from "./protocol.js";
import type { HeartbeatMetrics } from "./telemetry.js";

/** What an agent needs from fetch; in process it can be the app's own fetch (no socket). */
export type FetchLike = (request: Request) => Promise<Response>;

export type { DesiredAssignment, DesiredState, Registration, RegisterBody } from "./protocol.js";

export class AgentHttpError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
  ) {
    super(`HTTP ${status}: ${detail}`);
    this.name = "AgentHttpError";
  }
}

/** The bytes fetched are not the artifact the assignment names: never install them. */
export class ArtifactMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ArtifactMismatchError";
  }
}

/** The agent side of the protocol in docs/agent-protocol.md: plain HTTP + JSON with a Node token. */
export class AgentClient {
  private registration: Registration | undefined;

  constructor(
    private readonly baseUrl: string,
    private readonly fetchFn: FetchLike = (r) => fetch(r),
    /** where the node secret is kept between registrations (and, if persistent, between runs) */
    private readonly secrets: NodeSecretStore = new MemoryNodeSecretStore(),
  ) {}

  get nodeId(): string | undefined {
    return this.registration?.nodeId;
  }

  /**
   * Registers, presenting the node secret kept from an earlier registration (an existing node is
   * refused with 409 without it), and keeps the secret the server issues, if it issues one.
   */
  async register(body: RegisterBody): Promise<Registration> {
    const key = nodeSecretKey(this.baseUrl, body.environment, body.hostname);
    const nodeSecret = body.nodeSecret ?? (await this.secrets.get(key));
    const registration = await this.send<Registration>("POST", "/api/v1/agents/register", { ...body, ...(nodeSecret !== undefined && { nodeSecret }) }, undefined, false);
    if (registration.nodeSecret !== undefined) await this.secrets.set(key, registration.nodeSecret);
    this.registration = registration;
    return registration;
  }

  heartbeat(metrics: HeartbeatMetrics, modules: Record<string, string>): Promise<{ status: string }> {
    return this.send("POST", `/api/v1/agents/${this.id()}/heartbeat`, { metrics, modules });
  }

  desiredState(after?: string, waitSeconds?: number, signal?: AbortSignal): Promise<DesiredState> {
    const q = new URLSearchParams();
    if (after !== undefined) q.set("after", after);
    if (waitSeconds !== undefined) q.set("waitSeconds", String(waitSeconds));
    return this.send("GET", `/api/v1/agents/${this.id()}/desired-state?${q}`, undefined, signal);
  }

  report(body: { assignmentId: string; outcome: "succeeded" | "failed"; durationMs: number; error?: string; digest?: string }): Promise<{ recorded: boolean }> {
    return this.send("POST", `/api/v1/agents/${this.id()}/reports`, body);
  }

  /**
   * Fetches an assignment's artifact with the node token and checks it: the answer is the bytes
   * with their digest only when the SHA-256 is the one the assignment names (and the size agrees);
   * otherwise ArtifactMismatchError, and nothing may be installed.
   */
  async fetchArtifact(artifact: { digest: string; size: number; url: string }, signal?: AbortSignal): Promise<{ bytes: Uint8Array; digest: string }> {
    const headers = new Headers({ accept: "application/octet-stream" });
    if (this.registration) headers.set("authorization", `Bearer ${this.registration.token}`);
    const res = await this.fetchFn(new Request(new URL(artifact.url, this.baseUrl).toString(), { headers, signal }));
    if (!res.ok) throw new AgentHttpError(res.status, (await res.text()).slice(0, 500));
    const hash = createHash("sha256");
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of res.body ?? []) {
      size += chunk.byteLength;
      // a server (or a proxy) sending more than was announced is not sending the artifact
      if (size > artifact.size) throw new ArtifactMismatchError(`artifact is larger than the ${artifact.size} bytes announced`);
      hash.update(chunk);
      chunks.push(chunk);
    }
    const digest = `sha256:${hash.digest("hex")}`;
    if (digest !== artifact.digest) throw new ArtifactMismatchError(`artifact digest mismatch: expected ${artifact.digest}, got ${digest}`);
    return { bytes: Buffer.concat(chunks), digest };
  }

  deregister(): Promise<unknown> {
    return this.send("DELETE", `/api/v1/agents/${this.id()}`);
  }

  private id(): string {
    if (!this.registration) throw new Error("agent is not registered");
    return this.registration.nodeId;
  }

  private async send<T>(method: string, path: string, body?: unknown, signal?: AbortSignal, auth = true): Promise<T> {
    const headers = new Headers({ accept: "application/json" });
    if (body !== undefined) headers.set("content-type", "application/json");
    if (auth && this.registration) headers.set("authorization", `Bearer ${this.registration.token}`);
    const res = await this.fetchFn(
      new Request(this.baseUrl + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal }),
    );
    const text = await res.text();
    if (!res.ok) {
      let detail = text;
      try {
        detail = (JSON.parse(text) as { detail?: string }).detail ?? text;
      } catch {
        // not JSON: keep the text
      }
      throw new AgentHttpError(res.status, detail);
    }
    return JSON.parse(text) as T;
  }
}
