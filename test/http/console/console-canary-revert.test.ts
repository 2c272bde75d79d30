import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO_INVALID_TENANT_NAME } from '../../../src/db/demo-seed.js'
import { getRun, type RunDetail } from '../../../src/projections/queries.js'
import { runIsSettled, serviceFlavours, waitUntil, type TestService } from '../../support/service.js'
import { consoleLogin, consoleRequest, createConsoleOperator, type ConsoleSession } from './console-client.js'

/**
 * SPEC §11 canary tenants and revert through the console: the start form's canary fieldset (422 beside its
 * fields, nothing appended), the run page's canary section while paused CANARY_COMPLETE / CANARY_FAILED,
 * and the revert form (typed `revert <runId>` and a reason) that lands on the revert run's page.
 */

const runbookKey = 'findings.lifecycle.backfill'
const runbookCapability = 'platform.runbooks.findings.lifecycle_backfill'
const everyCapability = ['platform.ops.view', 'platform.runbooks.view', 'platform.runbooks.run', runbookCapability]
const startPath = `/system/ops/runbooks/${runbookKey}/runs`
const allTenants = { scope: 'all_tenants', reasonCode: 'DATA_REPAIR', reasonText: 'normalise legacy finding lifecycles' }
const revertReason = { reasonCode: 'INCIDENT', reasonText: 'the repair broke the importer downstream' }

function runIdFrom(location: string | null): string {
  const match = /^\/system\/ops\/runs\/([0-9A-Z]{26})$/.exec(location ?? '')
  if (!match) throw new Error(`not a run page: ${location}`)
  return match[1]!
}

