import { jsx } from 'hono/jsx'
import { describe, expect, it } from 'vitest'
import { RunCanary, type RunCanaryProps } from '../../../src/http/console/pages/run-canary.js'
import { RunRevert } from '../../../src/http/console/pages/run-revert.js'
import { offersRevert, readRevertForm, revertInputOf } from '../../../src/http/console/run-revert.js'
import { readStartForm, toStartRunInput } from '../../../src/http/console/start-form.js'

/**
 * SPEC §11 canary and revert, the console's own parts without a service: the start form's canary fields as
 * startRun's `canary`, the run page's canary section in each state, and when the revert form is offered.
 */

const names = new Map([
  [2, 'Acme Logistics'],
  [3, 'Globex'],
])
const startFields = { scope: 'all_tenants', confirmation: 'findings.lifecycle.backfill', reasonCode: '', reasonText: '' }
const start = (body: Record<string, string>) => toStartRunInput('findings.lifecycle.backfill', readStartForm({ ...startFields, ...body }))
const pause = (reasonCode: string) => ({ reasonCode, reasonText: 'canary', by: 'system', byEmail: null, byName: null, at: '2025-06-02T09:00:00.000Z' })

async function renderCanary(run: RunCanaryProps['run']): Promise<string> {
  return String(await jsx(RunCanary, { run, tenantNames: names }).toString())
}

/** The opening tag of the element with this id. */
const tagOf = (html: string, id: string) => new RegExp(`<[a-z]+ [^>]*id="${id}"[^>]*>`).exec(html)?.[0] ?? ''

describe('console start form: canary (SPEC §11)', () => {
  it('asks for no canary unless one is chosen (and when the fieldset is not sent at all)', () => {
    expect(start({})).toEqual({ input: expect.not.objectContaining({ canary: expect.anything() }) })
    expect(start({ canaryMode: 'none', canaryCount: '3', canaryAutoPromote: 'on' })).toEqual({ input: expect.not.objectContaining({ canary: expect.anything() }) })
  })

  it('sends the chosen kind only, with auto-promote from the checkbox', () => {
    expect(start({ canaryMode: 'count', canaryCount: ' 2 ', canaryTenants: 'ignored' })).toEqual({
      input: expect.objectContaining({ canary: { count: 2, autoPromote: false } }),
    })
    expect(start({ canaryMode: 'tenants', canaryTenants: '2, #5,Globex (#3)', canaryAutoPromote: 'on' })).toEqual({
      input: expect.objectContaining({ canary: { tenantIds: [2, 5, 3], autoPromote: true } }),
    })
    // Ranges are the command's: 0 and an empty list go to it, which names canary.count / canary.tenantIds.
    expect(start({ canaryMode: 'count', canaryCount: '0' })).toEqual({ input: expect.objectContaining({ canary: { count: 0, autoPromote: false } }) })
    expect(start({ canaryMode: 'tenants', canaryTenants: ' , ' })).toEqual({ input: expect.objectContaining({ canary: { tenantIds: [], autoPromote: false } }) })
  })

  it('refuses what is not a number or a list of ids, naming the field as the command does', () => {
    expect(start({ canaryMode: 'count', canaryCount: 'two' })).toEqual({ problems: [{ field: 'canary.count', message: 'must be a whole number' }] })
    expect(start({ canaryMode: 'count', canaryCount: '' })).toEqual({ problems: [{ field: 'canary.count', message: 'must be a whole number' }] })
    expect(start({ canaryMode: 'tenants', canaryTenants: '2, acme' })).toEqual({
      problems: [{ field: 'canary.tenantIds', message: 'must be tenant ids separated by commas, e.g. 2, 5' }],
    })
    expect(start({ canaryMode: 'some' })).toEqual({ problems: [{ field: 'canary', message: 'must be none, the smallest tenants or these tenant ids' }] })
    expect(start({ canaryMode: 'tenants', canaryTenants: '2\u0000' })).toMatchObject({
      problems: expect.arrayContaining([{ field: 'canary.tenantIds', message: 'contains characters that cannot be stored' }]),
    })
  })
})

