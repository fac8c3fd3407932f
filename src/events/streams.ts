/** Stream-name helpers: one place that knows how stream ids are spelled. */
export const streams = {
  deployment: (executionId: string) => `deployment-${executionId}`,
  approval: (executionId: string) => `approval-${executionId}`,
  cluster: (environment: string) => `cluster-${environment}`,
  node: (nodeId: string) => `node-${nodeId}`,
  secret: (name: string) => `secret-${name}`,
  user: (username: string) => `user-${username}`,
  /** the registry's versions of one module */
  module: (name: string) => `module-${name}`,
  /** the trust store: roots, revocations and the per-environment policy */
  trust: () => "trust-store",
  /** one per (actor, Idempotency-Key): keyHash is a SHA-256 of both, so no key text lands in a stream id */
  idempotency: (keyHash: string) => `idempotency-${keyHash}`,
} as const;

export const streamPrefixes = {
  deployment: "deployment-",
  approval: "approval-",
  cluster: "cluster-",
  node: "node-",
  secret: "secret-",
  user: "user-",
  module: "module-",
  idempotency: "idempotency-",
} as const;

/** The aggregate id part of a stream id ("deployment-abc" -> "abc"). */
export function streamKey(streamId: string): string {
  const dash = streamId.indexOf("-");
  return dash < 0 ? streamId : streamId.slice(dash + 1);
}

export function streamCategory(streamId: string): string {
  const dash = streamId.indexOf("-");
  return dash < 0 ? streamId : streamId.slice(0, dash);
}
