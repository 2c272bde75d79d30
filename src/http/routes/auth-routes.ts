import { OpenAPIHono } from '@hono/zod-openapi'
import { authenticate, issueToken } from '../../auth/operator-store.js'
import { checkAndRecordLoginAttempt } from '../../auth/login-rate-limit.js'
import { recordLoginAttempt } from '../../commands/record-login.js'
import type { Sql } from '../../db/database.js'
import type { EventLog } from '../../store/event-log.js'
import type { AppEnv } from '../authentication.js'
import { clientAddress, rateLimitAddress } from '../client-address.js'
import { apiRoute } from '../openapi/api-route.js'
import { serveRoute } from '../openapi/serve-route.js'
import { HttpProblem } from '../problem.js'
import { credentialsSchema, tokenSchema } from '../schemas/auth-schemas.js'

const issueTokenRoute = apiRoute({
  method: 'post',
  path: '/tokens',
  summary: 'Exchange an email and password for a bearer token',
  description: 'Rate-limited like the console login (10 attempts a minute per address and email); every attempt is audited.',
  tags: ['authentication'],
  access: 'public',
  body: credentialsSchema,
  answer: { status: 201, description: 'A bearer token for the API.', schema: tokenSchema },
  problems: { 401: 'Unknown email or wrong password.', 429: 'Too many login attempts; retry after `Retry-After` seconds.' },
})

/** POST /api/auth/tokens: rate-limited like the console login (SPEC §6), every attempt audited. */
export function authRoutes(deps: { sql: Sql; log: EventLog; tokenTtlSeconds: number }) {
  const app = new OpenAPIHono<AppEnv>()
  serveRoute(app, issueTokenRoute, async (c, input) => {
    const { email, password } = await input.body()
    const { ip, userAgent } = clientAddress(c)
    const attempt = { email, ip, userAgent, channel: 'api' as const }
    const decision = await checkAndRecordLoginAttempt(deps.sql, { ip: rateLimitAddress(ip), email })
    if (!decision.allowed) {
      await recordLoginAttempt(deps.log, { ...attempt, outcome: { kind: 'rate_limited', retryAfterSeconds: decision.retryAfterSeconds } })
      throw new HttpProblem(
        429,
        `too many login attempts; retry in ${decision.retryAfterSeconds} s`,
        { retryAfterSeconds: decision.retryAfterSeconds },
        { 'Retry-After': String(decision.retryAfterSeconds) },
      )
    }
    const operator = await authenticate(deps.sql, email, password)
    if (!operator) {
      await recordLoginAttempt(deps.log, { ...attempt, outcome: { kind: 'failed' } })
      throw new HttpProblem(401, 'unknown email or wrong password')
    }
    const token = await issueToken(deps.sql, operator.id, deps.tokenTtlSeconds)
    await recordLoginAttempt(deps.log, { ...attempt, outcome: { kind: 'succeeded', operatorId: operator.id } })
    return c.json({ token, tokenType: 'Bearer', expiresIn: deps.tokenTtlSeconds }, 201)
  })
  return app
}
