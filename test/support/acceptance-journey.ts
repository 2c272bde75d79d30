/**
 * The "tried as a new user would" journey, runnable against any started service (test/acceptance.test.ts
 * runs it against `npm start` on PostgreSQL + NATS; by hand:
 *   npx tsx test/support/acceptance-journey.ts <baseUrl> <databaseUrl> <email> <password>)
 * Seeds the demo tenants and findings into the (empty) database, then drives the HTTP API only, and checks
 * every finding against the independent TypeScript reading of SPEC §2 (test/runbooks/lifecycle-reference.ts).
 */
import postgres from 'postgres'
import { seedDemo, DEMO_INVALID_TENANT_NAME } from '../../src/db/demo-seed.js'
import { readFindings } from '../runbooks/findings-fixture.js'
import { referenceRepair } from '../runbooks/lifecycle-reference.js'

const KEY = 'findings.lifecycle.backfill'

export interface JourneyCheck {
  ok: boolean
  what: string
}

/** Runs the journey; returns every check with its outcome (all must be ok). */
export async function runAcceptanceJourney(base: string, databaseUrl: string, email: string, password: string): Promise<JourneyCheck[]> {
  const sql = postgres(databaseUrl, { max: 2, onnotice: () => {} })
  const checks: JourneyCheck[] = []
  function check(condition: boolean, what: string): void {
    checks.push({ ok: condition, what })
  }

  async function api(path: string, init: RequestInit & { token?: string } = {}) {
    const headers: Record<string, string> = { 'content-type': 'application/json' }
    if (init.token) headers.authorization = `Bearer ${init.token}`
    const response = await fetch(`${base}${path}`, { ...init, headers })
    const text = await response.text()
    return { status: response.status, body: text ? JSON.parse(text) : null }
  }

  await seedDemo(sql as never)
  const before = await readFindings(sql as never)
  const byTenant = new Map<number, typeof before>()
  for (const f of before) byTenant.set(f.tenantId, [...(byTenant.get(f.tenantId) ?? []), f])

  const tokenResponse = await api('/api/auth/tokens', { method: 'POST', body: JSON.stringify({ email, password }) })
  check(tokenResponse.status === 201, `token issued (${tokenResponse.status})`)
  const token = tokenResponse.body.token as string

  const tenants = await api('/api/tenants?limit=1000', { token })
  const universe = tenants.body.items as Array<{ id: number; name: string }>
  check(tenants.status === 200 && universe.length === 24, `universe lists ${universe.length} tenants`)
  const invalidTenant = universe.find((t) => t.name === DEMO_INVALID_TENANT_NAME)!

  const preflight = await api(`/api/runbooks/${KEY}/preflight`, { method: 'POST', token, body: JSON.stringify({ scope: 'all_tenants' }) })
  const invalidPreflight = await api(`/api/runbooks/${KEY}/preflight`, {
    method: 'POST',
    token,
    body: JSON.stringify({ scope: 'single_tenant', tenantId: invalidTenant.id }),
  })

  const startBody = JSON.stringify({
    scope: 'all_tenants',
    confirmation: KEY,
    reason: { code: 'DATA_REPAIR', text: 'acceptance journey of the lifecycle backfill' },
  })
  const starts = await Promise.all(
    Array.from({ length: 16 }, () => api(`/api/runbooks/${KEY}/runs`, { method: 'POST', token, body: startBody })),
  )
  const accepted = starts.filter((s) => s.status === 202)
  const conflicts = starts.filter((s) => s.status === 409)
  const runId = accepted[0]?.body.runId as string
  check(accepted.length === 1 && conflicts.length === 15, `16 concurrent starts: ${accepted.length} × 202, ${conflicts.length} × 409`)
  check(conflicts.every((c) => c.body.runId === runId), '409s carry the active run id')

  let run = await api(`/api/runs/${runId}`, { token })
  check(run.status === 200, `run visible at once (${run.status}, ${run.body?.status})`)
  const started = Date.now()
  while (run.body.status !== 'completed' && Date.now() - started < 120_000) {
    await new Promise((r) => setTimeout(r, 200))
    run = await api(`/api/runs/${runId}`, { token })
  }
  const counts = run.body.summaryCounts
  check(run.body.outcome === 'partially_succeeded' && counts.failed === 1, 'partially_succeeded with failed: 1')
  // SPEC §2: on unchanged data the run's counts equal its preflight's; the tenant whose repair fails changes
  // nothing and is counted by neither (its own preview says it would fail, and counts nothing).
  check(
    counts.updated === preflight.body.affectedCount && counts.total === preflight.body.totalCount,
    `counts equal the preflight (updated ${counts.updated} / affected ${preflight.body.affectedCount}, total ${counts.total} / ${preflight.body.totalCount})`,
  )
  check(
    invalidPreflight.body.affectedCount === 0 && invalidPreflight.body.totalCount === 0 && invalidPreflight.body.wouldFailTenants.length === 1,
    'the isolated tenant would fail, and counts nothing',
  )

  const after = await readFindings(sql as never)
  const afterById = new Map(after.map((f) => [f.id, f]))
  let mismatches = 0
  for (const [tenantId, rows] of byTenant) {
    const expected = referenceRepair(rows)
    for (const { repaired } of expected.rows) {
      const actual = { ...afterById.get(repaired.id)!, updatedAt: 0 }
      const repairable = expected.invalidFindingId === null && universe.some((t) => t.id === tenantId)
      const wanted = repairable ? { ...repaired, updatedAt: 0 } : { ...rows.find((r) => r.id === repaired.id)!, updatedAt: 0 }
      if (JSON.stringify(actual) !== JSON.stringify(wanted)) mismatches++
    }
  }
  check(mismatches === 0, `every finding repaired as SPEC §2 says (${after.length} findings, ${mismatches} mismatches)`)
  const invalidBefore = JSON.stringify(byTenant.get(invalidTenant.id))
  const invalidAfter = JSON.stringify(after.filter((f) => f.tenantId === invalidTenant.id))
  check(invalidBefore === invalidAfter, 'the invalid tenant is unchanged')

  const second = await api(`/api/runbooks/${KEY}/runs`, { method: 'POST', token, body: startBody })
  let secondRun = await api(`/api/runs/${second.body.runId}`, { token })
  while (secondRun.body.status !== 'completed' && Date.now() - started < 240_000) {
    await new Promise((r) => setTimeout(r, 200))
    secondRun = await api(`/api/runs/${second.body.runId}`, { token })
  }
  check(secondRun.body.summaryCounts.updated === 0, `second run updates nothing (${secondRun.body.summaryCounts.updated})`)
  const events = await api(`/api/runs/${runId}/events`, { token })
  const types = (events.body.items as Array<{ type: string }>).map((e) => e.type)
  check(
    // The verification (SPEC §11) may already follow the completion.
    types[0] === 'RunRequested' &&
      types.filter((t) => t !== 'RunVerified').at(-1) === 'RunCompleted' &&
      types.filter((t) => t === 'RunVerified').length <= 1 &&
      (!types.includes('RunVerified') || types.at(-1) === 'RunVerified') &&
      types.filter((t) => t === 'TenantProcessed').length === 24,
    `events: ${types.length} (${types.filter((t) => t === 'TenantProcessed').length} TenantProcessed)`,
  )
  await sql.end()
  return checks
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [base, databaseUrl, email, password] = process.argv.slice(2) as [string, string, string, string]
  const checks = await runAcceptanceJourney(base, databaseUrl, email, password)
  for (const { ok, what } of checks) console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`)
  if (checks.some((c) => !c.ok)) process.exitCode = 1
}
