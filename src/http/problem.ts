import { isDependencyUnavailable, UNAVAILABLE_RETRY_AFTER_SECONDS } from './dependency-unavailable.js'
import type { Context } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { ZodError } from 'zod'
import {
  ActiveRunExistsError,
  PlanDriftedError,
  DomainError,
  ConflictError,
  ForbiddenError,
  HaltedError,
  InvalidTransitionError,
  NotFoundError,
  ValidationError,
  type FieldProblem,
} from '../commands/errors.js'
import { InvalidCursorError } from '../projections/queries.js'
import { setAllow } from './allowed-methods.js'

/** RFC 9457 problem details; `errors` lists the offending fields of a validation failure. */
export interface Problem {
  type: string
  title: string
  status: number
  detail: string
  instance?: string
  errors?: FieldProblem[]
  [extension: string]: unknown
}

const titles: Record<number, string> = {
  400: 'Malformed request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not found',
  405: 'Method not allowed',
  409: 'Conflict',
  413: 'Payload too large',
  423: 'Locked',
  415: 'Unsupported media type',
  422: 'Invalid values',
  429: 'Too many requests',
  500: 'Internal error',
  503: 'Service unavailable',
}

/** The title of a status's problem document (and of the console's error page for it). */
export function problemTitle(status: number): string {
  return titles[status] ?? 'Error'
}

/** A request error the routes throw; mapped to problem+json by `problemResponse`. */
export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly extensions: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(detail)
  }
}

export function problemJson(c: Context, status: number, detail: string, extensions: Record<string, unknown> = {}) {
  const body: Problem = {
    type: `https://runbooks.dev/problems/${status}`,
    title: problemTitle(status),
    status,
    detail,
    instance: c.req.path,
    ...extensions,
  }
  return c.body(JSON.stringify(body), status as ContentfulStatusCode, { 'content-type': 'application/problem+json' })
}

/** 405: the path is served, but not with this method; `Allow` lists the methods it is served with. */
export function methodNotAllowed(c: Context, allowed: readonly string[]) {
  setAllow(c, allowed)
  return problemJson(c, 405, `${c.req.method} is not served on ${c.req.path}; it is served with ${allowed.join(', ')}`)
}

export function fieldsOf(error: ZodError): FieldProblem[] {
  return error.issues.flatMap((issue) =>
    // A field the API does not know is named itself, not the object that holds it.
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({ field: [...issue.path, key].join('.'), message: 'is not a field of this request' }))
      : [{ field: issue.path.join('.') || '(body)', message: issue.message }],
  )
}

/** The one place where errors become HTTP statuses. Anything unexpected is logged and answered 500 without detail. */
export function problemResponse(c: Context, error: unknown, logError: (error: unknown) => void) {
  if (error instanceof HttpProblem) {
    for (const [name, value] of Object.entries(error.headers)) c.header(name, value)
    return problemJson(c, error.status, error.detail, error.extensions)
  }
  if (error instanceof ValidationError) return problemJson(c, 422, error.message, { errors: error.fields })
  if (error instanceof ForbiddenError) {
    return problemJson(c, 403, error.message, { missingCapabilities: error.missingCapabilities })
  }
  if (error instanceof NotFoundError) return problemJson(c, 404, error.message)
  if (error instanceof ActiveRunExistsError) return problemJson(c, 409, error.message, { runId: error.runId })
  if (error instanceof PlanDriftedError) return problemJson(c, 409, error.message, { code: error.code, ...error.comparison })
  if (error instanceof InvalidTransitionError) return problemJson(c, 409, error.message, { state: error.state })
  if (error instanceof ConflictError) return problemJson(c, 409, error.message)
  if (error instanceof HaltedError) return problemJson(c, 423, error.message, { code: error.code })
  if (error instanceof InvalidCursorError) {
    return problemJson(c, 400, 'cursor is not one this API issued', { errors: [{ field: 'cursor', message: 'invalid cursor' }] })
  }
  if (error instanceof DomainError) return problemJson(c, 422, error.message)
  if (isDependencyUnavailable(error)) {
    c.header('Retry-After', String(UNAVAILABLE_RETRY_AFTER_SECONDS))
    return problemJson(c, 503, 'the service cannot reach its database, event store or queue right now; the request may not have been carried out (check before repeating a change), retry shortly', {
      retryAfterSeconds: UNAVAILABLE_RETRY_AFTER_SECONDS,
    })
  }
  logError(error)
  return problemJson(c, 500, 'the request could not be completed; it changed nothing it was not able to finish')
}
