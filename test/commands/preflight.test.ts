import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testCatalog } from '../support/catalog.js'
import { ForbiddenError, NotFoundError, ValidationError } from '../../src/commands/errors.js'
import { preflightRunbook } from '../../src/commands/preflight.js'
import { databaseFlavours } from '../support/databases.js'
import { openCommandDatabase, operator, RUNBOOK, TENANTS, UNIVERSE, type CommandDatabase } from './command-database.js'

for (const flavour of databaseFlavours()) {
  describe(`preflightRunbook on ${flavour.name}`, () => {
    let env: CommandDatabase
    const deps = () => ({ sql: env.db.sql, log: env.log, catalog: testCatalog })

    beforeAll(async () => {
      env = await openCommandDatabase(flavour.open)
    })
    afterAll(async () => {
      await env?.close()
    })

    async function recordedPreflights() {
      const recorded = []
      for (const stream of await env.streamsWithType('PreflightRecorded')) {
        const { events } = await env.log.read(stream)
        for (const { event, metadata } of events) if (event.type === 'PreflightRecorded') recorded.push({ stream, data: event.data, metadata })
      }
      return recorded
    }

    it('counts what the runbook itself counts for one tenant, and records a PreflightRecorded event', async () => {
      const actor = operator()
      const result = await preflightRunbook(deps(), actor, { runbookKey: RUNBOOK.key, scope: 'single_tenant', tenantId: TENANTS.beta.id })
      const own = await RUNBOOK.preflightTenant(env.db.sql, TENANTS.beta.id, {})
      expect(own.affected).toBeGreaterThan(0)
      expect(result).toEqual({ affectedCount: own.affected, totalCount: own.total, estimatedTenants: 1, preflightId: expect.any(String), wouldFailTenants: [] })

      const recorded = await recordedPreflights()
      expect(recorded).toHaveLength(1)
      const [{ stream, data, metadata }] = recorded as [(typeof recorded)[number]]
      expect(stream).toBe(`preflight-${data.preflightId}`)
      const { preflightId, wouldFailTenants, ...counts } = result
      expect(data).toMatchObject({ preflightId, runbookKey: RUNBOOK.key, scope: 'single_tenant', targetTenantId: TENANTS.beta.id, result: counts, wouldFailTenants })
      expect(metadata.correlationId).toBe(data.preflightId)
      expect(metadata.initiator).toMatchObject({ kind: 'operator', platformUserId: actor.operatorId, email: actor.email, ip: actor.ip })
    })

    it('sums the universe for all tenants, never the archived or the platform tenant', async () => {
      const result = await preflightRunbook(deps(), operator(), { runbookKey: RUNBOOK.key, scope: 'all_tenants', tenantId: null })
      let affectedCount = 0
      let totalCount = 0
      for (const tenantId of UNIVERSE) {
        const own = await RUNBOOK.preflightTenant(env.db.sql, tenantId, {})
        affectedCount += own.affected
        totalCount += own.total
      }
      const { preflightId: _id, wouldFailTenants: _none, ...counts } = result
      expect(counts).toEqual({ affectedCount, totalCount, estimatedTenants: UNIVERSE.length })
      const archived = await RUNBOOK.preflightTenant(env.db.sql, TENANTS.archived.id, {})
      expect(archived.affected).toBeGreaterThan(0) // so leaving it out is visible in the sum
      const recorded = await recordedPreflights()
      expect(recorded.map((r) => r.data.scope).sort()).toEqual(['all_tenants', 'single_tenant'])
      expect(recorded.find((r) => r.data.scope === 'all_tenants')?.data).toMatchObject({ targetTenantId: null, result: counts })
    })

    it('refuses without the view or the runbook capability, outside the universe, or for an unknown runbook, and records nothing', async () => {
      const before = await env.eventCount()
      const target = { runbookKey: RUNBOOK.key, scope: 'single_tenant' as const, tenantId: TENANTS.alpha.id }
      await expect(preflightRunbook(deps(), operator({ capabilities: [RUNBOOK.requiredCapability] }), target)).rejects.toBeInstanceOf(ForbiddenError)
      await expect(preflightRunbook(deps(), operator({ capabilities: ['platform.runbooks.view'] }), target)).rejects.toBeInstanceOf(ForbiddenError)
      await expect(preflightRunbook(deps(), operator(), { ...target, tenantId: TENANTS.archived.id })).rejects.toBeInstanceOf(ValidationError)
      await expect(preflightRunbook(deps(), operator(), { ...target, tenantId: null })).rejects.toBeInstanceOf(ValidationError)
      await expect(preflightRunbook(deps(), operator(), { ...target, runbookKey: 'nope' })).rejects.toBeInstanceOf(NotFoundError)
      expect(await env.eventCount()).toBe(before)
    })
  })
}
