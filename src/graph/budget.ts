import { invalid } from "../commands/errors.js";

/** what one graph query may cost at most (docs/graph.md: bounded work, 400 past it) */
export const LIMITS = {
  maxDepth: 6,
  neighborsDepth: 5,
  maxResults: 10_000,
  /** vertices a traversal may visit before it is refused */
  maxVisited: 200_000,
  timeBudgetMs: 2_000,
  exportEdges: 200_000,
} as const;

/**
 * A query's allowance of time and visited vertices. It measures elapsed computing time (a
 * monotonic timer, not the domain clock: this is about what a request costs the server), and
 * past either bound it throws a 400 naming `field`, the input that asked for too much.
 */
export class Budget {
  private readonly deadline: number;
  private visited = 0;

  constructor(
    private readonly field: string,
    timeMs: number = LIMITS.timeBudgetMs,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.deadline = this.now() + timeMs;
  }

  /** called once per vertex expanded */
  visit(n = 1): void {
    this.visited += n;
    if (this.visited > LIMITS.maxVisited) this.refuse(`visits more than ${LIMITS.maxVisited} vertices`);
    if (this.now() > this.deadline) this.refuse("ran past its time budget");
  }

  refuse(why: string): never {
    throw invalid(`the query ${why}: narrow it (fewer edge types, less depth, a more selective start)`, { errors: [{ path: this.field, message: why }] });
  }
}
