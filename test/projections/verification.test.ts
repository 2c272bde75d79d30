import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { streams, type Initiator } from '../../src/events/index.js'
import { Projector } from '../../src/projections/projector.js'
import { getRun, listAlertDeliveries } from '../../src/projections/queries.js'
import { readModelProjections } from '../../src/projections/read-model-projections.js'
import { databaseFlavours } from '../support/databases.js'
import { alice, appendCompleted, appendTenantProcessed, dispatcher, openTestBed, runRequested, type TestBed } from './fixtures.js'

/** SPEC §11: the run resource shows its verification; a verification that finds work left raises `operations.run.failed`. */

const verifier: Initiator = { kind: 'system', component: 'verifier' }

describe.each(databaseFlavours())('verification in the read models on $name', ({ open }) => {
  let bed: TestBed

  async function verifiedRun(runId: string, remaining: number): Promise<void> {
    const at = (s: number) => `2025-04-01T10:00:${String(s).padStart(2, '0')}.000Z`
    const stream = streams.run(runId)
    await bed.append(stream, runRequested({ runId, requestedAt: at(0) }), alice, at(0), runId)
    await bed.append(stream, { type: 'RunStarted', data: { runId, startedAt: at(1) } }, dispatcher, at(1), runId)
    await appendTenantProcessed(bed, runId, { tenantId: 11, result: { status: 'succeeded', total: 8, updated: 5 }, at: at(2) })
    await appendCompleted(bed, runId, { outcome: 'succeeded', summaryCounts: { total: 8, processed: 8, updated: 5, skipped: 3, failed: 0, tenants: 1 }, failureSummary: [], completedAt: at(2) })
    const tenantsWithRemaining = remaining > 0 ? [{ tenantId: 11, remaining }] : []
    await bed.append(stream, { type: 'RunVerified', data: { runId, remaining, tenantsWithRemaining, verifiedAt: at(3) } }, verifier, at(3), runId)
  }

  beforeAll(async () => {
    bed = await openTestBed(open)
    await verifiedRun('run-clean', 0)
    await verifiedRun('run-residue', 2)
    const projector = new Projector({ store: bed.store, sql: bed.sql, name: 'read-models', projections: readModelProjections({ consoleBaseUrl: 'https://ops.example.com' }) })
    await bed.settle()
    await projector.waitUntilCaughtUp()
  })
  afterAll(async () => {
    await bed.db.close()
  })

  it('shows verification {remaining, tenantsWithRemaining, verifiedAt} on the run', async () => {
    expect((await getRun(bed.sql, 'run-clean'))!.verification).toEqual({ remaining: 0, tenantsWithRemaining: [], verifiedAt: '2025-04-01T10:00:03.000Z' })
    expect((await getRun(bed.sql, 'run-residue'))!.verification).toEqual({
      remaining: 2,
      tenantsWithRemaining: [{ tenantId: 11, remaining: 2 }],
      verifiedAt: '2025-04-01T10:00:03.000Z',
    })
  })

  it('raises operations.run.failed for a residue only', async () => {
    expect(await listAlertDeliveries(bed.sql, { runId: 'run-clean' })).toEqual([])
    const residue = await listAlertDeliveries(bed.sql, { runId: 'run-residue' })
    expect(residue.length).toBeGreaterThan(0)
    expect(residue.every((d) => d.alertKey === 'operations.run.failed')).toBe(true)
  })
})
