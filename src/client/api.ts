import { ApiError } from "./errors.js";
import { subscribe, type SubscribeOptions, type Subscription } from "./sse.js";
import { TERMINAL_EVENT_TYPES } from "./types.js";
import type {
  Approval,
  ApprovalDecision,
  ClusterDetail,
  ClusterMetrics,
  ClusterQuery,
  ClusterSummary,
  CommandAccepted,
  DeploymentAsOf,
  DeploymentHistory,
  DeploymentPage,
  DeploymentRequest,
  DeploymentView,
  Environment,
  ListDeploymentsQuery,
  LoginResult,
  MetricsQuery,
  ModuleRegistered,
  ModuleSummaryView,
  ModuleVersionView,
  ModuleView,
  TrustPolicyBody,
  TrustPolicyView,
  TrustRevocationView,
  TrustRootView,
  CreateSecretBody,
  SecretDetailView,
  SecretPolicyBody,
  SecretRotateAccepted,
  SecretRotationView,
  SecretSummaryView,
  SecretValueView,
  User,
  VerdictChangeView,
} from "./types.js";

/** What pushModule uploads. */
export interface ModuleUpload {
  name: string;
  version: string;
  artifact: Blob;
  filename?: string;
  /** detached CMS signature (DER or PEM); leave out for a module with an appended kernel signature */
  signature?: Uint8Array;
  /** PEM bundle: the signer's certificate and intermediates */
  certificates?: string;
  dependencies?: { name: string; range: string }[];
  description?: string;
}

export interface ClientOptions {
  /** e.g. http://localhost:3000 (no /api/v1) */
  baseUrl: string;
  token?: string;
  fetch?: typeof fetch;
}

/** Options for the SSE helpers: everything subscribe() takes except where and who. */
export type FeedOptions = Omit<SubscribeOptions, "url" | "token" | "fetch">;

type Query = Record<string, string | number | undefined>;

/** A typed client for /api/v1. Every non-2xx answer throws ApiError with the problem+json body. */
export class OrchestratorClient {
  readonly baseUrl: string;
  token: string | undefined;
  private readonly fetchImpl: typeof fetch;

  constructor(options: ClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.token = options.token;
    this.fetchImpl = options.fetch ?? globalThis.fetch;
  }

