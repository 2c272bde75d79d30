import { jsx } from 'hono/jsx'
import { describe, expect, it } from 'vitest'
import { RunVerification, type RunVerificationProps } from '../../../src/http/console/pages/run-verification.js'

const names = new Map([
  [2, 'Acme Logistics'],
  [3, 'Globex'],
])
const verifiedAt = '2025-06-02T09:00:05.123Z'

type RunFields = Omit<RunVerificationProps['run'], 'revertOf' | 'completedAt'> & { revertOf?: string | null; completedAt?: string | null }

/** Renders the section for a run completed a minute ago unless `completedAt` says otherwise. */
async function render(run: RunFields, unit = 'findings'): Promise<string> {
  const completedAt = new Date(Date.now() - 60_000).toISOString()
  return String(await jsx(RunVerification, { run: { revertOf: null, completedAt, ...run }, unit, tenantNames: names }).toString())
}

describe('console run page: verification (SPEC §11)', () => {
  it('shows "Verified: 0 remaining" with the time for a verified run with nothing left', async () => {
    const html = await render({
      status: 'completed',
      outcome: 'succeeded',
      verification: { remaining: 0, tenantsWithRemaining: [], verifiedAt },
    })
    expect(html).toContain('<h2 id="verification-title">Verification</h2>')
    expect(html).toContain('Verified: 0 remaining')
    expect(html).toContain(`<time datetime="${verifiedAt}">2025-06-02 09:00:05 UTC</time>`)
    expect(html).not.toContain('alert warn')
  })

  it('warns of a residue in the runbook\'s unit and lists the tenants with what remains (names escaped)', async () => {
    const html = await render(
      {
        status: 'completed',
        outcome: 'partially_succeeded',
        verification: {
          remaining: 5,
          tenantsWithRemaining: [
            { tenantId: 2, remaining: 3 },
            { tenantId: 3, remaining: 1 },
            { tenantId: 9, remaining: 1 },
          ],
          verifiedAt,
        },
      },
      'invoices',
    )
    expect(html).toContain('class="alert warn"')
    expect(html).toMatch(/Verified: 5 invoices would still change/)
    expect(html).toContain('<li>Acme Logistics (#2): 3</li>')
    expect(html).toContain('<li>Globex (#3): 1</li>')
    expect(html).toContain('<li>#9: 1</li>') // a tenant no longer in the universe: its id
    expect(html).not.toContain('0 remaining')
  })

  it('says "Not verified yet" for a succeeded or partially succeeded run without verification', async () => {
    for (const outcome of ['succeeded', 'partially_succeeded'] as const) {
      const html = await render({ status: 'completed', outcome, verification: null })
      expect(html).toContain('Not verified yet')
      expect(html).not.toContain('Verified:')
    }
  })

  it('says "Not verified" without a wait for a run completed longer ago than the verifier verifies', async () => {
    const completedAt = new Date(Date.now() - 2 * 3600_000).toISOString()
    const html = await render({ status: 'completed', outcome: 'succeeded', verification: null, completedAt })
    expect(html).toContain('Not verified: the service verifies a run only within an hour of its completion')
    expect(html).not.toContain('Not verified yet')
  })

  it('shows nothing for failed, cancelled or rejected runs', async () => {
    for (const outcome of ['failed', 'cancelled', 'rejected', 'blocked'] as const) {
      expect(await render({ status: 'completed', outcome: outcome as never, verification: null })).toBe('')
    }
  })

  it('carries a hidden reload note on a live page, for the script to show once the run completes', async () => {
    const html = await render({ status: 'running', outcome: null as never, verification: null })
    expect(html).toMatch(/<p class="alert info" id="run-verification-pending" role="status" hidden="">/)
    expect(html).not.toContain('Not verified yet')
  })

  it('shows nothing for a revert run, completed or not: the service never verifies one', async () => {
    const revertOf = '01JORIGINALXXXXXXXXXXXXXXX'
    expect(await render({ status: 'completed', outcome: 'succeeded', verification: null, revertOf })).toBe('')
    expect(await render({ status: 'running', outcome: 'pending', verification: null, revertOf })).toBe('')
  })
})
