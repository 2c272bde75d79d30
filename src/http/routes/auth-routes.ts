import { OpenAPIHono } from '@hono/zod-openapi'
import { issueToken } from '../../auth/operator-store.js'
import type { LoginRefusalMemory } from '../../auth/login-refusal-memory.js'
import { passwordLogin } from '../../auth/password-login.js'
import type { ScryptParams } from '../../auth/password-hash.js'
import type { Sql } from '../../db/database.js'
import type { EventLog } from '../../store/event-log.js'
import type { AppEnv } from '../authentication.js'
import { clientAddress, rateLimitAddress } from '../client-address.js'
import { markCredentialsUnchanged } from '../credentials-unchanged.js'
import { apiRoute } from '../openapi/api-route.js'
import { serveRoute } from '../openapi/serve-route.js'
import { HttpProblem } from '../problem.js'
import { credentialsSchema, tokenSchema } from '../schemas/auth-schemas.js'

const issueTokenRoute = apiRoute({
  method: 'post',
  path: '/tokens',
  summary: 'Exchange an email and password for a bearer token',
  description:
    'Rate-limited like the console login (10 attempts a minute per address and email, 30 per address); a refusal ' +
    'episode is audited once per window. Answers carry `Cache-Control: no-store`. A login from an address that ' +
    'already has its share of logins in flight is 429 at once; when too many logins are being checked at once ' +
    'the answer is 503 with `Retry-After`.',
  tags: ['authentication'],
  access: 'public',
  body: credentialsSchema,
  answer: { status: 201, description: 'A bearer token for the API.', schema: tokenSchema },
  problems: { 401: 'Unknown email or wrong password.', 429: 'Too many login attempts; retry after `Retry-After` seconds.' },
})

/** POST /api/auth/tokens: the shared password login (`passwordLogin`, SPEC §6), every outcome audited. */
export function authRoutes(deps: {
  sql: Sql
  log: EventLog
  tokenTtlSeconds: number
  hashParams?: ScryptParams
  /** Shared with the console login (one per app): see `passwordLogin`. */
  loginRefusals: LoginRefusalMemory
}) {
  const app = new OpenAPIHono<AppEnv>()
  serveRoute(app, issueTokenRoute, async (c, input) => {
    // Every answer of this route, the token above all, must not be kept by a cache (RFC 9111 no-store).
    c.header('Cache-Control', 'no-store')
    const { email, password } = await input.body()
    const { ip, userAgent } = clientAddress(c)
    const result = await passwordLogin(deps, {
      email,
      password,
      ip,
      rateLimitIp: rateLimitAddress(ip),
      userAgent,
      channel: 'api',
      signal: c.req.raw.signal,
    })
    // A refusal changes no credential: the app does not empty or sync the token cache for it.
    if (result.kind !== 'authenticated') markCredentialsUnchanged(c)
    switch (result.kind) {
      case 'rate_limited':
        throw new HttpProblem(
          429,
          `too many login attempts; retry in ${result.retryAfterSeconds} s`,
          { retryAfterSeconds: result.retryAfterSeconds },
          { 'Retry-After': String(result.retryAfterSeconds), 'Cache-Control': 'no-store' },
        )
      case 'busy':
        throw new HttpProblem(
          503,
          `too many logins are being checked right now; retry in ${result.retryAfterSeconds} s`,
          { retryAfterSeconds: result.retryAfterSeconds },
          { 'Retry-After': String(result.retryAfterSeconds), 'Cache-Control': 'no-store' },
        )
      case 'aborted':
        throw new HttpProblem(400, 'the client closed the request before it was answered', {}, { 'Cache-Control': 'no-store' })
      case 'failed':
        throw new HttpProblem(401, 'unknown email or wrong password', {}, { 'Cache-Control': 'no-store' })
      case 'authenticated': {
        const token = await issueToken(deps.sql, result.operator.id, deps.tokenTtlSeconds)
        await result.recordSuccess()
        return c.json({ token, tokenType: 'Bearer', expiresIn: deps.tokenTtlSeconds }, 201, { 'Cache-Control': 'no-store' })
      }
    }
  })
  return app
}
