import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO_INVALID_TENANT_NAME } from '../../src/db/demo-seed.js'
import { runIsSettled, serviceFlavours, testAdmin, waitUntil, type TestService } from '../support/service.js'
import { runCli } from './run-cli.js'

/**
 * `rcp pause | resume | cancel | limits | retry | tenants RUN | halt | unhalt` (SPEC §9) against a real
 * service. All-tenants runs of the runbook share one run identity, so each block leaves none active.
 */

const runbookKey = 'findings.lifecycle.backfill'
const runsPath = `/api/runbooks/${runbookKey}/runs`
const reason = { code: 'INCIDENT', text: 'CLI test: the repair looks wrong' }
const reasonArgs = ['--reason-code', reason.code, '--reason', reason.text]
const RUN_ID = /[0-9A-HJKMNP-TV-Z]{26}/

describe.each(serviceFlavours())('rcp run control against a real service: $name', (flavour) => {
  let api: TestService
  let asAdmin: Record<string, string>
  let tenants: Array<{ id: number; name: string }>
  const tenantNamed = (name: string) => tenants.find((t) => t.name === name)!

  beforeAll(async () => {
    api = await flavour.start()
    asAdmin = { RCP_URL: api.baseUrl, RCP_CONFIG: '/nonexistent/rcp/credentials.json', RCP_TOKEN: await api.token() }
    tenants = (await apiGet('/api/tenants?limit=1000')).items
  })

  afterAll(async () => {
    await api?.close()
  })

  async function apiGet(path: string) {
    const response = await api.request('GET', path, { token: await api.token() })
    expect(response.status, response.text).toBe(200)
    return response.body
  }

  async function apiSend(method: string, path: string, json: unknown, expected: number) {
    const response = await api.request(method, path, { token: await api.token(), json })
    expect(response.status, response.text).toBe(expected)
    return response.body
  }

  const startAllTenants = async (limits: Record<string, unknown>): Promise<string> =>
    (await apiSend('POST', runsPath, { scope: 'all_tenants', confirmation: runbookKey, reason, limits }, 202)).runId

  async function runWhen(id: string, done: (run: any) => boolean, what: string): Promise<any> {
    let run: any
    await waitUntil(async () => done((run = await apiGet(`/api/runs/${id}`))), `run ${id} ${what}`)
    return run
  }

  // Completed and, if the service verifies it (SPEC §11), verified: nothing more is appended to it.
  const completed = (id: string) => runWhen(id, (run) => runIsSettled(run), 'to complete')

  async function allTenantsOf(id: string, status?: string): Promise<any[]> {
    const items: any[] = []
    let cursor: string | null = null
    do {
      const query = new URLSearchParams({ limit: '200', ...(status ? { status } : {}), ...(cursor ? { cursor } : {}) })
      const page = await apiGet(`/api/runs/${id}/tenants?${query}`)
      items.push(...page.items)
      cursor = page.nextCursor
    } while (cursor)
    return items
  }

  /** The paused run once its counts hold (no repair in flight): the same counts twice, a moment apart. */
  async function settled(id: string): Promise<any> {
    let previous = ''
    let run: any
    await waitUntil(async () => {
      run = await apiGet(`/api/runs/${id}`)
      const counts = JSON.stringify(run.tenantCounts)
      const same = counts === previous
      previous = counts
      if (!same) await new Promise((resolve) => setTimeout(resolve, 300))
      return same
    }, `run ${id} to settle`)
    return run
  }

  /** After a failed test, a run left active would refuse the next all-tenants start (409): cancel it. */
  async function leaveNoActiveRun(id: string): Promise<void> {
    const run = await apiGet(`/api/runs/${id}`)
    if (run.status === 'completed') return
    await api.request('POST', `/api/runs/${id}/cancel`, { token: await api.token(), json: { reason } })
    await completed(id)
  }

  async function leaveNoActiveRuns(): Promise<void> {
    for (const status of ['queued', 'running', 'paused']) {
      for (const run of (await apiGet(`/api/runs?status=${status}&limit=200`)).items) await leaveNoActiveRun(run.id)
    }
  }

  describe('pause, limits, tenants, resume', () => {
    it('pauses a running run; run shows it paused; a second pause is refused naming the state; resumed it completes', async () => {
      const runId = await startAllTenants({ maxConcurrency: 1 })
      try {
        await pauseResumeAndComplete(runId)
      } finally {
        await leaveNoActiveRun(runId)
      }
    })

    async function pauseResumeAndComplete(runId: string) {
      const paused = await runCli(['pause', runId, ...reasonArgs], { env: asAdmin })
      expect(paused.code, paused.stderr).toBe(0)
      expect(paused.stdout).toMatch(new RegExp(`^Run ${runId} paused: no tenant repair of it starts until it is resumed`))
      expect(paused.stdout).toMatch(/^Status\s+paused$/m)

      const shown = await runCli(['run', runId], { env: asAdmin })
      expect(shown.code, shown.stderr).toBe(0)
      expect(shown.stdout).toMatch(/^Status\s+paused$/m)
      expect(shown.stdout).toMatch(
        new RegExp(`^Paused\\s+INCIDENT: ${reason.text} \\(by [^<]+ <${testAdmin.email.replace('.', '\\.')}>, \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ\\)$`, 'm'),
      )
      expect(shown.stdout).toMatch(/^Limits\s+max concurrency 1, max failures none$/m)
      expect(shown.stdout).toMatch(/^Tenants\s+targeted 24, pending \d+, succeeded \d+, failed \d, cancelled 0$/m)
      // A repair in flight when the pause answered still finishes and is counted: wait for the counts to hold.
      const run = await settled(runId)
      const c = run.tenantCounts
      expect((await runCli(['run', runId], { env: asAdmin })).stdout).toContain(
        `targeted ${c.targeted}, pending ${c.pending}, succeeded ${c.succeeded}, failed ${c.failed}, cancelled 0`,
      )
      expect(JSON.parse((await runCli(['--json', 'run', runId], { env: asAdmin })).stdout)).toEqual(run)

      const again = await runCli(['pause', runId, ...reasonArgs], { env: asAdmin })
      expect(again.code).toBe(2)
      expect(again.stderr).toMatch(/^error: .*paused/m)

      const limits = await runCli(['limits', runId, '--max-concurrency', '2', '--max-failures', '5'], { env: asAdmin })
      expect(limits.code, limits.stderr).toBe(0)
      expect(limits.stdout).toMatch(/limits changed: max concurrency 2, max failures 5\./)
      const unlimited = await runCli(['--json', 'limits', runId, '--max-failures', 'none'], { env: asAdmin })
      expect(JSON.parse(unlimited.stdout).limits).toEqual({ maxConcurrency: 2, maxFailures: null })
      const tooMany = await runCli(['limits', runId, '--max-concurrency', '1001'], { env: asAdmin })
      expect(tooMany.code).toBe(2)
      expect(tooMany.stderr).toMatch(/^ {2}\S*maxConcurrency \(--max-concurrency\): /m)
      expect((await runCli(['limits', runId], { env: asAdmin })).code).toBe(2)

      // The tenants of the paused run: the pending ones as the API lists them, all of them with --all.
      const pending = await runCli(['--json', 'tenants', runId, '--status', 'pending'], { env: asAdmin })
      expect(pending.code, pending.stderr).toBe(0)
      expect(JSON.parse(pending.stdout)).toEqual(await apiGet(`/api/runs/${runId}/tenants?status=pending`))
      expect(JSON.parse(pending.stdout).items.length).toBe(c.pending)
      const pendingText = await runCli(['tenants', runId, '--status', 'pending'], { env: asAdmin })
      const rows = pendingText.stdout.trimEnd().split('\n')
      expect(rows[0]).toMatch(/^TENANT\s+STATUS\s+ATTEMPTS\s+UPDATED\s+SKIPPED\s+TOTAL\s+STARTED\s+COMPLETED\s+FAILURE$/)
      expect(rows.slice(1)).toHaveLength(c.pending)
      for (const row of rows.slice(1)) expect(row).toMatch(/^\S.* \(#\d+\)\s+pending\s+0\s+-/)
      const paged = await runCli(['--json', 'tenants', runId, '--limit', '5', '--all'], { env: asAdmin })
      expect(JSON.parse(paged.stdout)).toEqual({ items: await allTenantsOf(runId), nextCursor: null })
      const firstPage = await runCli(['tenants', runId, '--limit', '5'], { env: asAdmin })
      expect(firstPage.stdout).toMatch(/More: repeat with --cursor \S+/)

      const resumed = await runCli(['resume', runId, ...reasonArgs], { env: asAdmin })
      expect(resumed.code, resumed.stderr).toBe(0)
      expect(resumed.stdout).toMatch(new RegExp(`^Run ${runId} resumed: (running|completed)\\.`))
      const done = await completed(runId)
      expect(done.outcome).toBe('partially_succeeded')

      const failed = await runCli(['tenants', runId, '--status', 'failed'], { env: asAdmin })
      const invalid = tenantNamed(DEMO_INVALID_TENANT_NAME)
      expect(failed.stdout).toContain(`(#${invalid.id})`)
      expect(failed.stdout).toMatch(/ {2}failed {2}\s*\d+\s+-\s+-\s+-\s+.*INVALID_DATA: finding \d+/)

      const notPaused = await runCli(['resume', runId], { env: asAdmin })
      expect(notPaused.code).toBe(2)
      expect(notPaused.stderr).toMatch(/^error: .*completed/m)
      const audit = (await apiGet('/api/audit?limit=200')).items.map((e: any) => e.action)
      expect(audit).toEqual(expect.arrayContaining(['platform.ops.runbooks.paused', 'platform.ops.runbooks.resumed', 'platform.ops.runbooks.limits_changed']))
    }

    it('an unknown run: "no run …", exit 2; a viewer cannot pause (exit 4)', async () => {
      const unknown = '01ARZ3NDEKTSV4RRFFQ69G5FAV'
      for (const argv of [['pause', unknown, ...reasonArgs], ['tenants', unknown], ['cancel', unknown, ...reasonArgs, '--yes']]) {
        const result = await runCli(argv, { env: asAdmin })
        expect(result.code, argv[0]).toBe(2)
        expect(result.stderr).toMatch(new RegExp(`^error: no run ${unknown}$`, 'm'))
      }
      const viewer = await api.operatorToken(['platform.ops.view'])
      const anyRun = (await apiGet('/api/runs?limit=1')).items[0].id
      const forbidden = await runCli(['pause', anyRun, ...reasonArgs], { env: { ...asAdmin, RCP_TOKEN: viewer } })
      expect(forbidden.code).toBe(4)
      expect(forbidden.stderr).toContain('platform.runbooks.run')
    })
  })

  describe('retry and cancel', () => {
    /** A second tenant with a finding of unknown severity, so that a retry has two tenants to fail. */
    let poisoned: { findingId: number; severity: string; tenantId: number }
    let originalId: string
    let firstRetryId: string

    beforeAll(async () => {
      const invalid = tenantNamed(DEMO_INVALID_TENANT_NAME)
      // Not Acme Logistics: a later test repairs it.
      const tenantId = tenants.find((t) => t.id !== invalid.id && t.name !== 'Acme Logistics')!.id
      const [row] = await api.sql<Array<{ id: number; severity: string }>>`
        select id::int as id, severity from findings where tenant_id = ${tenantId} order by id limit 1`
      poisoned = { findingId: row!.id, severity: row!.severity, tenantId }
      await api.sql`update findings set severity = 'urgent' where id = ${poisoned.findingId}`
    })

    afterAll(async () => {
      if (poisoned) await api.sql`update findings set severity = ${poisoned.severity} where id = ${poisoned.findingId}`
      await leaveNoActiveRuns()
    })

    it('retries the failed tenants: a new run with retryOf; a second retry while it is active prints its id (exit 3)', async () => {
      originalId = await startAllTenants({ maxConcurrency: 4 })
      const original = await completed(originalId)
      expect(original.tenantCounts.failed).toBe(2)

      // maxFailures 0 over two failing tenants, one at a time: the retry pauses itself after the first.
      const retry = await runCli(['retry', originalId, '--confirm', runbookKey, ...reasonArgs, '--max-concurrency', '1', '--max-failures', '0'], {
        env: asAdmin,
      })
      expect(retry.code, retry.stderr).toBe(0)
      firstRetryId = RUN_ID.exec(retry.stdout)![0]
      expect(retry.stdout).toBe(`Run ${firstRetryId} started (queued): retries the failed tenants of ${originalId}\n`)
      const paused = await runWhen(firstRetryId, (run) => run.status === 'paused' || run.status === 'completed', 'to pause itself')
      expect(paused).toMatchObject({ status: 'paused', retryOf: originalId, pause: { reasonCode: 'ERROR_BUDGET_EXCEEDED', by: 'system' } })
      expect(paused.tenantCounts).toMatchObject({ targeted: 2, failed: 1, pending: 1 })

      const second = await runCli(['retry', originalId, '--confirm', runbookKey, ...reasonArgs], { env: asAdmin })
      expect(second.code, second.stderr).toBe(3)
      expect(second.stdout).toBe(`${firstRetryId}\n`)
      expect(second.stderr).toContain('already active')

      const shown = await runCli(['run', firstRetryId], { env: asAdmin })
      expect(shown.stdout).toMatch(/^Status\s+paused$/m)
      expect(shown.stdout).toMatch(/^Paused\s+ERROR_BUDGET_EXCEEDED: .*\(by the service, /m)
      expect(shown.stdout).toMatch(new RegExp(`^Retry of\\s+${originalId}$`, 'm'))
      expect(shown.stdout).toMatch(/^Limits\s+max concurrency 1, max failures 0$/m)
    })

    it('cancel asks for --yes without a terminal; cancelled, the tenant never started is listed cancelled; a second cancel is refused', async () => {
      const unconfirmed = await runCli(['cancel', firstRetryId, ...reasonArgs], { env: asAdmin })
      expect(unconfirmed.code).toBe(2)
      expect(unconfirmed.stderr).toContain('--yes')
      const mistyped = await runCli(['cancel', firstRetryId, ...reasonArgs], { env: asAdmin, stdinIsTTY: true, stdin: `${originalId}\n` })
      expect(mistyped.code).toBe(2)
      expect((await apiGet(`/api/runs/${firstRetryId}`)).status).toBe('paused')

      const cancelled = await runCli(['cancel', firstRetryId, ...reasonArgs], { env: asAdmin, stdinIsTTY: true, stdin: `${firstRetryId}\n` })
      expect(cancelled.code, cancelled.stderr).toBe(0)
      expect(cancelled.stdout).toMatch(new RegExp(`^Run ${firstRetryId} (cancelled: completed cancelled|is being cancelled)`))
      const run = await completed(firstRetryId)
      expect(run.outcome).toBe('cancelled')
      expect(run.tenantCounts).toMatchObject({ targeted: 2, failed: 1, cancelled: 1, pending: 0 })
      expect((await runCli(['run', firstRetryId], { env: asAdmin })).stdout).toMatch(/^Outcome\s+cancelled$/m)

      const never = await runCli(['--json', 'tenants', firstRetryId, '--status', 'cancelled'], { env: asAdmin })
      const items = JSON.parse(never.stdout).items
      expect(items).toHaveLength(1)
      expect(items[0]).toMatchObject({ status: 'cancelled', attempts: 0, counts: null, startedAt: null })

      const again = await runCli(['cancel', firstRetryId, ...reasonArgs, '--yes'], { env: asAdmin })
      expect(again.code).toBe(2)
      expect(again.stderr).toMatch(/^error: .*completed/m)
      const audit = (await apiGet('/api/audit?limit=200')).items.map((e: any) => e.action)
      expect(audit).toEqual(expect.arrayContaining(['platform.ops.runbooks.retried', 'platform.ops.runbooks.cancelled']))
    })

    it('retry --follow keeps following while the retry is paused, says so, and exits 1 once it completes cancelled', async () => {
      const following = runCli(
        ['retry', originalId, '--confirm', runbookKey, ...reasonArgs, '--max-concurrency', '1', '--max-failures', '0', '--follow'],
        { env: asAdmin },
      )
      let retryId = ''
      await waitUntil(async () => {
        const runs = (await apiGet(`/api/runs?runbook=${runbookKey}&status=paused&limit=50`)).items
        retryId = runs.find((r: any) => r.retryOf === originalId && r.id !== firstRetryId)?.id ?? ''
        return retryId !== ''
      }, 'the followed retry to pause itself')
      // Let the follower see the pause before it ends.
      await new Promise((resolve) => setTimeout(resolve, 1_500))
      await apiSend('POST', `/api/runs/${retryId}/cancel`, { reason }, 202)
      const result = await following
      expect(result.code, result.stderr).toBe(1)
      expect(result.stdout).toContain(`Run ${retryId} started (queued): retries the failed tenants of ${originalId}`)
      expect(result.stdout).toMatch(new RegExp(`^Run ${retryId} paused: ERROR_BUDGET_EXCEEDED: .*\\(by the service, .*rcp resume ${retryId}`, 'm'))
      expect(result.stdout).toMatch(new RegExp(`^run ${retryId}: paused, 1/2 tenants done, 1 failed$`, 'm'))
      expect(result.stdout).toContain(`Run ${retryId} completed: cancelled`)
      expect(result.stdout).toContain('Tenants: targeted 2, pending 0, succeeded 0, failed 1, cancelled 1')
    })

    it('a run without failed tenants cannot be retried (422 → exit 2, naming the run)', async () => {
      const acme = tenantNamed('Acme Logistics')
      const started = await runCli(['start', runbookKey, '--tenant', String(acme.id), '--confirm', runbookKey, '--follow'], { env: asAdmin })
      expect(started.code, started.stderr).toBe(0)
      const runId = RUN_ID.exec(started.stdout)![0]
      const result = await runCli(['retry', runId, '--confirm', runbookKey], { env: asAdmin })
      expect(result.code).toBe(2)
      expect(result.stderr).toMatch(/^error: /m)
      expect(result.stderr).toMatch(/^ {2}runId \(RUN\): /m)
      const json = await runCli(['--json', 'retry', runId, '--confirm', runbookKey], { env: asAdmin })
      expect(JSON.parse(json.stdout)).toMatchObject({ status: 422, errors: [expect.objectContaining({ field: 'runId' })] })
    })
  })

  describe('halt', () => {
    it('halt: starts and resumes are refused (exit 6) until unhalt; halt status says who and why; lifting resumes nothing', async () => {
      // maxFailures 0: the run pauses itself at the poisoned tenant, an active run for the halt to hold.
      const runId = await startAllTenants({ maxConcurrency: 1, maxFailures: 0 })
      await runWhen(runId, (run) => run.status === 'paused', 'to pause itself')

      const viewer = await api.operatorToken(['platform.ops.view'])
      const forbidden = await runCli(['halt', ...reasonArgs], { env: { ...asAdmin, RCP_TOKEN: viewer } })
      expect(forbidden.code).toBe(4)
      expect(forbidden.stderr).toContain('platform.ops.halt')

      const halted = await runCli(['halt', '--reason-code', 'SECURITY', '--reason', 'CLI test: credentials may have leaked'], { env: asAdmin })
      expect(halted.code, halted.stderr).toBe(0)
      expect(halted.stdout).toMatch(/^Deployment halted since \S+ \S+ by .* <admin@ops\.test>: SECURITY: CLI test: credentials may have leaked$/m)

      const status = await runCli(['halt', 'status'], { env: asAdmin })
      expect(status.code).toBe(0)
      expect(status.stdout).toMatch(/^HALTED since .*SECURITY: CLI test: credentials may have leaked$/m)
      expect(JSON.parse((await runCli(['--json', 'halt', 'status'], { env: { ...asAdmin, RCP_TOKEN: viewer } })).stdout)).toEqual(
        await apiGet('/api/halt'),
      )

      const eventsBefore = await api.eventCount()
      const acme = tenantNamed('Acme Logistics')
      const start = await runCli(['start', runbookKey, '--tenant', String(acme.id), '--confirm', runbookKey], { env: asAdmin })
      expect(start.code).toBe(6)
      expect(start.stderr).toMatch(/^error: the deployment is halted/m)
      expect(start.stderr).toMatch(/^hint: rcp halt status/m)
      const startJson = await runCli(['--json', 'start', runbookKey, '--tenant', String(acme.id), '--confirm', runbookKey], { env: asAdmin })
      expect(startJson.code).toBe(6)
      expect(JSON.parse(startJson.stdout)).toMatchObject({ status: 423, code: 'HALTED' })
      const resume = await runCli(['resume', runId], { env: asAdmin })
      expect(resume.code).toBe(6)
      expect(await api.eventCount()).toBe(eventsBefore)

      const twice = await runCli(['halt', ...reasonArgs], { env: asAdmin })
      expect(twice.code).toBe(2)

      const lifted = await runCli(['unhalt', ...reasonArgs], { env: asAdmin })
      expect(lifted.code, lifted.stderr).toBe(0)
      expect(lifted.stdout).toMatch(/^Halt lifted/)
      expect((await runCli(['halt', 'status'], { env: asAdmin })).stdout).toMatch(/^Not halted/)
      expect((await apiGet(`/api/runs/${runId}`)).status).toBe('paused')
      expect((await runCli(['unhalt', ...reasonArgs], { env: asAdmin })).code).toBe(2)

      const cancelled = await runCli(['cancel', runId, ...reasonArgs, '--yes'], { env: asAdmin })
      expect(cancelled.code, cancelled.stderr).toBe(0)
      expect((await completed(runId)).outcome).toBe('cancelled')
      const audit = (await apiGet('/api/audit?limit=200')).items.map((e: any) => e.action)
      expect(audit).toEqual(expect.arrayContaining(['platform.ops.halted', 'platform.ops.halt_lifted']))
    })
  })
})
