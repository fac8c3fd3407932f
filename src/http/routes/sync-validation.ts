import type { OpenAPIHono, RouteConfig, z } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { AppEnv } from "../env.js";
import { validatorQuery } from "./query-params.js";

type Schema = z.ZodType;
/** A required JSON body, the only kind these routes take (see `json` in the route files) */
interface JsonBody {
  required: true;
  content: { "application/json": { schema: Schema } };
}
type SyncRoute = RouteConfig & { request: { query?: Schema; params?: Schema; body?: JsonBody; headers?: never; cookies?: never } };

/** The handler's context: c.req.valid("query"), ("param") and ("json") typed as app.openapi would type them. */
export type SyncContext<R extends SyncRoute> = Context<
  AppEnv,
  string,
  {
    out: {
      query: R["request"]["query"] extends Schema ? z.output<R["request"]["query"]> : never;
      param: R["request"]["params"] extends Schema ? z.output<R["request"]["params"]> : never;
      json: R["request"]["body"] extends JsonBody ? z.output<R["request"]["body"]["content"]["application/json"]["schema"]> : never;
    };
  }
>;

// @hono/zod-openapi's test of a Content-Type against a declared JSON media type, and hono's
// validator's test of the media type it then reads as JSON
const JSON_REQUEST = /^application\/([a-z-.]+\+)?json(;\s*[a-zA-Z0-9-]+=([^;]+))*$/i;
const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json$/i;

/**
 * app.openapi(route, handler) for a hot route whose request is query and path parameters and at
 * most a required JSON body: the same OpenAPI entry, the same route middleware, and the same
 * validation as @hono/zod-openapi's layers (query, then the path, then the body's media type and
 * the body; the app's defaultHook answers a failure), done in the handler's own layer with zod's
 * synchronous parse. Those layers were each an async dispatch, and zValidator's safeParseAsync
 * turns off zod's compiled object parse: a heartbeat's body cost ~10 us that way, ~1.5 us this
 * way. The schemas must have no async refinements.
 */
export function openapiSync<R extends SyncRoute>(app: OpenAPIHono<AppEnv>, route: R, handler: (c: SyncContext<R>) => Response | Promise<Response>): void {
  const { middleware, hide, ...doc } = route;
  if (!hide) app.openAPIRegistry.registerPath(doc);
  const { query, params, body } = route.request;
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
  const withBody = async (c: Context<AppEnv>, schema: Schema): Promise<Response | undefined> => {
    const contentType = c.req.header("content-type");
    if (contentType ? !JSON_REQUEST.test(contentType) : (await c.req.arrayBuffer()).byteLength > 0) {
      throw new HTTPException(415, { message: "Unsupported Media Type" });
    }
    let value: unknown = {};
    if (contentType && JSON_MEDIA_TYPE.test(contentType.split(";")[0]!.trim())) {
      try {
        value = await c.req.json();
      } catch {
        throw new HTTPException(400, { message: "Malformed JSON in request body" });
      }
    }
    return check(app, c, "json", schema, value);
  };
  // validation runs in the handler's own layer: a middleware layer of its own was one more async
  // dispatch per request
  const schema = body?.content["application/json"].schema;
  const validated = schema
    ? async (c: Context<AppEnv>) => refusal(c) ?? (await withBody(c, schema)) ?? handler(c as SyncContext<R>)
    : (c: Context<AppEnv>) => refusal(c) ?? handler(c as SyncContext<R>);
  const before = middleware === undefined ? [] : Array.isArray(middleware) ? middleware : [middleware];
  app.on([route.method.toUpperCase()], [route.path.replaceAll(/\/{(.+?)}/g, "/:$1")], ...(before as MiddlewareHandler<AppEnv>[]), validated as unknown as MiddlewareHandler<AppEnv>);
}

/** zValidator's outcome for one target: the hook's answer, a 400 of the result, or the data kept for c.req.valid */
function check(app: OpenAPIHono<AppEnv>, c: Context<AppEnv>, target: "query" | "param" | "json", schema: Schema, value: unknown): Response | undefined {
  const result = schema.safeParse(value);
  const hooked = app.defaultHook?.({ data: value, ...result, target } as never, c as never) as unknown;
  // zValidator awaits the hook; this app's (src/http/app.ts) answers at once, and must keep doing so
  if (hooked instanceof Promise) throw new Error("openapiSync needs a synchronous defaultHook");
  if (hooked instanceof Response) return hooked;
  if (typeof hooked === "object" && hooked !== null && "response" in hooked) return (hooked as { response: Response }).response;
  if (!result.success) return c.json(result, 400);
  c.req.addValidatedData(target, result.data as object);
  return undefined;
}
