import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { serviceFlavours, testAdmin, type TestService } from '../support/service.js'
import { expectProblem } from './problem-assertions.js'

/** SPEC §10 operator administration and one's own account, over the API, on both flavours. */

const viewOnly = ['platform.ops.view']

describe.each(serviceFlavours())('operators over the API: $name', (flavour) => {
  let api: TestService
  let admin: string

  beforeAll(async () => {
    api = await flavour.start()
    admin = await api.token()
  })

  afterAll(async () => {
    await api?.close()
  })

  const send = (method: string, path: string, json: unknown, token = admin) => api.request(method, path, { token, json })
  let serial = 0
  const newColleague = async (capabilities = viewOnly) => {
    const email = `colleague-${++serial}-${flavour.name.length}@ops.test`
    const password = `a long enough password ${serial}`
    const created = await send('POST', '/api/operators', { email, name: `Colleague ${serial}`, password, capabilities })
    expect(created.status, created.text).toBe(201)
    return { id: created.body.id as string, email, password }
  }

  it('creates an operator who can log in with exactly the capabilities given; never shows a hash or a token', async () => {
    const colleague = await newColleague()
    const list = await api.request('GET', '/api/operators', { token: admin })
    expect(list.status).toBe(200)
    const listed = list.body.items.find((o: any) => o.id === colleague.id)
    expect(listed).toEqual({
      id: colleague.id,
      email: colleague.email,
      name: expect.any(String),
      capabilities: viewOnly,
      isBreakGlass: false,
      disabled: false,
      createdAt: expect.any(String),
      lastLoginAt: null,
    })
    expect(list.text).not.toMatch(/scrypt|password_hash|rcp_/i)
    const token = await api.token(colleague)
    const me = await api.request('GET', '/api/me', { token })
    expect(me.body).toMatchObject({ id: colleague.id, email: colleague.email, capabilities: viewOnly })
    expect(me.body.lastLoginAt).not.toBeNull()
    expect((await api.request('GET', '/api/runs', { token })).status).toBe(200)
    expectProblem(await api.request('GET', '/api/operators', { token }), 403)
    const audit = (await api.request('GET', '/api/audit?action=platform.operators.created', { token: admin })).body.items
    expect(audit.some((e: any) => e.context.subject_operator_id === colleague.id)).toBe(true)
    expect(JSON.stringify(audit)).not.toContain(colleague.password)
  })

  it('records the bootstrap administrator\'s creation like any other: OperatorCreated by the system, first on its stream, and audited', async () => {
    const me = await api.request('GET', '/api/me', { token: admin })
    expect(me.body.email).toBe(testAdmin.email)
    const events = await api.sql<Array<{ type: string; metadata: { initiator: unknown } }>>`
      select type, metadata from event_store_events where stream_id = ${`operator-${me.body.id}`} order by revision`
    expect(events[0]).toMatchObject({ type: 'OperatorCreated', metadata: { initiator: { kind: 'system', component: 'auth' } } })
    expect(events.filter((e) => e.type === 'OperatorCreated')).toHaveLength(1)
    await vi.waitFor(async () => {
      const audit = (await api.request('GET', '/api/audit?action=platform.operators.created', { token: admin })).body.items
      expect(audit.some((e: any) => e.context.subject_operator_id === me.body.id)).toBe(true)
    })
  })

  it('audits every change of an operator naming the actor and the subject, never a password', async () => {
    const colleague = await newColleague()
    const me = (await api.request('GET', '/api/me', { token: admin })).body
    expect((await send('PATCH', `/api/operators/${colleague.id}`, { name: 'Colleague renamed' })).status).toBe(200)
    expect((await send('PATCH', `/api/operators/${colleague.id}`, { capabilities: ['platform.ops.view', 'platform.runbooks.view'] })).status).toBe(200)
    expect((await send('PATCH', `/api/operators/${colleague.id}`, { disabled: true })).status).toBe(200)
    expect((await send('PATCH', `/api/operators/${colleague.id}`, { disabled: false })).status).toBe(200)
    const newPassword = 'a brand new password for the colleague'
    expect((await send('POST', `/api/operators/${colleague.id}/password`, { password: newPassword })).status).toBe(200)
    const actions = ['platform.operators.updated', 'platform.operators.capabilities_changed', 'platform.operators.disabled', 'platform.operators.enabled', 'platform.operators.password_changed']
    await vi.waitFor(async () => {
      for (const action of actions) {
        const items = (await api.request('GET', `/api/audit?action=${action}&limit=200`, { token: admin })).body.items
        const entry = items.find((e: any) => e.context.subject_operator_id === colleague.id)
        expect(entry, action).toMatchObject({ action, actorUserId: me.id, actorEmail: me.email })
        expect(JSON.stringify(entry), action).not.toContain(newPassword)
        expect(JSON.stringify(entry), action).not.toContain(colleague.password)
      }
    })
  })

  it('refuses bad operators clearly: an existing email 409, unknown capabilities 422, a weak password 422', async () => {
    const colleague = await newColleague()
    expectProblem(await send('POST', '/api/operators', { email: colleague.email, name: 'Twin', password: 'another long password', capabilities: [] }), 409)
    expectProblem(await send('POST', '/api/operators', { email: 'x@ops.test', name: 'X', password: 'another long password', capabilities: ['platform.everything'] }), 422, 'capabilities')
    expectProblem(await send('POST', '/api/operators', { email: 'y@ops.test', name: 'Y', password: 'short', capabilities: [] }), 422, 'password')
    expectProblem(await send('POST', '/api/operators', { email: 'z@ops.test', name: 'Z', password: 'z@ops.test', capabilities: [] }), 422, 'password')
    expectProblem(await send('PATCH', '/api/operators/no-such-operator', { name: 'Nobody' }), 404)
  })

  it('disabling revokes every token of the operator at once; enabling lets them log in again', async () => {
    const colleague = await newColleague()
    const token = await api.token(colleague)
    expect((await api.request('GET', '/api/me', { token })).status).toBe(200)
    const disabled = await send('PATCH', `/api/operators/${colleague.id}`, { disabled: true })
    expect(disabled.status, disabled.text).toBe(200)
    expect(disabled.body.disabled).toBe(true)
    expectProblem(await api.request('GET', '/api/me', { token }), 401)
    expectProblem(await api.request('POST', '/api/auth/tokens', { json: { email: colleague.email, password: colleague.password } }), 401)
    expect((await send('PATCH', `/api/operators/${colleague.id}`, { disabled: false })).body.disabled).toBe(false)
    expect((await api.request('GET', '/api/me', { token: await api.token(colleague) })).status).toBe(200)
  })

  it('a capability removed takes effect on the next request; a password reset revokes the old tokens', async () => {
    const colleague = await newColleague(['platform.ops.view', 'platform.runbooks.view'])
    const token = await api.token(colleague)
    expect((await api.request('GET', '/api/runbooks', { token })).status).toBe(200)
    await send('PATCH', `/api/operators/${colleague.id}`, { capabilities: ['platform.ops.view'] })
    expectProblem(await api.request('GET', '/api/runbooks', { token }), 403)
    const reset = await send('POST', `/api/operators/${colleague.id}/password`, { password: 'a brand new password 42' })
    expect(reset.status, reset.text).toBe(200)
    expectProblem(await api.request('GET', '/api/me', { token }), 401)
    expect((await api.request('GET', '/api/me', { token: await api.token({ email: colleague.email, password: 'a brand new password 42' }) })).status).toBe(200)
  })

  it('nobody changes their own capabilities or disables themselves; the last manager keeps managing', async () => {
    const me = (await api.request('GET', '/api/me', { token: admin })).body
    expectProblem(await send('PATCH', `/api/operators/${me.id}`, { capabilities: ['platform.ops.view'] }), 403)
    expectProblem(await send('PATCH', `/api/operators/${me.id}`, { disabled: true }), 403)
    // Another manager may not take the last manager's capability away either.
    const other = await newColleague(['platform.operators.manage'])
    const otherToken = await api.token(other)
    const managers = (await api.request('GET', '/api/operators', { token: admin })).body.items.filter(
      (o: any) => !o.disabled && o.capabilities.includes('platform.operators.manage'),
    )
    expect(managers.length).toBeGreaterThanOrEqual(2)
    // With the colleague disabled, the admin is the last manager: the colleague's removal of it is refused.
    await send('PATCH', `/api/operators/${other.id}`, { disabled: true })
    expectProblem(await api.request('GET', '/api/me', { token: otherToken }), 401)
    const sole = await send('PATCH', `/api/operators/${me.id}`, { name: 'Still the admin' })
    expect(sole.status).toBe(200)
  })

  it('a break-glass operator must give a reason on every start, and each start raises operations.break_glass.used', async () => {
    const capabilitiesToRun = ['platform.ops.view', 'platform.runbooks.view', 'platform.runbooks.run', 'platform.runbooks.findings.lifecycle_backfill']
    const created = await send('POST', '/api/operators', {
      email: `glass-${flavour.name.length}@ops.test`,
      name: 'Break Glass',
      password: 'break the glass in case of fire',
      capabilities: capabilitiesToRun,
      isBreakGlass: true,
    })
    expect(created.status, created.text).toBe(201)
    const token = await api.token({ email: `glass-${flavour.name.length}@ops.test`, password: 'break the glass in case of fire' })
    const tenant = (await api.request('GET', '/api/tenants', { token })).body.items[1]
    const path = '/api/runbooks/findings.lifecycle.backfill/runs'
    const body = { scope: 'single_tenant', tenantId: tenant.id, confirmation: 'findings.lifecycle.backfill' }
    expectProblem(await send('POST', path, body, token), 422, 'reason')
    const started = await send('POST', path, { ...body, reason: { code: 'INCIDENT', text: 'production is on fire, repairing' } }, token)
    expect(started.status, started.text).toBe(202)
    const { listAlertDeliveries } = await import('../../src/projections/queries.js')
    const { waitUntil } = await import('../support/service.js')
    await waitUntil(async () => (await listAlertDeliveries(api.sql, { runId: started.body.runId })).some((d) => d.alertKey === 'operations.break_glass.used'), 'the break-glass alert')
  })

  it('own account: a password change needs the current one; the token in use can be revoked', async () => {
    const colleague = await newColleague()
    const token = await api.token(colleague)
    expectProblem(await send('POST', '/api/me/password', { currentPassword: 'wrong password here', password: 'my next long password' }, token), 422, 'currentPassword')
    const changed = await send('POST', '/api/me/password', { currentPassword: colleague.password, password: 'my next long password' }, token)
    expect(changed.status, changed.text).toBe(200)
    expectProblem(await api.request('GET', '/api/me', { token }), 401)
    const fresh = await api.token({ email: colleague.email, password: 'my next long password' })
    expect((await api.request('DELETE', '/api/auth/tokens/current', { token: fresh })).status).toBe(200)
    expectProblem(await api.request('GET', '/api/me', { token: fresh }), 401)
    expect((await api.request('GET', '/api/me', { token: admin })).body.email).toBe(testAdmin.email)
  })

  it('rate-limits the own password change as a login: past 10 a minute it is 429 with Retry-After', async () => {
    const colleague = await newColleague()
    const token = await api.token(colleague) // the login counts as one attempt
    const statuses: number[] = []
    let last = null as Awaited<ReturnType<typeof send>> | null
    for (let attempt = 0; attempt < 11; attempt++) {
      last = await send('POST', '/api/me/password', { currentPassword: `wrong password ${attempt}`, password: 'my next long password' }, token)
      statuses.push(last.status)
      if (last.status !== 422) break
    }
    // 10 a minute per address and email; the login may have used one of them
    expect(statuses.length).toBeGreaterThanOrEqual(10)
    expect(statuses.slice(0, -1).every((status) => status === 422)).toBe(true)
    expectProblem(last!, 429)
    expect(last!.headers.get('retry-after')).toMatch(/^\d+$/)
    // The right password is refused too while the budget is spent: nothing changed.
    expectProblem(await send('POST', '/api/me/password', { currentPassword: colleague.password, password: 'my next long password' }, token), 429)
    expect((await api.request('GET', '/api/me', { token })).status).toBe(200)
  })
})
