import type { EventDefinition } from "./define.js";

// Filled by the deployment domain: DeploymentRequested, ApprovalGranted, WaveStarted, ...
export const deploymentEvents = [] as const satisfies readonly EventDefinition[];
