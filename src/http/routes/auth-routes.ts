import { Hono } from 'hono'
import { z } from 'zod'
import { authenticate, issueToken } from '../../auth/operator-store.js'
import { checkAndRecordLoginAttempt } from '../../auth/login-rate-limit.js'
import { recordLoginAttempt } from '../../commands/record-login.js'
import type { Sql } from '../../db/database.js'
import type { EventLog } from '../../store/event-log.js'
import type { AppEnv } from '../authentication.js'
import { clientAddress, rateLimitAddress } from '../client-address.js'
import { HttpProblem } from '../problem.js'
import { readJsonBody } from '../request-body.js'

const credentialsSchema = z.object({
  email: z.string().min(1, 'is required').max(320),
  password: z.string().min(1, 'is required').max(1024),
})

/** POST /api/auth/tokens: rate-limited like the console login (SPEC §6), every attempt audited. */
export function authRoutes(deps: { sql: Sql; log: EventLog; tokenTtlSeconds: number }) {
  return new Hono<AppEnv>().post('/tokens', async (c) => {
    const { email, password } = await readJsonBody(c, credentialsSchema)
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
}
