import type { Problem } from "./types.js";

/** A non-2xx answer; `problem` is the server's problem+json body (or one made up from the status). */
export class ApiError extends Error {
  readonly status: number;
  readonly title: string;
  readonly detail: string | undefined;
  readonly errors: Problem["errors"];
  /** seconds from Retry-After, when the server sent one (429, 503) */
  readonly retryAfterSeconds: number | undefined;

  constructor(readonly problem: Problem, retryAfterSeconds?: number) {
    const where = problem.errors?.length ? `: ${problem.errors.map((e) => `${e.path} ${e.message}`).join("; ")}` : "";
    super(`${problem.status} ${problem.title}${problem.detail ? ` - ${problem.detail}` : ""}${where}`);
    this.name = "ApiError";
    this.status = problem.status;
    this.title = problem.title;
    this.detail = problem.detail;
    this.errors = problem.errors;
    this.retryAfterSeconds = retryAfterSeconds;
  }

  /** Reads the body of a failed response into an ApiError, whatever its content type. */
  static async from(res: Response): Promise<ApiError> {
    const text = await res.text().catch(() => "");
    let problem: Problem = { type: "about:blank", title: res.statusText || `HTTP ${res.status}`, status: res.status, detail: text.slice(0, 500) || undefined };
    try {
      const body = JSON.parse(text) as Partial<Problem>;
      if (body && typeof body === "object" && typeof body.title === "string") problem = { ...problem, ...body, status: res.status } as Problem;
    } catch {
      // not JSON: keep the text as the detail
    }
    const retry = Number(res.headers.get("retry-after"));
    return new ApiError(problem, Number.isFinite(retry) && res.headers.has("retry-after") ? retry : undefined);
  }
}
