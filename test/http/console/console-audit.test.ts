import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { getRun } from '../../../src/projections/queries.js'
import { runIsSettled, serviceFlavours, testAdmin, waitUntil, type TestService } from '../../support/service.js'
import { consoleLogin, consoleRequest, createConsoleOperator, type ConsoleSession } from './console-client.js'

const runbookKey = 'findings.lifecycle.backfill'
const auditPath = '/system/ops/audit'

/** The sequences of the entries a page lists, in page order. */
function sequencesOf(html: string): number[] {
  return [...html.matchAll(/<tr data-sequence="(\d+)"/g)].map((match) => Number(match[1]))
}

/** SPEC §12 and issue 12: the console's audit page (`platform.ops.view`). */
describe.each(serviceFlavours())('console audit page: $name', (flavour) => {
  let service: TestService
  let admin: ConsoleSession
  let runId: string

  const get = (path: string, session: ConsoleSession = admin) => consoleRequest(service, 'GET', path, { cookies: session.cookies })
  const auditCount = async () => (await service.sql<Array<{ n: number }>>`select count(*)::int as n from audit_log`)[0]!.n

  beforeAll(async () => {
    service = await flavour.start()
    const token = await service.token()
    const started = await service.request('POST', `/api/runbooks/${runbookKey}/runs`, {
      token,
      json: { scope: 'all_tenants', confirmation: runbookKey, reason: { code: 'DATA_REPAIR', text: 'a run for the audit page' } },
    })
    expect(started.status, started.text).toBe(202)
    runId = started.body.runId
    await waitUntil(async () => runIsSettled((await getRun(service.sql, runId)) ?? undefined), `run ${runId} settled`)
    admin = await consoleLogin(service, testAdmin)
    // The console login's own entry is projected before the page is looked at.
    await waitUntil(async () => (await service.sql`select 1 from audit_log where action = 'platform.ops.login.succeeded' and context->>'channel' = 'console'`).length > 0, 'console login audited')
  })

  afterAll(async () => {
    await service?.close()
  })

  it('lists the entries newest first with sequence, time, action, actor, run link and short hash, under the verified chain', async () => {
    const page = await get(auditPath)
    expect(page.status).toBe(200)
    const sequences = sequencesOf(page.text)
    const total = await auditCount()
    expect(sequences.length).toBe(Math.min(total, 50))
    expect(sequences).toEqual([...sequences].sort((a, b) => b - a))
    expect(sequences[0]).toBe(total)
    expect(page.text).toMatch(new RegExp(`Chain verified:</strong> ${total} entries, head`))
    const [head] = await service.sql<Array<{ hash: string }>>`select hash from audit_chain_head`
    expect(page.text).toContain(`title="${head!.hash}"`)
    expect(page.text).toContain(`${head!.hash.slice(0, 12)}…`)
    expect(page.text).toContain(`href="/system/ops/runs/${runId}"`)
    expect(page.text).toContain('platform.ops.runbooks.start')
    expect(page.text).toContain(testAdmin.email)
    expect(page.text).toMatch(/<a href="\/system\/ops\/audit" aria-current="page">\s*Audit\s*<\/a>/)
    // The start's reason code beside it, as its entry's context holds it (SPEC §5: the code only).
    expect(page.text).toContain('<div>reason: DATA_REPAIR</div>')
  })

  it("shows whom an operator change was about, from the entry's context", async () => {
    const token = await service.token()
    const email = `audited-${Date.now()}@ops.test`
    const created = await service.request('POST', '/api/operators', {
      token,
      json: { email, name: 'Audited operator', password: 'a long enough password 1', capabilities: ['platform.ops.view'] },
    })
    expect(created.status, created.text).toBe(201)
    await waitUntil(async () => (await service.sql`select 1 from audit_log where action = 'platform.operators.created' and context->>'subject_email' = ${email}`).length > 0, 'creation audited')
    const page = await get(`${auditPath}?action=platform.operators.created`)
    expect(page.text).toContain(`<div>subject: ${email}</div>`)
  })

  it('filters by action, operator (email or id) and run, as GET /api/audit does', async () => {
    const token = await service.token()
    const byAction = await get(`${auditPath}?action=platform.ops.runbooks.start`)
    expect(byAction.status).toBe(200)
    const api = await service.request('GET', '/api/audit?action=platform.ops.runbooks.start', { token })
    expect(sequencesOf(byAction.text)).toEqual(api.body.items.map((item: { sequence: number }) => item.sequence))
    expect(sequencesOf(byAction.text).length).toBe(1)
    expect(byAction.text).toContain('<option value="platform.ops.runbooks.start" selected="">')

    const byRun = await get(`${auditPath}?runId=${runId}`)
    const runEntries = await service.sql<Array<{ sequence: string }>>`select sequence from audit_log where operation_run_id = ${runId} order by sequence desc`
    expect(runEntries.length).toBeGreaterThan(1)
    expect(sequencesOf(byRun.text)).toEqual(runEntries.map((row) => Number(row.sequence)))

    const operator = await createConsoleOperator(service, ['platform.runbooks.view'])
    await consoleLogin(service, operator)
    await waitUntil(async () => (await service.sql`select 1 from audit_log where actor_email = ${operator.email}`).length > 0, 'the operator audited')
    const theirs = await service.sql<Array<{ sequence: string; actor_user_id: string }>>`
      select sequence, actor_user_id from audit_log where actor_email = ${operator.email} order by sequence desc`
    const byEmail = await get(`${auditPath}?operator=${encodeURIComponent(operator.email.toUpperCase())}`)
    expect(sequencesOf(byEmail.text)).toEqual(theirs.map((row) => Number(row.sequence)))
    const byId = await get(`${auditPath}?operator=${theirs[0]!.actor_user_id}&action=&runId=`)
    expect(sequencesOf(byId.text)).toEqual(theirs.map((row) => Number(row.sequence)))
    const apiTheirs = await service.request('GET', `/api/audit?operator=${encodeURIComponent(operator.email.toUpperCase())}`, { token })
    expect(apiTheirs.body.items.map((item: { sequence: number }) => item.sequence)).toEqual(theirs.map((row) => Number(row.sequence)))
    const apiByRun = await service.request('GET', `/api/audit?runId=${runId}`, { token })
    expect(apiByRun.body.items.map((item: { sequence: number }) => item.sequence)).toEqual(runEntries.map((row) => Number(row.sequence)))
    const apiByOperator = await service.request('GET', `/api/audit?operator=${encodeURIComponent(operator.email)}&runId=${runId}`, { token })
    expect(apiByOperator.status).toBe(200)
    expect(apiByOperator.body.items).toEqual([])

    const none = await get(`${auditPath}?runId=01ARZ3NDEKTSV4RRFFQ69G5FAV`)
    expect(none.status).toBe(200)
    expect(none.text).toContain('No audit entries match.')
  })

  it('pages older entries with the filters kept, and answers a bad page link 400 with the newest entries', async () => {
    const total = await auditCount()
    const first = await get(`${auditPath}?action=`)
    if (total > 50) {
      const older = /href="(\/system\/ops\/audit\?cursor=[^"]+)"/.exec(first.text)
      expect(older).not.toBeNull()
      const second = await get(older![1]!.replaceAll('&amp;', '&'))
      expect(Math.max(...sequencesOf(second.text))).toBeLessThan(Math.min(...sequencesOf(first.text)))
    }
    const bad = await get(`${auditPath}?cursor=not-a-cursor`)
    expect(bad.status).toBe(400)
    expect(bad.text).toContain('That page link is not valid any more')
    expect(sequencesOf(bad.text)[0]).toBe(total)
  })

  it('answers 403 to an operator without platform.ops.view, showing no entry, and offers them no Audit item', async () => {
    const viewer = await consoleLogin(service, await createConsoleOperator(service, ['platform.runbooks.view']))
    const refused = await get(auditPath, viewer)
    expect(refused.status).toBe(403)
    expect(refused.text).toContain('platform.ops.view')
    expect(sequencesOf(refused.text)).toEqual([])
    expect(refused.text).not.toContain('Chain verified')
    const theirPage = await get('/system/ops/runbooks', viewer)
    expect(theirPage.status).toBe(200)
    expect(theirPage.text).not.toContain(`href="${auditPath}"`)
    // No session: the login page, as every console page.
    const anonymous = await consoleRequest(service, 'GET', auditPath)
    expect(anonymous.status).toBe(303)
    expect(anonymous.headers.get('location')).toMatch(/^\/system\/login/)
  })

  it('shows the chain BROKEN at the first entry changed by hand', async () => {
    await service.sql`update audit_log set action = 'platform.ops.runbooks.preflight' where sequence = 2`
    const page = await get(auditPath)
    expect(page.status).toBe(200)
    expect(page.text).toContain('Chain BROKEN at entry #2')
    expect(page.text).toContain('data-chain="broken"')
    expect(page.text).not.toContain('Chain verified')
  })
})
