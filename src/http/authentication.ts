import type { MiddlewareHandler } from 'hono'
import type { Context } from 'hono'
import type { CredentialCache } from '../auth/credential-cache.js'
import type { Operator } from '../auth/operator-store.js'
import { requireCapabilities, type Actor } from '../commands/actor.js'
import type { Sql } from '../db/database.js'
import { clientAddress } from './client-address.js'
import { HttpProblem } from './problem.js'

export type AppEnv = { Variables: { actor: Actor } }

/** The operator behind a request (API token or console session), with where the request came from. */
export function actorFor(operator: Operator, c: Context): Actor {
  return {
    operatorId: operator.id,
    email: operator.email,
    name: operator.name,
    capabilities: operator.capabilities,
    isBreakGlass: operator.isBreakGlass,
    ...clientAddress(c),
  }
}

const unauthorized = (detail: string) =>
  new HttpProblem(401, detail, {}, { 'WWW-Authenticate': 'Bearer realm="runbook-control-plane"' })

/** The bearer token a request carries, or null. */
export function bearerTokenOf(c: Context): string | null {
  const header = c.req.header('authorization')
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null
  return match ? match[1]! : null
}

/** Bearer token → the operator behind it (through this process's credential cache), as the request's actor. */
export function bearerAuthentication(sql: Sql, credentials: CredentialCache): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const token = bearerTokenOf(c)
    if (!token) throw unauthorized('a bearer token is required (POST /api/auth/tokens)')
    const operator = await credentials.resolveToken(sql, token)
    if (!operator) throw unauthorized('the bearer token is unknown or expired')
    c.set('actor', actorFor(operator, c))
    await next()
  }
}

/** Server-side capability check for a route (SPEC §6): 403 and nothing changes. */
export function requireCapability(...needed: string[]): MiddlewareHandler<AppEnv> {
  // Not async: a refusal is thrown before `next`, and Hono answers it through the error handler alike.
  return (c, next) => {
    requireCapabilities(c.get('actor'), needed)
    return next()
  }
}
