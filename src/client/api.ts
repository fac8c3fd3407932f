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
  DeploymentQuery,
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
  GraphDirection,
  GraphEdgeName,
  GraphExportAnswer,
  GraphImpactAnswer,
  GraphMatrixAnswer,
  GraphNeighborsAnswer,
  GraphPathsAnswer,
  GraphPattern,
  GraphQueryAnswer,
  GraphVertexAnswer,
  GraphVertexType,
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

/** `at`: the graph as of that ISO instant; `minPosition`: wait until the read model reached it. */
export interface GraphReadOptions {
  at?: string;
  minPosition?: number;
}

/** Which edges to follow: names canonical or inverse (RUNS or RUN_BY), and which way. */
export interface GraphEdgeOptions extends GraphReadOptions {
  edge?: GraphEdgeName | GraphEdgeName[];
  direction?: GraphDirection;
}

export interface GraphExportOptions extends GraphReadOptions {
  /** the centre of a neighbourhood, `Type:id`; the whole graph when left out */
  around?: string;
  depth?: number;
}

/** The query string of a graph read: edge names joined with commas. */
function graphQuery<O extends GraphEdgeOptions & { [K in keyof O]?: string | number | readonly string[] }>(options: O): Query {
  const { edge, ...rest } = options;
  return { ...(rest as Query), edge: Array.isArray(edge) ? edge.join(",") : (edge as string | undefined) };
}

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

  private async request<T>(method: string, path: string, options: { query?: Query; body?: unknown; raw?: FormData | string; headers?: Record<string, string> } = {}): Promise<T> {
    return (await (await this.respond(method, path, options)).json()) as T;
  }

  /** The 2xx response (its body not read yet), or ApiError. `raw`: a body that is not JSON (a form, a PEM file), sent as is. */
  private async respond(
    method: string,
    path: string,
    options: { query?: Query; body?: unknown; raw?: FormData | string; headers?: Record<string, string> } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = { accept: "application/json", ...options.headers };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (options.body !== undefined) headers["content-type"] = "application/json";
    const res = await this.fetchImpl(this.url(path, options.query), {
      method,
      headers,
      body: options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
    });
    if (!res.ok) throw await ApiError.from(res);
    return res;
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

  /**
   * The deployment with one page of its nodes (`nodesNextCursor` for the next; `nodeCounts` counts
   * them all) and each wave's counts; deploymentNodes walks every node. `at` answers as of that
   * instant; `minPosition` waits until the read model has caught up.
   */
  getDeployment(id: string, options?: DeploymentQuery & { at?: undefined }): Promise<DeploymentView>;
  getDeployment(id: string, options: DeploymentQuery & { at: string }): Promise<DeploymentAsOf>;
  getDeployment(id: string, options: DeploymentQuery): Promise<DeploymentView | DeploymentAsOf>;
  getDeployment(id: string, options: DeploymentQuery = {}): Promise<DeploymentView | DeploymentAsOf> {
    return this.request("GET", `/api/v1/deployments/${encodeURIComponent(id)}`, { query: { ...options } });
  }

  /** Every node of the deployment (of a phase or wave, if asked; after `cursor`, if given), page after page, in plan order. */
  async *deploymentNodes(id: string, options: DeploymentQuery = {}): AsyncGenerator<DeploymentView["nodes"][number]> {
    let cursor = options.cursor;
    do {
      const page: DeploymentView = await this.getDeployment(id, { ...options, ...(cursor !== undefined && { cursor }) });
      yield* page.nodes;
      cursor = page.nodesNextCursor ?? undefined;
    } while (cursor !== undefined);
  }

  /** One page of the deployment's events (the server's default size unless `limit`), from `fromRevision` (default 0). */
  historyPage(id: string, options: { fromRevision?: number; limit?: number } = {}): Promise<DeploymentHistory> {
    const query = new URLSearchParams();
    if (options.fromRevision !== undefined) query.set("fromRevision", String(options.fromRevision));
    if (options.limit !== undefined) query.set("limit", String(options.limit));
    const q = query.toString();
    return this.request("GET", `/api/v1/deployments/${encodeURIComponent(id)}/history${q ? `?${q}` : ""}`);
  }

  /** Every event of the deployment, page after page (`pageSize`: the server's default unless given). */
  async history(id: string, options: { pageSize?: number } = {}): Promise<DeploymentHistory> {
    const limit = options.pageSize;
    const first = await this.historyPage(id, { limit });
    const events = [...first.events];
    for (let next = first.nextRevision; next !== null; ) {
      const page = await this.historyPage(id, { fromRevision: next, limit });
      events.push(...page.events);
      next = page.nextRevision;
    }
    return { executionId: first.executionId, events, nextRevision: null };
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
    return this.request("POST", "/api/v1/modules", { raw: form });
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
    return this.request("POST", "/api/v1/trust/roots", { raw: pem, headers: { "content-type": "application/x-pem-file" } });
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

  // --- knowledge graph (docs/graph.md). Every read takes `at` (an ISO instant: the graph as of
  // then) and `minPosition` (wait until the read model has caught up with your write).

  /** A vertex and its edges; `history` adds the edges that had closed. */
  graphVertex(type: GraphVertexType, id: string, options: GraphEdgeOptions & { limit?: number; history?: boolean } = {}): Promise<GraphVertexAnswer> {
    const { history, ...rest } = options;
    return this.request("GET", `/api/v1/graph/vertices/${type}/${encodeURIComponent(id)}`, { query: { ...graphQuery(rest), history: history === undefined ? undefined : String(history) } });
  }

  /** Every vertex within `depth` (1..5) hops, at its shortest distance, and the edges walked. */
  graphNeighbors(type: GraphVertexType, id: string, options: GraphEdgeOptions & { depth?: number; limit?: number } = {}): Promise<GraphNeighborsAnswer> {
    return this.request("GET", `/api/v1/graph/neighbors/${type}/${encodeURIComponent(id)}`, { query: graphQuery(options) });
  }

  /** The shortest typed paths between two vertices, each spelled `Type:id` (e.g. `Node:qa-1`). */
  graphPaths(from: string, to: string, options: GraphEdgeOptions & { maxDepth?: number; limit?: number } = {}): Promise<GraphPathsAnswer> {
    return this.request("GET", "/api/v1/graph/paths", { query: { from, to, ...graphQuery(options) } });
  }

  /** Blast radius of a module, or of the versions `version` (a version or a semver range) selects. */
  graphImpact(module: string, options: GraphReadOptions & { version?: string; maxDepth?: number } = {}): Promise<GraphImpactAnswer> {
    return this.request("GET", "/api/v1/graph/impact", { query: { module, ...options } });
  }

  /** What runs where: module x environment -> versions and node counts. */
  graphMatrix(options: GraphReadOptions & { module?: string; environment?: Environment } = {}): Promise<GraphMatrixAnswer> {
    return this.request("GET", "/api/v1/graph/matrix", { query: { ...options } });
  }

  /** A JSON pattern (start, steps, return, limit). */
  graphQuery(pattern: GraphPattern, options: GraphReadOptions = {}): Promise<GraphQueryAnswer> {
    return this.request("POST", "/api/v1/graph/query", { query: { ...options }, body: pattern });
  }

  /** The whole graph, or the neighbourhood `around` a vertex (`Type:id`) to `depth`, as JSON. */
  graphExport(options: GraphExportOptions = {}): Promise<GraphExportAnswer> {
    return this.request("GET", "/api/v1/graph/export", { query: { ...options, format: "json" } });
  }

  /** The same as GraphML (Gephi, yEd, Neo4j apoc.import.graphml). */
  async graphExportGraphML(options: GraphExportOptions = {}): Promise<string> {
    const res = await this.respond("GET", "/api/v1/graph/export", { query: { ...options, format: "graphml" }, headers: { accept: "application/graphml+xml" } });
    return res.text();
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
