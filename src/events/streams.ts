/** Stream-name helpers: one place that knows how stream ids are spelled. */
export const streams = {
  deployment: (executionId: string) => `deployment-${executionId}`,
  approval: (executionId: string) => `approval-${executionId}`,
  cluster: (environment: string) => `cluster-${environment}`,
  node: (nodeId: string) => `node-${nodeId}`,
  secret: (name: string) => `secret-${name}`,
  user: (username: string) => `user-${username}`,
} as const;

export const streamPrefixes = {
  deployment: "deployment-",
  approval: "approval-",
  cluster: "cluster-",
  node: "node-",
  secret: "secret-",
  user: "user-",
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
