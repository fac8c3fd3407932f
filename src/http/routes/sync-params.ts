import type { OpenAPIHono, RouteConfig, z } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.js";
import { validatorQuery } from "./query-params.js";

type Schema = z.ZodType;
type ParamsRoute = RouteConfig & { request: { query?: Schema; params?: Schema; body?: never; headers?: never; cookies?: never } };

/** The handler's context: c.req.valid("query") and ("param") typed as app.openapi would type them. */
export type SyncParamsContext<R extends ParamsRoute> = Context<
  AppEnv,
  string,
  {
    out: {
      query: R["request"]["query"] extends Schema ? z.output<R["request"]["query"]> : never;
      param: R["request"]["params"] extends Schema ? z.output<R["request"]["params"]> : never;
    };
  }
>;

/**
 * app.openapi(route, handler) for a hot GET whose request is query and path parameters only: the
 * same OpenAPI entry, the same route middleware, and the same validation (query first, then the
 * path; the app's defaultHook answers a failure) as @hono/zod-openapi's two zValidator layers,
 * done in the handler's own layer with zod's synchronous parse. Those layers were each an async
 * dispatch with safeParseAsync, ~5 % of GET /deployments/{id}. The schemas must have no async
 * refinements.
 */
export function openapiSyncParams<R extends ParamsRoute>(
  app: OpenAPIHono<AppEnv>,
  route: R,
  handler: (c: SyncParamsContext<R>) => Response | Promise<Response>,
): void {
  const { middleware, hide, ...doc } = route;
  if (!hide) app.openAPIRegistry.registerPath(doc);
  const { query, params } = route.request;
  const refusal = (c: Context<AppEnv>): Response | undefined => {
    // what hono's validator reads for each target
    if (query) {
      const value = validatorQuery(c.req.url, () => c.req.queries());
      const refused = check(app, c, "query", query, value);
      if (refused) return refused;
    }
    if (params) {
      const refused = check(app, c, "param", params, c.req.param());
      if (refused) return refused;
    }
    return undefined;
  };
  // validation runs in the handler's own layer: a middleware layer of its own was one more async
  // dispatch per request
  const validated = (c: Context<AppEnv>) => refusal(c) ?? handler(c as SyncParamsContext<R>);
  const before = middleware === undefined ? [] : Array.isArray(middleware) ? middleware : [middleware];
  app.on([route.method.toUpperCase()], [route.path.replaceAll(/\/{(.+?)}/g, "/:$1")], ...(before as MiddlewareHandler<AppEnv>[]), validated as unknown as MiddlewareHandler<AppEnv>);
}

/** zValidator's outcome for one target: the hook's answer, a 400 of the result, or the data kept for c.req.valid */
function check(app: OpenAPIHono<AppEnv>, c: Context<AppEnv>, target: "query" | "param", schema: Schema, value: unknown): Response | undefined {
  const result = schema.safeParse(value);
  const hooked = app.defaultHook?.({ data: value, ...result, target } as never, c as never) as unknown;
  // zValidator awaits the hook; this app's (src/http/app.ts) answers at once, and must keep doing so
  if (hooked instanceof Promise) throw new Error("openapiSyncParams needs a synchronous defaultHook");
  if (hooked instanceof Response) return hooked;
  if (typeof hooked === "object" && hooked !== null && "response" in hooked) return (hooked as { response: Response }).response;
  if (!result.success) return c.json(result, 400);
  c.req.addValidatedData(target, result.data as object);
  return undefined;
}