  url(path: string, query: Query = {}): string {
    const u = new URL(this.baseUrl + path);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) u.searchParams.set(k, String(v));
    return u.toString();
  }

  private async request<T>(method: string, path: string, options: { query?: Query; body?: unknown; headers?: Record<string, string> } = {}): Promise<T> {
    const headers: Record<string, string> = { accept: "application/json", ...options.headers };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (options.body !== undefined) headers["content-type"] = "application/json";
    const res = await this.fetchImpl(this.url(path, options.query), {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    if (!res.ok) throw await ApiError.from(res);
    return (await res.json()) as T;
  }

  // --- authentication

  /** Logs in and keeps the token for later calls. */
  async login(username: string, password: string): Promise<LoginResult> {
    const result = await this.request<LoginResult>("POST", "/api/v1/authentication/login", { body: { username, password } });
    this.token = result.token;
    return result;
  }

  me(): Promise<User> {
    return this.request("GET", "/api/v1/authentication/me");
  }

  // --- deployments

  /** An idempotencyKey makes retries of the same request land on the same deployment. */
  requestDeployment(request: DeploymentRequest, options: { idempotencyKey?: string } = {}): Promise<CommandAccepted> {
    const headers: Record<string, string> = options.idempotencyKey ? { "idempotency-key": options.idempotencyKey } : {};
    return this.request("POST", "/api/v1/deployments", { body: request, headers });
  }

  listDeployments(query: ListDeploymentsQuery = {}): Promise<DeploymentPage> {
    return this.request("GET", "/api/v1/deployments", { query: { ...query } });
  }

  /** `at` answers as of that instant; `minPosition` waits until the read model has caught up. */
  getDeployment(id: string): Promise<DeploymentView>;
  getDeployment(id: string, options: { minPosition?: number }): Promise<DeploymentView>;
  getDeployment(id: string, options: { at: string }): Promise<DeploymentAsOf>;
  getDeployment(id: string, options: { at?: string; minPosition?: number } = {}): Promise<DeploymentView | DeploymentAsOf> {
    return this.request("GET", `/api/v1/deployments/${encodeURIComponent(id)}`, { query: { ...options } });
  }

  history(id: string): Promise<DeploymentHistory> {
    return this.request("GET", `/api/v1/deployments/${encodeURIComponent(id)}/history`);
  }

  rollback(id: string, reason?: string): Promise<CommandAccepted> {
    return this.action(id, "rollback", reason);
  }
  pause(id: string): Promise<CommandAccepted> {
    return this.action(id, "pause");
  }
  resume(id: string): Promise<CommandAccepted> {
    return this.action(id, "resume");
  }
  abort(id: string, reason?: string): Promise<CommandAccepted> {
    return this.action(id, "abort", reason);
  }

  private action(id: string, name: string, reason?: string): Promise<CommandAccepted> {
    return this.request("POST", `/api/v1/deployments/${encodeURIComponent(id)}/${name}`, { body: reason === undefined ? undefined : { reason } });
  }

  // --- approvals

  pendingApprovals(query: { minPosition?: number } = {}): Promise<Approval[]> {
    return this.request("GET", "/api/v1/approvals/pending", { query: { ...query } });
  }

  getApproval(id: string, query: { minPosition?: number } = {}): Promise<Approval> {
    return this.request("GET", `/api/v1/approvals/deployments/${encodeURIComponent(id)}`, { query: { ...query } });
  }

  approve(id: string, reason?: string): Promise<ApprovalDecision> {
    return this.request("POST", `/api/v1/approvals/deployments/${encodeURIComponent(id)}/approve`, { body: reason === undefined ? undefined : { reason } });
  }

  reject(id: string, reason: string): Promise<ApprovalDecision> {
    return this.request("POST", `/api/v1/approvals/deployments/${encodeURIComponent(id)}/reject`, { body: { reason } });
  }

  // --- clusters

  clusters(): Promise<ClusterSummary[]> {
    return this.request("GET", "/api/v1/clusters");
  }

  /** The cluster and one page of its nodes (`nextCursor` for the next); clusterNodes walks them all. */
  cluster(environment: Environment, options: ClusterQuery = {}): Promise<ClusterDetail> {
    return this.request("GET", `/api/v1/clusters/${environment}`, { query: { ...options } });
  }

  /** Every node of the cluster, page after page. */
  async *clusterNodes(environment: Environment, options: Omit<ClusterQuery, "cursor"> = {}): AsyncGenerator<Record<string, unknown>> {
    let cursor: string | undefined;
    do {
      const page = await this.cluster(environment, { ...options, ...(cursor !== undefined && { cursor }) });
      yield* page.nodes;
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
  }

  clusterMetrics(environment: Environment, query: MetricsQuery = {}): Promise<ClusterMetrics> {
    return this.request("GET", `/api/v1/clusters/${environment}/metrics`, { query: { ...query } });
  }

  // --- module registry and trust store

  /** Registers a module version (multipart upload); `artifact` may be a Blob streamed from disk (fs.openAsBlob). */
  pushModule(upload: ModuleUpload): Promise<ModuleRegistered> {
    const form = new FormData();
    form.set("name", upload.name);
    form.set("version", upload.version);
    if (upload.description !== undefined) form.set("description", upload.description);
    if (upload.dependencies !== undefined) form.set("dependencies", JSON.stringify(upload.dependencies));
    if (upload.certificates !== undefined) form.set("certificates", upload.certificates);
    if (upload.signature !== undefined) form.set("signature", new Blob([new Uint8Array(upload.signature)]), "signature.p7s");
    form.set("artifact", upload.artifact, upload.filename ?? `${upload.name}-${upload.version}.ko`);
    return this.send("POST", "/api/v1/modules", form);
  }

  listModules(query: { minPosition?: number } = {}): Promise<{ items: ModuleSummaryView[] }> {
    return this.request("GET", "/api/v1/modules", { query: { ...query } });
  }

  getModule(name: string, query: { minPosition?: number } = {}): Promise<ModuleView> {
    return this.request("GET", `/api/v1/modules/${encodeURIComponent(name)}`, { query: { ...query } });
  }

  getModuleVersion(name: string, version: string, query: { minPosition?: number } = {}): Promise<ModuleVersionView> {
    return this.request("GET", `/api/v1/modules/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}`, { query: { ...query } });
  }

  addTrustRoot(pem: string): Promise<Omit<TrustRootView, "pem"> & { position: number; reverified: VerdictChangeView[] }> {
    return this.send("POST", "/api/v1/trust/roots", pem, { "content-type": "application/x-pem-file" });
  }

  trustRoots(): Promise<{ items: TrustRootView[] }> {
    return this.request("GET", "/api/v1/trust/roots");
  }

  removeTrustRoot(fingerprint256: string): Promise<{ fingerprint256: string; position: number; reverified: VerdictChangeView[] }> {
    return this.request("DELETE", `/api/v1/trust/roots/${encodeURIComponent(fingerprint256)}`);
  }

  revokeCertificate(fingerprint256: string, reason: string): Promise<{ fingerprint256: string; reason: string; position: number; reverified: VerdictChangeView[] }> {
    return this.request("POST", "/api/v1/trust/revocations", { body: { fingerprint256, reason } });
  }

  revocations(): Promise<{ items: TrustRevocationView[] }> {
    return this.request("GET", "/api/v1/trust/revocations");
  }

  trustPolicy(): Promise<TrustPolicyView> {
    return this.request("GET", "/api/v1/trust/policy");
  }

  setTrustPolicy(policy: TrustPolicyBody): Promise<TrustPolicyView & { position: number }> {
    return this.request("PUT", "/api/v1/trust/policy", { body: policy });
  }

  /** A request whose body is not JSON (a form, a PEM file). */
  private async send<T>(method: string, path: string, body: FormData | string, headers: Record<string, string> = {}): Promise<T> {
    const all: Record<string, string> = { accept: "application/json", ...headers };
    if (this.token) all.authorization = `Bearer ${this.token}`;
    const res = await this.fetchImpl(this.url(path), { method, headers: all, body });
    if (!res.ok) throw await ApiError.from(res);
    return (await res.json()) as T;
  }

  // --- secrets (Admin): values only through secretValue, and each read is recorded

  listSecrets(): Promise<{ items: SecretSummaryView[]; position: number }> {
    return this.request("GET", "/api/v1/secrets");
  }

  getSecret(name: string): Promise<SecretDetailView> {
    return this.request("GET", `/api/v1/secrets/${encodeURIComponent(name)}`);
  }

  createSecret(body: CreateSecretBody, options: { idempotencyKey?: string } = {}): Promise<SecretDetailView> {
    const headers: Record<string, string> = options.idempotencyKey ? { "idempotency-key": options.idempotencyKey } : {};
    return this.request("POST", "/api/v1/secrets", { body, headers });
  }

  setSecretPolicy(name: string, policy: SecretPolicyBody): Promise<SecretDetailView> {
    return this.request("PUT", `/api/v1/secrets/${encodeURIComponent(name)}/policy`, { body: policy });
  }

  /** Starts a rotation (202); follow it with getRotation. 409 while another one runs. */
  rotateSecret(name: string, body: { reason?: string; expectedVersion?: number } = {}, options: { idempotencyKey?: string } = {}): Promise<SecretRotateAccepted> {
    const headers: Record<string, string> = options.idempotencyKey ? { "idempotency-key": options.idempotencyKey } : {};
    return this.request("POST", `/api/v1/secrets/${encodeURIComponent(name)}/rotate`, { body, headers });
  }

  getRotation(name: string, rotationId: string): Promise<SecretRotationView> {
    return this.request("GET", `/api/v1/secrets/${encodeURIComponent(name)}/rotations/${encodeURIComponent(rotationId)}`);
  }

  /** Abandons a rotation in progress, or makes the previous version current again. */
  rollbackSecret(name: string, body: { reason?: string; expectedVersion?: number } = {}): Promise<SecretDetailView> {
    return this.request("POST", `/api/v1/secrets/${encodeURIComponent(name)}/rollback`, { body });
  }

  secretValue(name: string, version?: number): Promise<SecretValueView> {
    return this.request("GET", `/api/v1/secrets/${encodeURIComponent(name)}/value`, { query: { version } });
  }

  destroySecretVersion(name: string, version: number): Promise<SecretDetailView> {
    return this.request("DELETE", `/api/v1/secrets/${encodeURIComponent(name)}/versions/${version}`);
  }

  /** One secret's events (no values, no ciphertext); runs until aborted. */
  secretEvents(name: string, options: FeedOptions = {}): Subscription {
    return subscribe({ ...options, url: this.url(`/api/v1/secrets/${encodeURIComponent(name)}/events`), token: () => this.token, fetch: this.fetchImpl });
  }

  // --- live progress (SSE)

  /** One deployment's events from the start (or after lastEventId); ends after its terminal event. */
  deploymentEvents(id: string, options: FeedOptions = {}): Subscription {
    return subscribe({
      // the terminal event ends the feed even if the connection drops before the server's `end`
      isFinal: (event) => TERMINAL_EVENT_TYPES.includes(event.type),
      ...options,
      url: this.url(`/api/v1/deployments/${encodeURIComponent(id)}/events`),
      token: () => this.token,
      fetch: this.fetchImpl,
    });
  }

  /** Every deployment's events (optionally one environment's); runs until aborted. */
  allDeploymentEvents(options: FeedOptions & { environment?: Environment } = {}): Subscription {
    const { environment, ...rest } = options;
    return subscribe({ ...rest, url: this.url("/api/v1/deployments/events", { environment }), token: () => this.token, fetch: this.fetchImpl });
  }
}
