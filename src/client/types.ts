// Wire types of the HTTP API, taken from the server's own schemas and view functions (type-only
// imports: the client pulls in no server code at run time).
import type { z } from "zod";
import type { DeploymentRequestSchema, DeploymentStatus } from "../commands/deployment.js";
import type { Actor } from "../events/envelope.js";
import type { DeploymentEvent } from "../events/catalog/deployment.js";
import type { Role } from "../events/catalog/user.js";
import type { Problem } from "../http/problem.js";
import type { DeploymentView } from "../projections/deployments.js";
import type { NodePhase } from "../commands/deployment.js";
import type { DeploymentSummaryView } from "../http/routes/deployments.js";
import type { Environment, StrategyName } from "../strategies/settings.js";

export type { DeploymentStatus, DeploymentSummaryView, DeploymentView, Environment, Problem, Role, StrategyName, DeploymentEvent };
export type {
  CreateSecretBody,
  SecretDetailView,
  SecretPolicyBody,
  SecretRotateAccepted,
  SecretRotationView,
  SecretSummaryView,
  SecretValueView,
} from "../http/routes/secrets.js";
export type { ModuleRegistered, ModuleSummaryView, ModuleView, ModuleVersionView } from "../http/routes/modules.js";
export type { TrustPolicyView, TrustRevocationView, TrustRootView, VerdictChangeView } from "../http/routes/trust.js";
export type { TrustPolicyBody } from "../modules/policy.js";

export type {
  GraphDirection,
  GraphEdgeHop,
  GraphExportAnswer,
  GraphImpactAnswer,
  GraphMatrixAnswer,
  GraphNeighborsAnswer,
  GraphPathsAnswer,
  GraphPattern,
  GraphPoint,
  GraphQueryAnswer,
  GraphVertexAnswer,
  GraphVertexType,
  GraphEdgeName,
  GraphEdge,
  GraphVertex,
} from "./graph-types.js";

/** POST /api/v1/deployments body (optional fields may be left out). */
export type DeploymentRequest = z.input<typeof DeploymentRequestSchema>;

export interface User {
  username: string;
  roles: Role[];
}

export interface LoginResult {
  token: string;
  expiresAt: string;
  user: User;
}

/** 202 answer of every deployment command. */
export interface CommandAccepted {
  executionId: string;
  status: DeploymentStatus;
  /** global position of the last appended event: pass it as minPosition to read your write */
  position: number;
}

export interface DeploymentPage {
  /** each the deployment without its nodes (GET /deployments/{id} has them) */
  items: DeploymentSummaryView[];
  nextCursor: string | null;
}

/** GET /deployments/{id}: which page of the nodes, as of when. */
export interface DeploymentQuery {
  /** the deployment as of this instant */
  at?: string;
  /** wait until the read model has applied this global position */
  minPosition?: number;
  /** nodes per page (server default 100, at most 1000) */
  limit?: number;
  /** nodesNextCursor of the previous page */
  cursor?: string;
  /** only nodes in this phase */
  phase?: NodePhase;
  /** only the nodes of this wave (its index) */
  wave?: number;
}

/** GET /deployments/{id}?at=...: the view as of that instant. */
export type DeploymentAsOf = DeploymentView & { asOf: string; position: number };

export interface DeploymentHistory {
  executionId: string;
  events: { type: string; revision: number; position: number; occurredAt: string; actor: Actor; data: unknown }[];
  /** the next page's fromRevision; null on the last page */
  nextRevision: number | null;
}

/** The approval routes show the deployment's identity beside its approval record. */
export type Approval = Pick<DeploymentView, "executionId" | "moduleName" | "version" | "targetEnvironment" | "requesterEmail" | "requestedBy"> &
  DeploymentView["approval"] & { deploymentStatus: DeploymentStatus };

export interface ApprovalDecision {
  executionId: string;
  status: DeploymentStatus;
  approval: DeploymentView["approval"]["status"];
  position: number;
}

/**
 * The cluster routes are still being written; until their schemas are exported these stay open
 * (the known fields are the ones DESIGN.md §7 promises).
 */
export type ClusterSummary = { environment: Environment } & Record<string, unknown>;
/** One page of the cluster's nodes by hostname; `nextCursor` asks for the next (null on the last). */
export type ClusterDetail = { environment: Environment; nodes: Record<string, unknown>[]; nextCursor: string | null } & Record<string, unknown>;

export interface ClusterQuery {
  at?: string;
  /** nodes per page (server default 100, at most 1000) */
  limit?: number;
  cursor?: string;
}
export type ClusterMetrics = Record<string, unknown>;

export interface ListDeploymentsQuery {
  environment?: Environment;
  status?: DeploymentStatus;
  moduleName?: string;
  limit?: number;
  cursor?: string;
  minPosition?: number;
}

export interface MetricsQuery {
  from?: string;
  to?: string;
  step?: string;
}

/** The JSON in each SSE message's data field. */
export type FeedEventData<E extends { type: string; data: unknown } = DeploymentEvent> = E & {
  streamId: string;
  revision: number;
  position: number;
  occurredAt: string;
};

/** One SSE message as the subscriber delivers it: id is the event's global position. */
export interface FeedEvent<E extends { type: string; data: unknown } = DeploymentEvent> {
  id: number;
  type: E["type"];
  data: FeedEventData<E>;
}

export const TERMINAL_STATUSES: readonly DeploymentStatus[] = ["Succeeded", "Failed", "RolledBack", "Rejected", "Cancelled"];
/** Event types after which a deployment changes no more (the per-deployment feed ends there). */
export const TERMINAL_EVENT_TYPES: readonly string[] = ["DeploymentSucceeded", "DeploymentFailed", "DeploymentRolledBack", "DeploymentCancelled", "DeploymentRejected"];
