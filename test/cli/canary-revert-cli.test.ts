import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO_INVALID_TENANT_NAME } from '../../src/db/demo-seed.js'
import { runIsSettled, serviceFlavours, waitUntil, type TestService } from '../support/service.js'
import { runCli } from './run-cli.js'

/**
 * `rcp start --canary-count`, `rcp resume`, `rcp revert` and `rcp run` (SPEC §11) against a real service:
 * a canary run pauses CANARY_COMPLETE while followed, is resumed and completes; a wrong typed confirmation
 * starts nothing; `revert --yes --follow` puts the findings back and `rcp run` shows what it reverted.
 */

const runbookKey = 'findings.lifecycle.backfill'
const reasonArgs = ['--reason-code', 'DATA_REPAIR', '--reason', 'CLI test: lifecycle repair after the import']
const RUN_ID = /[0-9A-HJKMNP-TV-Z]{26}/

describe.each(serviceFlavours())('rcp canary and revert against a real service: $name', (flavour) => {
  let api: TestService
  let asAdmin: Record<string, string>

  beforeAll(async () => {
    api = await flavour.start()
    asAdmin = { RCP_URL: api.baseUrl, RCP_CONFIG: '/nonexistent/rcp/credentials.json', RCP_TOKEN: await api.token() }
    // The demo's unsafe tenant would fail every all-tenants run (and might be a canary): these runs should succeed.
    const tenants: Array<{ id: number; name: string }> = (await apiGet('/api/tenants?limit=1000')).items
    const invalid = tenants.find((t) => t.name === DEMO_INVALID_TENANT_NAME)!
    await api.sql`update findings set severity = 'low' where tenant_id = ${invalid.id} and severity not in ('critical', 'high', 'medium', 'low', 'info')`
  })

  afterAll(async () => {
    await api?.close()
  })

  async function apiGet(path: string) {
    const response = await api.request('GET', path, { token: await api.token() })
    expect(response.status, response.text).toBe(200)
    return response.body
  }

  async function runWhen(id: string, done: (run: any) => boolean, what: string): Promise<any> {
    let run: any
    await waitUntil(async () => done((run = await apiGet(`/api/runs/${id}`))), `run ${id} ${what}`)
    return run
  }

  it('start --canary-count 2 --follow pauses CANARY_COMPLETE and says so; resumed it completes; revert --yes --follow puts it back', async () => {
    const following = runCli(['start', runbookKey, '--all-tenants', '--confirm', runbookKey, ...reasonArgs, '--canary-count', '2', '--follow'], {
      env: asAdmin,
    })
    let runId = ''
    await waitUntil(async () => {
      const paused = (await apiGet('/api/runs?status=paused')).items
      runId = paused[0]?.id ?? ''
      return runId !== ''
    }, 'the canary pause')
    const paused = await apiGet(`/api/runs/${runId}`)
    expect(paused.pause.reasonCode).toBe('CANARY_COMPLETE')

    const shown = await runCli(['run', runId], { env: asAdmin })
    expect(shown.code, shown.stderr).toBe(0)
    expect(shown.stdout).toMatch(new RegExp(`^Canary\\s+passed \\(tenants ${paused.canary.tenantIds.join(', ')}; auto-promote off\\)$`, 'm'))
    expect(shown.stdout).toMatch(/^Paused\s+CANARY_COMPLETE/m)
    expect(shown.stdout).toMatch(/^Tenants\s+targeted 24, pending 22, succeeded 2, failed 0, cancelled 0$/m)

    // Let the follower see the pause (it polls a paused run every 2 s) before the run goes on.
    await new Promise((resolve) => setTimeout(resolve, 2_500))
    const resumed = await runCli(['resume', runId], { env: asAdmin })
    expect(resumed.code, resumed.stderr).toBe(0)
    const followed = await following
    expect(followed.code, followed.stderr).toBe(0)
    expect(followed.stdout).toMatch(
      new RegExp(`^Run ${runId} started \\(queued\\): canary first \\(the 2 with the fewest findings\\), then it pauses \\(CANARY_COMPLETE\\) until rcp resume ${runId}$`, 'm'),
    )
    expect(followed.stdout).toContain(`Paused: the canary tenants succeeded (CANARY_COMPLETE) — check them (rcp tenants ${runId}), then rcp resume ${runId}\n`)
    // (Whether a "resumed" line shows depends on the poll landing before the run completed: not checked.)
    expect(followed.stdout).toContain(`Run ${runId} completed: succeeded`)
    const original = await runWhen(runId, runIsSettled, 'to complete and verify')
    const changed = original.summaryCounts.updated
    expect(changed).toBeGreaterThan(0)

    // A wrong typed confirmation: the service refuses it (422 naming it), nothing is started or recorded.
    const events = await api.eventCount()
    const runs = (await apiGet('/api/runs?limit=200')).items.length
    // The id with its last character changed (a ULID may end in X: then it is changed to Y).
    const mistyped = `${runId.slice(0, -1)}${runId.endsWith('X') ? 'Y' : 'X'}`
    const wrong = await runCli(['revert', runId, ...reasonArgs], { env: asAdmin, stdinIsTTY: true, stdin: `revert ${mistyped}\n` })
    expect(wrong.code).toBe(2)
    expect(wrong.stderr).toContain(`Type "revert ${runId}" to confirm: `)
    expect(wrong.stderr).toMatch(new RegExp(`^ {2}confirmation \\(the typed confirmation\\): .*revert ${runId}`, 'm'))
    expect(await api.eventCount()).toBe(events)
    expect((await apiGet('/api/runs?limit=200')).items).toHaveLength(runs)

    const reverted = await runCli(['revert', runId, ...reasonArgs, '--yes', '--follow'], { env: asAdmin })
    expect(reverted.code, reverted.stderr).toBe(0)
    const revertId = new RegExp(`^Run (${RUN_ID.source}) started \\(queued\\): reverts ${runId}$`, 'm').exec(reverted.stdout)?.[1]
    expect(revertId, reverted.stdout).toBeDefined()
    expect(reverted.stdout).toContain(`Run ${revertId} completed: succeeded`)
    expect(reverted.stdout).toMatch(new RegExp(`^Counts: total ${changed}, processed ${changed}, updated ${changed}, skipped 0`, 'm'))
    expect(reverted.stdout).not.toContain('Verification')

    const revertShown = await runCli(['run', revertId!], { env: asAdmin })
    expect(revertShown.code, revertShown.stderr).toBe(0)
    expect(revertShown.stdout).toMatch(new RegExp(`^Revert of\\s+${runId}$`, 'm'))
    expect(revertShown.stdout).toMatch(new RegExp(`^Counts\\s+.*updated ${changed}, skipped 0`, 'm'))
    expect(revertShown.stdout).not.toMatch(/^Canary/m)

    // A run is reverted once: the second is refused naming why (409 → 2), and nothing is started.
    const twice = await runCli(['revert', runId, ...reasonArgs, '--yes'], { env: asAdmin })
    expect(twice.code).toBe(2)
    expect(twice.stderr).toMatch(new RegExp(`already reverted by run ${revertId}`))
    expect((await apiGet('/api/runs?limit=200')).items).toHaveLength(runs + 1)
  }, 120_000)
})
