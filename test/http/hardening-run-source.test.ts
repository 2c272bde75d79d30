import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serviceFlavours, type TestService } from '../support/service.js'
import { consoleLogin, consoleRequest, createConsoleOperator, type ConsoleSession } from './console/console-client.js'

const runbookKey = 'findings.lifecycle.backfill'
const runbookCapability = 'platform.runbooks.findings.lifecycle_backfill'
const everyCapability = ['platform.ops.view', 'platform.runbooks.view', 'platform.runbooks.run', runbookCapability]

/** Issue 7: `source` is what the server knows — an API client cannot claim the console's `system_ui`. */
describe.each(serviceFlavours())('a run start records the source the server knows: $name', (flavour) => {
  let service: TestService
  let token: string
  let admin: ConsoleSession
  let tenants: Array<{ id: number; name: string }>

  beforeAll(async () => {
    service = await flavour.start()
    token = await service.token()
    admin = await consoleLogin(service, await createConsoleOperator(service, everyCapability))
    tenants = (await service.request('GET', '/api/tenants', { token })).body.items
  })
  afterAll(async () => {
    await service?.close()
  })

  const requested = async (runId: string) => {
    const events = (await service.request('GET', `/api/runs/${runId}/events`, { token })).body.items as Array<any>
    return events.find((e) => e.type === 'RunRequested')!.data
  }

  it('refuses source system_ui through the API with a 422 naming source, and starts nothing', async () => {
    const before = await service.eventCount()
    const response = await service.request('POST', `/api/runbooks/${runbookKey}/runs`, {
      token,
      json: { scope: 'single_tenant', tenantId: tenants[0]!.id, confirmation: runbookKey, source: 'system_ui' },
    })
    expect(response.status, response.text).toBe(422)
    expect(response.headers.get('content-type')).toContain('application/problem+json')
    expect(response.body.errors).toEqual([expect.objectContaining({ field: 'source' })])
    expect(await service.eventCount()).toBe(before)
  })

  it('records what an API client states otherwise (cli), and api by default', async () => {
    const cli = await service.request('POST', `/api/runbooks/${runbookKey}/runs`, {
      token,
      json: { scope: 'single_tenant', tenantId: tenants[1]!.id, confirmation: runbookKey, source: 'cli' },
    })
    expect(cli.status, cli.text).toBe(202)
    expect((await requested(cli.body.runId)).source).toBe('cli')
    const plain = await service.request('POST', `/api/runbooks/${runbookKey}/runs`, {
      token,
      json: { scope: 'single_tenant', tenantId: tenants[2]!.id, confirmation: runbookKey },
    })
    expect(plain.status, plain.text).toBe(202)
    expect((await requested(plain.body.runId)).source).toBe('api')
  })

  it('records a console start as system_ui, whatever source the form sends', async () => {
    const tenant = tenants[3]!
    const started = await consoleRequest(service, 'POST', `/system/ops/runbooks/${runbookKey}/runs`, {
      cookies: admin.cookies,
      form: { _csrf: admin.csrf, scope: 'single_tenant', tenant: `${tenant.name} (#${tenant.id})`, confirmation: runbookKey, source: 'api' },
    })
    expect(started.status, started.text.slice(0, 300)).toBe(303)
    const runId = /\/system\/ops\/runs\/([0-9A-Z]{26})$/.exec(started.headers.get('location') ?? '')![1]!
    expect((await requested(runId)).source).toBe('system_ui')
  })
})