/** The text of an HTML fragment, tags dropped, entities decoded, spaces collapsed. */
function textOf(html: string): string {
  return html
    .replace(/<[^>]+>/g, ' ')
    .replace(/&#39;|&#x27;/g, "'")
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim()
}

function fieldError(html: string, id: string): string {
  const match = new RegExp(`<p class="field-error" id="${id}"[^>]*>([\\s\\S]*?)</p>`).exec(html)
  if (!match) throw new Error(`no field error ${id}`)
  return textOf(match[1]!)
}

/** The opening tag of the element with this id ('' when the page has none). */
const tagOf = (html: string, id: string) => new RegExp(`<[a-z]+ [^>]*id="${id}"[^>]*>`).exec(html)?.[0] ?? ''
const isShown = (html: string, id: string) => tagOf(html, id) !== '' && !tagOf(html, id).includes('hidden')

describe.each(serviceFlavours())('console canary and revert (SPEC §11): $name', (flavour) => {
  let service: TestService
  let admin: ConsoleSession
  let viewer: ConsoleSession
  let tenants: Array<{ id: number; name: string }>

  const get = (path: string, session: ConsoleSession = admin) => consoleRequest(service, 'GET', path, { cookies: session.cookies })
  const post = (path: string, form: Record<string, string>, session: ConsoleSession = admin) =>
    consoleRequest(service, 'POST', path, { cookies: session.cookies, form: { _csrf: session.csrf, ...form } })
  const start = (form: Record<string, string>) => post(startPath, { confirmation: runbookKey, ...allTenants, ...form })

  async function runOnceItIs(runId: string, until: (run: RunDetail) => boolean, what: string): Promise<RunDetail> {
    await waitUntil(async () => {
      const run = await getRun(service.sql, runId)
      return run !== null && until(run)
    }, `run ${runId} ${what}`)
    return (await getRun(service.sql, runId))!
  }
  // Completed and, when the service verifies it, verified: a late RunVerified must not land in a later count.
  const completed = (runId: string) => runOnceItIs(runId, (run) => runIsSettled(run), 'completed')
  const pausedFor = (runId: string, reasonCode: string) =>
    runOnceItIs(runId, (run) => run.status === 'paused' && run.pause?.reasonCode === reasonCode, `paused ${reasonCode}`)

  beforeAll(async () => {
    service = await flavour.start()
    admin = await consoleLogin(service, await createConsoleOperator(service, everyCapability))
    viewer = await consoleLogin(service, await createConsoleOperator(service, ['platform.ops.view', 'platform.runbooks.view']))
    tenants = (await service.request('GET', '/api/tenants?limit=1000', { token: await service.token() })).body.items
  })

  afterAll(async () => {
    await service?.close()
  })

  it('renders the canary fieldset with no canary chosen', async () => {
    const page = await get('/system/ops/runbooks')
    expect(page.status).toBe(200)
    expect(page.text).toContain('<legend>Canary (optional)</legend>')
    expect(page.text).toMatch(/<input type="radio" name="canaryMode" value="none" checked=""\/> No canary/)
    expect(page.text).toContain('<input type="radio" name="canaryMode" value="count"/> The N smallest tenants')
    expect(page.text).toContain('<input type="radio" name="canaryMode" value="tenants"/> These tenant ids')
    expect(page.text).toContain('Go on by itself once the canary succeeded (auto-promote)')
  })

  it('explains a refused canary beside its field (422), keeps what was typed and appends nothing', async () => {
    const before = await service.eventCount()
    const zero = await start({ canaryMode: 'count', canaryCount: '0', canaryAutoPromote: 'on' })
    expect(zero.status, zero.text.slice(0, 500)).toBe(422)
    expect(fieldError(zero.text, 'rb0-canary-count-error')).toBe('Number of canary tenants must be a whole number of at least 1')
    expect(zero.text).toContain('<input type="radio" name="canaryMode" value="count" checked=""/>')
    expect(zero.text).toMatch(/name="canaryCount"[^>]* value="0" aria-invalid="true"/)
    expect(zero.text).toMatch(/<input type="checkbox" name="canaryAutoPromote" value="on" checked=""\/>/)

    const tooMany = await start({ canaryMode: 'count', canaryCount: '999' })
    expect(tooMany.status).toBe(422)
    expect(fieldError(tooMany.text, 'rb0-canary-count-error')).toMatch(/^Number of canary tenants must be at most \d+, the run's number of target tenants$/)

    const notIds = await start({ canaryMode: 'tenants', canaryTenants: '2, acme' })
    expect(notIds.status).toBe(422)
    expect(fieldError(notIds.text, 'rb0-canary-tenants-error')).toBe('Canary tenants must be tenant ids separated by commas, e.g. 2, 5')
    expect(notIds.text).toMatch(/name="canaryTenants"[^>]* value="2, acme" aria-invalid="true"/)

    const stranger = await start({ canaryMode: 'tenants', canaryTenants: '999999' })
    expect(stranger.status).toBe(422)
    expect(fieldError(stranger.text, 'rb0-canary-tenants-error')).toBe('Canary tenants not targets of this run: 999999')
    expect(await service.eventCount()).toBe(before)
  })

  it('warns on the run page when a canary tenant failed (paused CANARY_FAILED)', async () => {
    const invalid = tenants.find((tenant) => tenant.name === DEMO_INVALID_TENANT_NAME)!
    const started = await start({ canaryMode: 'tenants', canaryTenants: String(invalid.id) })
    expect(started.status, started.text.slice(0, 500)).toBe(303)
    const runId = runIdFrom(started.headers.get('location'))
    await pausedFor(runId, 'CANARY_FAILED')
    const page = await get(`/system/ops/runs/${runId}`)
    expect(page.status).toBe(200)
    expect(isShown(page.text, 'run-canary')).toBe(true)
    expect(isShown(page.text, 'run-canary-failed')).toBe(true)
    expect(isShown(page.text, 'run-canary-complete')).toBe(false)
    expect(page.text).toMatch(/id="run-canary-state"[^>]*>failed</)
    expect(page.text).toContain(`<li>${invalid.name} (#${invalid.id})</li>`)
    // Out of the way of the next start (same identity): cancelled from the console.
    const cancel = await post(`/system/ops/runs/${runId}/cancel`, { confirmation: 'cancel', reasonCode: 'INCIDENT', reasonText: 'the canary tenant failed' })
    expect(cancel.status, cancel.text.slice(0, 500)).toBe(303)
    await completed(runId)
  })

  let repairedRunId: string

  it('starts with the 2 smallest tenants as canary: paused CANARY_COMPLETE with the hint; resumed, it completes', async () => {
    const started = await start({ canaryMode: 'count', canaryCount: '2' })
    expect(started.status, started.text.slice(0, 500)).toBe(303)
    repairedRunId = runIdFrom(started.headers.get('location'))
    const paused = await pausedFor(repairedRunId, 'CANARY_COMPLETE')
    expect(paused.canary).toMatchObject({ autoPromote: false, state: 'passed' })
    expect(paused.canary!.tenantIds).toHaveLength(2)

    const page = await get(`/system/ops/runs/${repairedRunId}`)
    expect(isShown(page.text, 'run-canary-complete')).toBe(true)
    expect(textOf(page.text)).toContain('The canary tenants succeeded — look at their results below, then Resume to repair the rest.')
    expect(isShown(page.text, 'run-canary-failed')).toBe(false)
    expect(page.text).toMatch(/id="run-canary-state"[^>]*>passed</)
    const names = new Map(tenants.map((tenant) => [tenant.id, tenant.name]))
    for (const id of paused.canary!.tenantIds) expect(page.text).toContain(`<li>${names.get(id)} (#${id})</li>`)
    expect(tagOf(page.text, 'run-revert')).toBe('') // not completed: nothing to revert yet

    const resumed = await post(`/system/ops/runs/${repairedRunId}/resume`, {})
    expect(resumed.status, resumed.text.slice(0, 500)).toBe(303)
    const done = await completed(repairedRunId)
    expect(done.summaryCounts.updated).toBeGreaterThan(0)
  })

  it('offers no revert to a viewer without the capabilities, and refuses their post (403)', async () => {
    const page = await get(`/system/ops/runs/${repairedRunId}`, viewer)
    expect(page.status).toBe(200)
    expect(page.text).not.toContain('id="run-revert"')
    const before = await service.eventCount()
    const refused = await post(`/system/ops/runs/${repairedRunId}/revert`, { confirmation: `revert ${repairedRunId}`, ...revertReason }, viewer)
    expect(refused.status).toBe(403)
    expect(await service.eventCount()).toBe(before)
  })

  it('offers no revert for a run that changed nothing; a post anyway is told at the top (422)', async () => {
    const tenant = tenants.find((candidate) => candidate.name !== DEMO_INVALID_TENANT_NAME)!
    const started = await post(startPath, { confirmation: runbookKey, scope: 'single_tenant', tenant: `${tenant.name} (#${tenant.id})` })
    expect(started.status, started.text.slice(0, 500)).toBe(303)
    const runId = runIdFrom(started.headers.get('location'))
    expect((await completed(runId)).summaryCounts.updated ?? 0).toBe(0)
    const page = await get(`/system/ops/runs/${runId}`)
    expect(page.text).not.toContain('id="run-revert"')
    const before = await service.eventCount()
    const refused = await post(`/system/ops/runs/${runId}/revert`, { confirmation: `revert ${runId}`, ...revertReason })
    expect(refused.status).toBe(422)
    expect(textOf(/<div class="alert error" role="alert" id="run-control-refused">[\s\S]*?<\/div>/.exec(refused.text)?.[0] ?? '')).toContain(
      'The run changed nothing: there is nothing to revert',
    )
    expect(await service.eventCount()).toBe(before)
  })

  it('refuses a wrong confirmation and a missing reason beside the fields (422), the form open, appending nothing', async () => {
    const page = await get(`/system/ops/runs/${repairedRunId}`)
    expect(isShown(page.text, 'run-revert')).toBe(true)
    expect(page.text).toContain(`Confirmation: type <code>revert ${repairedRunId}</code>`)
    const before = await service.eventCount()
    const refused = await post(`/system/ops/runs/${repairedRunId}/revert`, { confirmation: 'revert', reasonCode: '', reasonText: '' })
    expect(refused.status, refused.text.slice(0, 500)).toBe(422)
    expect(fieldError(refused.text, 'revert-confirmation-error')).toBe(`Confirmation must be exactly "revert ${repairedRunId}"`)
    expect(fieldError(refused.text, 'revert-reason-text-error')).not.toBe('')
    expect(refused.text).toMatch(/<details class="control control-revert" data-revert="true" open="">/)
    expect(refused.text).toMatch(/id="revert-confirmation"[^>]* value="revert" aria-invalid="true"/)
    expect(await service.eventCount()).toBe(before)
  })

  it('reverts with the typed confirmation and lands on the revert run, whose page says what it reverts; a second revert is 409', async () => {
    const reverted = await post(`/system/ops/runs/${repairedRunId}/revert`, { confirmation: `revert ${repairedRunId}`, ...revertReason })
    expect(reverted.status, reverted.text.slice(0, 500)).toBe(303)
    const revertRunId = runIdFrom(reverted.headers.get('location'))
    expect(revertRunId).not.toBe(repairedRunId)
    const revertPage = await get(`/system/ops/runs/${revertRunId}`)
    expect(revertPage.status).toBe(200)
    expect(textOf(tagOf(revertPage.text, 'run-revert-of') ? /<dd id="run-revert-of">[\s\S]*?<\/dd>/.exec(revertPage.text)![0] : '')).toBe(
      `Revert of run ${repairedRunId}`,
    )
    expect(revertPage.text).toContain(`<a href="/system/ops/runs/${repairedRunId}">`)
    await completed(revertRunId)
    // The revert put findings back and kept their before-images: it can be reverted in turn.
    expect(isShown((await get(`/system/ops/runs/${revertRunId}`)).text, 'run-revert')).toBe(true)

    const original = await get(`/system/ops/runs/${repairedRunId}`)
    expect(original.text).not.toContain('id="run-revert"')
    expect(textOf(/<dd id="run-reverted-by">[\s\S]*?<\/dd>/.exec(original.text)?.[0] ?? '')).toBe(`Reverted by run ${revertRunId}`)
    const before = await service.eventCount()
    const again = await post(`/system/ops/runs/${repairedRunId}/revert`, { confirmation: `revert ${repairedRunId}`, ...revertReason })
    expect(again.status).toBe(409)
    expect(textOf(/<div class="alert error" role="alert" id="run-control-refused">[\s\S]*?<\/div>/.exec(again.text)?.[0] ?? '')).toContain(
      `already reverted by run ${revertRunId}`,
    )
    expect(await service.eventCount()).toBe(before)
  })
})
