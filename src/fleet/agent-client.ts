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

  report(body: { assignmentId: string; outcome: "succeeded" | "failed"; durationMs: number; error?: string }): Promise<{ recorded: boolean }> {
    return this.send("POST", `/api/v1/agents/${this.id()}/reports`, body);
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
