import { OpenAPIHono } from '@hono/zod-openapi'
import { capabilities } from '../../auth/capabilities.js'
import { revokeToken } from '../../auth/operator-store.js'
import { changeOwnPasswordGuarded } from '../../auth/own-password-change.js'
import { rateLimitAddress } from '../client-address.js'
import { HttpProblem } from '../problem.js'
import { createOperator, listOperators, me, setOperatorPassword, updateOperator, type OperatorCommandDeps } from '../../commands/operators.js'
import type { AppEnv } from '../authentication.js'
import { bearerTokenOf } from '../authentication.js'
import { apiRoute } from '../openapi/api-route.js'
import { serveRoute } from '../openapi/serve-route.js'
import {
  changeOwnPasswordBodySchema,
  createOperatorBodySchema,
  operatorIdParamsSchema,
  operatorListSchema,
  operatorSchema,
  setPasswordBodySchema,
  updateOperatorBodySchema,
} from '../schemas/operator-schemas.js'
import { z } from 'zod'

/** SPEC §10: operator administration (`platform.operators.manage`), one's own account, token revocation. */

const manage = { capabilities: [capabilities.operatorsManage] }
const anyOperator = { capabilities: [] }

const listRoute = apiRoute({
  method: 'get',
  path: '/operators',
  summary: 'Operators',
  tags: ['operators'],
  access: manage,
  answer: { status: 200, description: 'Every operator, oldest first.', schema: operatorListSchema },
})

const createRoute = apiRoute({
  method: 'post',
  path: '/operators',
  summary: 'Create an operator',
  tags: ['operators'],
  access: manage,
  body: createOperatorBodySchema,
  answer: { status: 201, description: 'The operator.', schema: operatorSchema },
  problems: { 409: 'An operator with this email exists.' },
})

const updateRoute = apiRoute({
  method: 'patch',
  path: '/operators/{id}',
  summary: 'Change, disable or enable an operator',
  description: 'Disabling revokes every token and console session of the operator at once.',
  tags: ['operators'],
  access: manage,
  params: operatorIdParamsSchema,
  body: updateOperatorBodySchema,
  answer: { status: 200, description: 'The operator.', schema: operatorSchema },
  problems: { 404: 'No operator with this id.', 409: 'The last enabled operator holding platform.operators.manage cannot lose it or be disabled.' },
})

const setPasswordRoute = apiRoute({
  method: 'post',
  path: '/operators/{id}/password',
  summary: "Set an operator's password",
  description: 'Revokes every token and console session of the operator.',
  tags: ['operators'],
  access: manage,
  params: operatorIdParamsSchema,
  body: setPasswordBodySchema,
  answer: { status: 200, description: 'The operator.', schema: operatorSchema },
  problems: { 404: 'No operator with this id.' },
})

const meRoute = apiRoute({
  method: 'get',
  path: '/me',
  summary: 'The operator behind the token',
  tags: ['operators'],
  access: anyOperator,
  answer: { status: 200, description: 'Yourself.', schema: operatorSchema },
})

const changeOwnPasswordRoute = apiRoute({
  method: 'post',
  path: '/me/password',
  summary: 'Change your own password',
  description: 'Every token and console session of yours ends, this one included.',
  tags: ['operators'],
  access: anyOperator,
  body: changeOwnPasswordBodySchema,
  answer: { status: 200, description: 'Changed.', schema: z.object({ changed: z.literal(true) }) },
  problems: { 429: 'Too many password attempts (rate-limited as a login).' },
})

const revokeCurrentTokenRoute = apiRoute({
  method: 'delete',
  path: '/auth/tokens/current',
  summary: 'Revoke the token this request carries',
  tags: ['auth'],
  access: anyOperator,
  answer: { status: 200, description: 'Revoked: the token no longer works.', schema: z.object({ revoked: z.literal(true) }) },
})

export function operatorRoutes(deps: OperatorCommandDeps) {
  const app = new OpenAPIHono<AppEnv>()
  serveRoute(app, listRoute, async (c) => c.json({ items: await listOperators(deps, c.get('actor')) }))
  serveRoute(app, createRoute, async (c, input) => c.json(await createOperator(deps, c.get('actor'), await input.body()), 201))
  serveRoute(app, updateRoute, async (c, input) => c.json(await updateOperator(deps, c.get('actor'), c.req.param('id')!, await input.body())))
  serveRoute(app, setPasswordRoute, async (c, input) => c.json(await setOperatorPassword(deps, c.get('actor'), c.req.param('id')!, await input.body())))
  serveRoute(app, meRoute, async (c) => c.json(await me(deps, c.get('actor'))))
  serveRoute(app, changeOwnPasswordRoute, async (c, input) => {
    const actor = c.get('actor')
    const result = await changeOwnPasswordGuarded(deps, actor, await input.body(), { rateLimitIp: rateLimitAddress(actor.ip), signal: c.req.raw.signal })
    if (result.kind !== 'changed') {
      const retryAfter = String(result.retryAfterSeconds)
      const detail = result.kind === 'rate_limited' ? `too many password attempts; retry in ${retryAfter} s` : 'password hashing is busy; retry shortly'
      throw new HttpProblem(result.kind === 'rate_limited' ? 429 : 503, detail, { retryAfterSeconds: result.retryAfterSeconds }, { 'Retry-After': retryAfter })
    }
    return c.json({ changed: true as const })
  })
  serveRoute(app, revokeCurrentTokenRoute, async (c) => {
    await revokeToken(deps.sql, bearerTokenOf(c)!)
    return c.json({ revoked: true as const })
  })
  return app
}
