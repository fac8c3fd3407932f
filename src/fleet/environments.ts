import { createHash } from "node:crypto";
import { EnvironmentSchema, type Environment } from "../strategies/settings.js";

export const ENVIRONMENTS: readonly Environment[] = EnvironmentSchema.options;

/** "qa", "QA" and "Qa" all name the QA cluster; null for anything else. */
export function matchEnvironment(raw: string): Environment | null {
  const lower = raw.toLowerCase();
  return ENVIRONMENTS.find((e) => e.toLowerCase() === lower) ?? null;
}

/**
 * A node's id follows from where it runs and its hostname, so registering the same host again
 * lands on the same stream with no lookup table (and no race between two registrations).
 */
export function nodeIdFor(environment: Environment, hostname: string): string {
  const hash = createHash("sha256").update(`${environment}\n${hostname.toLowerCase()}`).digest("hex");
  return `${environment.toLowerCase()}-${hash.slice(0, 16)}`;
}

export function colorOf(labels: Record<string, string>): "blue" | "green" | undefined {
  const c = labels.color;
  return c === "blue" || c === "green" ? c : undefined;
}
