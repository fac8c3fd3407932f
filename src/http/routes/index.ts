import type { AppDeps } from "../env.js";
import { createApp } from "../app.js";
import { registerApprovalRoutes } from "./approvals.js";
import { registerAgentRoutes } from "./agents.js";
import { registerAuditRoutes } from "./audit.js";
import { registerAuthRoutes } from "./auth.js";
import { registerClusterRoutes } from "./clusters.js";
import { registerDeploymentRoutes } from "./deployments.js";
import { registerGraphRoutes } from "./graph.js";
import { registerModuleRoutes } from "./modules.js";
import { registerTrustRoutes } from "./trust.js";
import { registerJwksRoutes } from "./jwks.js";
import { registerOpsRoutes } from "./ops.js";
import { registerUserRoutes } from "./users.js";
import { registerSecretRoutes } from "./secrets.js";
import { registerUiRoutes } from "../../ui/index.js";

/** The whole HTTP API. Each resource registers its own routes. */
export function buildApp(deps: AppDeps) {
  const app = createApp(deps);
  registerOpsRoutes(app, deps);
  registerAuthRoutes(app, deps);
  registerJwksRoutes(app, deps);
  registerUserRoutes(app, deps);
  registerSecretRoutes(app, deps);
  registerDeploymentRoutes(app, deps);
  registerModuleRoutes(app, deps);
  registerTrustRoutes(app, deps);
  registerApprovalRoutes(app, deps);
  registerAgentRoutes(app, deps);
  registerClusterRoutes(app, deps);
  registerGraphRoutes(app, deps);
  registerAuditRoutes(app, deps);
  registerUiRoutes(app, deps);
  return app;
}
