import type { OpenAPIHono } from '@hono/zod-openapi'
import type { Context, MiddlewareHandler } from 'hono'
import type { z } from 'zod'
import { isUnsafeText } from '../../events/safe-text.js'
import { requireCapability, type AppEnv } from '../authentication.js'
import { HttpProblem } from '../problem.js'
import { readJsonBody, readQuery } from '../request-body.js'
import type { ApiRoute } from './api-route.js'

/** The request as the route's own schemas read it: the schemas in the document are the ones that validate. */
export interface RouteInput<Body extends z.ZodObject | undefined, Query extends z.ZodObject | undefined> {
  /** The JSON body (readJsonBody: 400 malformed, 415 not JSON, 422 invalid values). */
  body(): Promise<Body extends z.ZodType ? z.output<Body> : never>
  /** The query parameters (readQuery: 400 naming the parameter). */
  query(): Query extends z.ZodType ? z.output<Query> : never
}

export type ApiRouteHandler<Body extends z.ZodObject | undefined, Query extends z.ZodObject | undefined> = (
  c: Context<AppEnv>,
  input: RouteInput<Body, Query>,
) => Response | Promise<Response>

/**
 * Registers `route` in the router's OpenAPI registry and serves it: capability check first, then the
 * handler, which reads the request through `input`.
 *
 * Not `OpenAPIHono.openapi()`: that validates with @hono/zod-validator, whose rules differ from this API's
 * (it refuses JSON sent without a JSON content type with 415, answers a JSON syntax error outside
 * problem+json, and has no 400/422 split). Documenting here and validating in readJsonBody/readQuery keeps
 * the API's answers as they are.
 */
export function serveRoute<Body extends z.ZodObject | undefined, Query extends z.ZodObject | undefined>(
  app: OpenAPIHono<AppEnv>,
  route: ApiRoute<Body, Query>,
  handler: ApiRouteHandler<Body, Query>,
): void {
  app.openAPIRegistry.registerPath(route.config)
  // Before anything of the request is read: an operator lacking a capability gets 403 whatever they send.
  const guards: MiddlewareHandler<AppEnv>[] = route.capabilities.length > 0 ? [requireCapability(...route.capabilities)] : []
  if (route.params) guards.push(pathNamesSomething(route.params))
  const serve = (c: Context<AppEnv>) => handler(c, routeInput(c, route))
  app.on([route.config.method.toUpperCase()], [route.routingPath], ...guards, serve)
}

function routeInput<Body extends z.ZodObject | undefined, Query extends z.ZodObject | undefined>(
  c: Context<AppEnv>,
  route: ApiRoute<Body, Query>,
): RouteInput<Body, Query> {
  return {
    body: () => readJsonBody(c, declared(route.body, 'body', route)),
    query: () => readQuery(c, declared(route.query, 'query', route)),
  } as RouteInput<Body, Query>
}

function declared<S extends z.ZodType>(schema: S | undefined, part: string, route: ApiRoute): S {
  if (!schema) throw new Error(`${route.config.method.toUpperCase()} ${route.config.path} reads a ${part} it does not declare`)
  return schema
}

/**
 * A path whose parameters the route's schema refuses, or that PostgreSQL could not even compare (a NUL,
 * say), names nothing: 404 before the handler looks anything up (never a database error answered 500).
 */
function pathNamesSomething(schema: z.ZodObject): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const params = c.req.param() as Record<string, string>
    if (Object.values(params).some(isUnsafeText) || !schema.safeParse(params).success) {
      throw new HttpProblem(404, 'nothing is at this path')
    }
    await next()
  }
}