describe('console run page: canary section (SPEC §11)', () => {
  it('shows nothing for a run without a canary', async () => {
    expect(await renderCanary({ status: 'running', pause: null, canary: null })).toBe('')
  })

  it('lists the canary tenants by name (by id when unknown), auto-promote and the running state, notes hidden', async () => {
    const html = await renderCanary({ status: 'running', pause: null, canary: { tenantIds: [3, 2, 9], autoPromote: false, state: 'running' } })
    expect(html).toContain('<h2 id="canary-title">Canary</h2>')
    expect(html).toContain('<li>Globex (#3)</li><li>Acme Logistics (#2)</li><li>#9</li>')
    expect(html).toMatch(/id="run-canary-state"[^>]*>running</)
    expect(html).toContain('No: the run waits for an operator to resume it once the canary succeeded')
    expect(tagOf(html, 'run-canary-complete')).toContain('hidden')
    expect(tagOf(html, 'run-canary-failed')).toContain('hidden')
  })

  it('tells an operator to look and resume when paused CANARY_COMPLETE', async () => {
    const html = await renderCanary({ status: 'paused', pause: pause('CANARY_COMPLETE'), canary: { tenantIds: [2], autoPromote: false, state: 'passed' } })
    expect(html).toMatch(/class="badge ok" data-badge="canary">passed</)
    expect(tagOf(html, 'run-canary-complete')).not.toContain('hidden')
    expect(html).toContain('The canary tenants succeeded</strong> — look at their results below, then Resume to repair the rest.')
    expect(tagOf(html, 'run-canary-failed')).toContain('hidden')
  })

  it('warns when paused CANARY_FAILED', async () => {
    const html = await renderCanary({ status: 'paused', pause: pause('CANARY_FAILED'), canary: { tenantIds: [2, 3], autoPromote: true, state: 'failed' } })
    expect(html).toMatch(/class="badge danger" data-badge="canary">failed</)
    expect(tagOf(html, 'run-canary-failed')).toMatch(/class="alert warn"/)
    expect(tagOf(html, 'run-canary-failed')).not.toContain('hidden')
    expect(tagOf(html, 'run-canary-complete')).toContain('hidden')
    expect(html).toContain('Yes: the run goes on by itself once the canary succeeded')
  })

  it('shows a passed canary of a run resumed or promoted since without any note', async () => {
    const html = await renderCanary({ status: 'completed', pause: null, canary: { tenantIds: [2], autoPromote: true, state: 'passed' } })
    expect(html).toMatch(/data-badge="canary">passed</)
    expect(tagOf(html, 'run-canary-complete')).toContain('hidden')
    expect(tagOf(html, 'run-canary-failed')).toContain('hidden')
  })
})

describe('console run page: revert (SPEC §11)', () => {
  const completed = { status: 'completed', summaryCounts: { updated: 3 }, context: {} }

  it('is offered for a completed run that changed something, not reverted, to an operator who may run it', () => {
    expect(offersRevert(completed, null, null, true)).toBe(true)
    expect(offersRevert(completed, null, null, false)).toBe(false)
    expect(offersRevert(completed, '01JREVERTRUNXXXXXXXXXXXXXX', null, true)).toBe(false)
    expect(offersRevert({ ...completed, summaryCounts: { updated: 0 } }, null, null, true)).toBe(false)
    expect(offersRevert({ ...completed, summaryCounts: {} }, null, null, true)).toBe(false)
    expect(offersRevert({ ...completed, status: 'running' }, null, null, true)).toBe(false)
    // As the command takes one: again after a revert that did not happen, not after one that did.
    for (const outcome of ['rejected', 'cancelled', 'failed']) expect(offersRevert(completed, '01JREVERTRUNXXXXXXXXXXXXXX', { outcome }, true)).toBe(true)
    expect(offersRevert(completed, '01JREVERTRUNXXXXXXXXXXXXXX', { outcome: 'succeeded' }, true)).toBe(false)
  })

  it('reads the form as revertRun input: confirmation as typed without its blanks (revertRun judges it), no reason when both fields are empty, source system_ui', () => {
    expect(revertInputOf(readRevertForm({ confirmation: ' revert X ', reasonCode: '', reasonText: ' ' }))).toEqual({
      confirmation: 'revert X',
      reason: null,
      source: 'system_ui',
    })
    expect(revertInputOf(readRevertForm({ confirmation: 'revert X', reasonCode: 'INCIDENT', reasonText: 'wrong data', source: 'api' }))).toEqual({
      confirmation: 'revert X',
      reason: { code: 'INCIDENT', text: 'wrong data' },
      source: 'system_ui',
    })
  })

  it('renders the form closed, asking for `revert <runId>` and a reason; a refused one open with the problems beside the fields', async () => {
    const runId = '01JRUNXXXXXXXXXXXXXXXXXXXX'
    const props = { runId, csrfToken: 'token', updated: 3, unit: 'findings', halted: false }
    const closed = String(await jsx(RunRevert, { ...props, attempt: null }).toString())
    expect(closed).toContain(`<form method="post" action="/system/ops/runs/${runId}/revert" novalidate="">`)
    expect(closed).toContain(`Confirmation: type <code>revert ${runId}</code>`)
    expect(closed).toContain('(3 findings)')
    expect(closed).not.toMatch(/<details[^>]* open/)
    const refused = String(
      await jsx(RunRevert, {
        ...props,
        attempt: {
          values: { confirmation: 'revert', reasonCode: '', reasonText: '' },
          problems: [
            { field: 'confirmation', message: `must be exactly "revert ${runId}"` },
            { field: 'reason', message: 'is required for a revert' },
          ],
        },
      }).toString(),
    )
    expect(refused).toMatch(/<details[^>]* open/)
    expect(refused).toMatch(/id="revert-confirmation"[^>]* value="revert" aria-invalid="true"/)
    expect(refused).toContain(`<p class="field-error" id="revert-confirmation-error" aria-live="polite">Confirmation must be exactly &quot;revert ${runId}&quot;</p>`)
    expect(refused).toContain('<p class="field-error" id="revert-reason-text-error" aria-live="polite">Reason is required for a revert</p>')
  })
})
