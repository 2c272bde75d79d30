import { createRoute, type RouteConfig } from '@hono/zod-openapi'
import type { z } from 'zod'
import { MAX_BODY_BYTES, takesNoBody } from '../request-body.js'
import { forbiddenProblemSchema, problemSchema, rateLimitedProblemSchema } from '../schemas/problem-schemas.js'

/**
 * One /api route described once: the capabilities it needs, the zod schemas its handler reads the request
 * with, its answer and its error answers. `apiRoute` turns that into the OpenAPI route definition;
 * `serveRoute` (serve-route.ts) registers it and serves it with the very same schema objects.
 */

/** The security scheme of authenticated routes, as named in the document's components. */
export const BEARER_SCHEME = 'bearerAuth'

type ProblemStatus = 400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 423 | 429

interface ProblemAnswer {
  description: string
  schema: z.ZodType
}

type ResponseHeaders = Record<string, { description: string; schema: { type: 'string' | 'integer' } }>

export interface ApiRouteDefinition<Body extends z.ZodObject | undefined, Query extends z.ZodObject | undefined> {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete'
  /** OpenAPI style (`/runs/{id}`), relative to the router that serves the route. */
  path: string
  summary: string
  description?: string
  tags: string[]
  /**
   * The capabilities checked before anything of the request is read; the route then needs a bearer
   * token. `public` for the routes that answer without one (token issue, the document itself).
   */
  access: { capabilities: readonly string[] } | 'public'
  params?: z.ZodObject
  query?: Query
  /** A JSON object body, read as `readJsonBody` reads it (400 malformed, 415, 422 invalid). */
  body?: Body
  answer: {
    status: 200 | 201 | 202
    description: string
    schema: z.ZodType
    /** Default `application/json`. */
    mediaType?: string
    /** Other representations of the same answer, chosen by the request's `Accept` (media type → schema). */
    alternatives?: Record<string, z.ZodType>
    headers?: ResponseHeaders
  }
  /**
   * Error answers particular to this route (a meaning, or a meaning and a problem schema with the route's
   * extension members); those every route of its kind has are added (see `apiRoute`).
   */
  problems?: Partial<Record<ProblemStatus, string | ProblemAnswer>>
}

type Schema = z.ZodObject | undefined

export interface ApiRoute<Body extends Schema = Schema, Query extends Schema = Schema> {
  /** What the OpenAPI registry takes. */
  config: RouteConfig
  /** Hono style (`/runs/:id`). */
  routingPath: string
  capabilities: readonly string[]
  body: Body
  query: Query
  /** The path's parameters; a path they refuse names nothing (404). */
  params: Schema
}

// What the error answers every route of a kind has mean on this API (SPEC §7).
const problemMeanings = {
  400: 'Malformed request: the body is not a JSON object or a field has the wrong JSON type.',
  401: 'No bearer token, or one that is unknown or expired.',
  403: 'The operator lacks a capability the route needs; nothing was read or changed.',
  413: `The body exceeds ${MAX_BODY_BYTES / 1024} KiB.`,
  415: 'The body is form data, multipart or XML: send JSON.',
  422: 'Well-formed values that break a rule; `errors` names each field.',
} satisfies Partial<Record<ProblemStatus, string>>

const problemSchemas: Partial<Record<ProblemStatus, z.ZodType>> = {
  403: forbiddenProblemSchema,
  429: rateLimitedProblemSchema,
}

const retryAfterHeader: ResponseHeaders = {
  'Retry-After': { description: 'Seconds to wait before the next attempt.', schema: { type: 'integer' } },
}
// Only bearer authentication challenges; a wrong password at POST /api/auth/tokens does not.
const bearerChallengeHeader: ResponseHeaders = {
  'WWW-Authenticate': { description: 'The bearer challenge.', schema: { type: 'string' } },
}

const BAD_QUERY = 'A query parameter is invalid; `errors` names it.'

// Lenient on purpose, like readJsonBody: the document must not promise a refusal the API does not make.
const JSON_BODY_NOTE =
  'A JSON object. Sent without a content type (or as text/plain) it is read as JSON all the same; ' +
  'form data, multipart and XML are refused with 415.'

export function apiRoute<Body extends z.ZodObject | undefined = undefined, Query extends z.ZodObject | undefined = undefined>(
  definition: ApiRouteDefinition<Body, Query>,
): ApiRoute<Body, Query> {
  const { access, answer, body, query, params } = definition
  const authenticated = access !== 'public'
  const problems: Partial<Record<ProblemStatus, string | ProblemAnswer>> = {
    ...(query ? { 400: BAD_QUERY } : {}),
    ...(body ? { 400: problemMeanings[400] } : {}),
    ...(authenticated ? { 401: problemMeanings[401], 403: problemMeanings[403] } : {}),
    ...(body ? { 413: problemMeanings[413], 415: problemMeanings[415], 422: problemMeanings[422] } : {}),
    ...definition.problems,
  }
  const capabilities = authenticated ? access.capabilities : []
  const config = createRoute({
    method: definition.method,
    path: definition.path,
    summary: definition.summary,
    ...(definition.description ? { description: definition.description } : {}),
    tags: definition.tags,
    ...(authenticated ? { security: [{ [BEARER_SCHEME]: [] }], 'x-required-capabilities': [...capabilities] } : {}),
    request: {
      ...(params ? { params } : {}),
      ...(query ? { query } : {}),
      ...(body ? { body: { required: !takesNoBody(body), description: JSON_BODY_NOTE, content: { 'application/json': { schema: body } } } } : {}),
    },
    responses: {
      [answer.status]: {
        description: answer.description,
        ...(answer.headers ? { headers: answer.headers } : {}),
        content: {
          [answer.mediaType ?? 'application/json']: { schema: answer.schema },
          ...Object.fromEntries(Object.entries(answer.alternatives ?? {}).map(([mediaType, schema]) => [mediaType, { schema }])),
        },
      },
      ...Object.fromEntries(
        (Object.entries(problems) as Array<[`${ProblemStatus}`, string | ProblemAnswer]>).map(([status, problem]) => {
          const code = Number(status) as ProblemStatus
          const { description, schema } =
            typeof problem === 'string' ? { description: problem, schema: problemSchemas[code] ?? problemSchema } : problem
          const headers = code === 429 ? retryAfterHeader : code === 401 && authenticated ? bearerChallengeHeader : undefined
          return [
            status,
            { description, ...(headers ? { headers } : {}), content: { 'application/problem+json': { schema } } },
          ]
        }),
      ),
    },
  })
  return { config, routingPath: config.getRoutingPath(), capabilities, body: body as Body, query: query as Query, params }
}
