import { advisoryLockKeys } from './advisory-locks.js'
import type { Sql, TransactionSql } from './database.js'
import { seededRandom } from './seeded-random.js'

/**
 * Demo and benchmark data for the platform's `tenants` and `findings` tables (SPEC §1). The tables must
 * exist (`platformSchema`). The demo data is deterministic — a seeded PRNG over a fixed base date — so two
 * fresh installs show the same tenants and the same preflight numbers.
 */

const SEED_LOCK_KEY = advisoryLockKeys.demoSeed
const DAY_MS = 24 * 3_600_000
const INSERT_CHUNK = 1_000

export interface DemoSeedOptions {
  /** PRNG seed; the same seed gives the same data. */
  seed?: number
  /** The "now" the findings' timestamps count back from. */
  baseDate?: Date
}

export const DEMO_PLATFORM_TENANT_ID = 1
export const DEMO_ARCHIVED_TENANT_ID = 26
/** The one demo tenant holding a finding with an invalid severity, so its repair fails with INVALID_DATA. */
export const DEMO_INVALID_TENANT_NAME = 'Umbrella Corp (legacy import)'
const DEFAULT_BASE_DATE = new Date('2025-06-02T09:00:00Z')
const DEFAULT_SEED = 20_250_602

/** Active tenants; tenant i (0-based) gets id and workspace i + 2. */
const ACTIVE_TENANT_NAMES = [
  'Acme Logistics',
  'Globex Retail',
  'Initrode Health',
  'Northwind Traders',
  'Contoso Pharmaceuticals',
  'Fabrikam Manufacturing',
  'Wayne Enterprises',
  'Stark Industries',
  'Hooli Cloud',
  'Pied Piper',
  'Tyrell Biotech',
  'Cyberdyne Systems',
  'Soylent Foods',
  'Vandelay Industries',
  'Wonka Confectionery',
  'Oscorp Research',
  DEMO_INVALID_TENANT_NAME,
  'Massive Dynamic',
  'Aperture Laboratories',
  'Blue Sun Shipping',
  'Gringotts Banking',
  'Monarch Solutions',
  'Dunder Mifflin Paper',
  'Zorg Aerospace',
]

const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info']
const STATUSES = [
  'open', 'acknowledged', 'fixed', 'closed', // legacy
  'new', 'triaged', 'in_progress', 'resolved', 'risk_accepted', // canonical
  'reopened', // unknown: left alone
]
const FINGERPRINT_SOURCES = [
  'CVE-2024-3094:xz-utils',
  'CVE-2023-44487:http2-rapid-reset',
  'CVE-2021-44228:log4j-core',
  'sast:sql-injection:api/orders',
  'sast:xss:web/search',
  'secrets:aws-access-key:deploy.yml',
  'iac:s3-bucket-public:terraform/storage',
  'iac:open-security-group:terraform/network',
  'dependency:lodash-prototype-pollution',
  'container:root-user:Dockerfile',
  'tls:weak-cipher:edge-gateway',
  'config:debug-enabled:billing-service',
]

interface DemoFinding {
  id: number
  tenant_id: number
  fingerprint: string
  severity: string
  status: string
  first_seen_at: Date | null
  last_seen_at: Date | null
  times_seen: number | null
  sla_due_at: Date | null
  resolved_at: Date | null
  resolved_reason: string | null
  duplicate_of_id: number | null
  created_at: Date
  updated_at: Date
}


/** Seeds the demo tenants and findings; does nothing when `tenants` already has rows. True when it seeded. */
export async function seedDemo(sql: Sql, options: DemoSeedOptions = {}): Promise<boolean> {
  return sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${SEED_LOCK_KEY})`
    const [existing] = await tx<Array<{ present: boolean }>>`select exists (select 1 from tenants) as present`
    if (existing?.present) return false
    const { tenants, findings } = buildDemoData(options.seed ?? DEFAULT_SEED, options.baseDate ?? DEFAULT_BASE_DATE)
    await tx`insert into tenants ${tx(tenants)}`
    for (let start = 0; start < findings.length; start += INSERT_CHUNK) {
      await tx`insert into findings ${tx(findings.slice(start, start + INSERT_CHUNK))}`
    }
    return true
  })
}

function buildDemoData(seed: number, baseDate: Date) {
  const random = seededRandom(seed)
  const integer = (min: number, max: number) => min + Math.floor(random() * (max - min + 1))
  const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)]!
  const chance = (probability: number) => random() < probability
  const base = baseDate.getTime()
  const at = (daysAgo: number) => new Date(base - daysAgo * DAY_MS)

  const tenants = [
    { id: DEMO_PLATFORM_TENANT_ID, workspace_id: 1, name: 'Platform Operations', is_platform: true, archived_at: null },
    ...ACTIVE_TENANT_NAMES.map((name, index) => ({
      id: index + 2,
      workspace_id: index + 2,
      name,
      is_platform: false,
      archived_at: null as Date | null,
    })),
    { id: DEMO_ARCHIVED_TENANT_ID, workspace_id: 26, name: 'Initech (archived)', is_platform: false, archived_at: at(45) },
  ]

  const findings: DemoFinding[] = []
  let nextId = 1
  for (const tenant of tenants) {
    if (tenant.is_platform) continue
    const tenantFindings: DemoFinding[] = []
    const add = (overrides: Partial<DemoFinding>): DemoFinding => {
      const firstDaysAgo = integer(5, 200)
      const row: DemoFinding = {
        id: nextId++,
        tenant_id: tenant.id,
        fingerprint: `${pick(FINGERPRINT_SOURCES)}#${tenant.id}-${tenantFindings.length}`,
        severity: pick(SEVERITIES),
        status: pick(STATUSES),
        first_seen_at: chance(0.15) ? null : at(firstDaysAgo),
        last_seen_at: chance(0.15) ? null : at(Math.max(0, firstDaysAgo - integer(-3, 60))),
        times_seen: chance(0.15) ? null : integer(0, 40),
        sla_due_at: null,
        resolved_at: chance(0.2) ? at(integer(0, 4)) : null,
        resolved_reason: null,
        duplicate_of_id: null,
        created_at: at(firstDaysAgo + integer(0, 2)),
        updated_at: at(integer(0, 4)),
        ...overrides,
      }
      tenantFindings.push(row)
      return row
    }

    // One finding per rule of SPEC §2, so every tenant's preflight and repair show each of them.
    add({ status: 'open', severity: 'critical', first_seen_at: null })
    add({ status: 'acknowledged', severity: 'high', last_seen_at: null, times_seen: null })
    add({ status: 'fixed', severity: 'low', resolved_reason: null, resolved_at: null })
    add({ status: 'closed', severity: 'medium', resolved_reason: 'wont_fix', resolved_at: null })
    add({ status: 'triaged', severity: 'medium', first_seen_at: at(10), last_seen_at: at(12) })
    add({ status: 'new', severity: 'info', times_seen: 0, resolved_at: null })
    add({ status: 'resolved', severity: 'high', resolved_at: null, resolved_reason: 'fixed' })
    add({ status: 'new', severity: 'critical', resolved_at: at(1) })
    add({ status: 'in_progress', severity: 'low', sla_due_at: null, resolved_at: null })
    add({ status: 'risk_accepted', severity: 'info', resolved_at: null })
    add({ status: 'reopened', severity: 'medium' })
    // A duplicate group of three; the earliest first_seen_at comes from created_at.
    const group = `${pick(FINGERPRINT_SOURCES)}@${tenant.id}`
    add({ fingerprint: group, status: 'open', severity: 'high', first_seen_at: at(30), last_seen_at: at(2), times_seen: 4 })
    add({ fingerprint: group, status: 'new', severity: 'high', first_seen_at: null, created_at: at(41), times_seen: 2 })
    add({ fingerprint: group, status: 'acknowledged', severity: 'high', first_seen_at: at(20), last_seen_at: at(1) })
    // A tie on first_seen_at: the lower id becomes canonical.
    const tie = `tie:${pick(FINGERPRINT_SOURCES)}@${tenant.id}`
    add({ fingerprint: tie, status: 'triaged', severity: 'medium', first_seen_at: at(15), last_seen_at: at(3), times_seen: 1 })
    add({ fingerprint: tie, status: 'triaged', severity: 'medium', first_seen_at: at(15), last_seen_at: at(5), times_seen: 3 })
    // Already consolidated: the duplicate keeps pointing at its canonical and stays out of grouping.
    const consolidated = `merged:${pick(FINGERPRINT_SOURCES)}@${tenant.id}`
    const canonical = add({
      fingerprint: consolidated, status: 'triaged', severity: 'low', first_seen_at: at(50), last_seen_at: at(4),
      times_seen: 6, sla_due_at: at(50 - 90), resolved_at: null,
    })
    add({
      fingerprint: consolidated, status: 'resolved', severity: 'low', first_seen_at: at(40), last_seen_at: at(6),
      times_seen: 2, resolved_at: at(6), resolved_reason: 'duplicate', duplicate_of_id: canonical.id,
    })
    if (tenant.name === DEMO_INVALID_TENANT_NAME) add({ status: 'open', severity: 'urgent' })

    // Filler with random mess; a small fingerprint pool makes further duplicate groups happen.
    const target = integer(20, 60)
    const pool = Array.from({ length: 6 }, (_, index) => `${pick(FINGERPRINT_SOURCES)}~${tenant.id}-${index}`)
    while (tenantFindings.length < target) add(chance(0.25) ? { fingerprint: pick(pool) } : {})
    findings.push(...tenantFindings)
  }
  return { tenants, findings }
}

export interface BenchSeedOptions {
  tenants: number
  findingsPerTenant: number
}

/**
 * Appends `tenants` synthetic tenants with `findingsPerTenant` messy findings each, set-based
 * (generate_series), after the highest existing ids. Every tenant is repairable (valid severities); about a
 * fifth of each tenant's findings share a fingerprint with another. Returns the new tenant ids.
 */
export async function seedBenchTenants(sql: Sql, options: BenchSeedOptions): Promise<number[]> {
  const { tenants, findingsPerTenant } = options
  if (!Number.isInteger(tenants) || tenants < 0 || !Number.isInteger(findingsPerTenant) || findingsPerTenant < 0) {
    throw new RangeError('tenants and findingsPerTenant must be non-negative integers')
  }
  return sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${SEED_LOCK_KEY})`
    const [start] = await tx<Array<{ tenant: string; workspace: string; finding: string }>>`
      select (select coalesce(max(id), 0) + 1 from tenants)::text as tenant,
             (select coalesce(max(workspace_id), 0) + 1 from tenants)::text as workspace,
             (select coalesce(max(id), 0) + 1 from findings)::text as finding`
    const firstTenant = Number(start!.tenant)
    const firstWorkspace = Number(start!.workspace)
    const firstFinding = Number(start!.finding)
    await tx`
      insert into tenants (id, workspace_id, name)
      select ${firstTenant}::bigint + g, ${firstWorkspace}::bigint + g, 'Bench tenant ' || (${firstTenant}::bigint + g)
      from generate_series(0, ${tenants - 1}) g`
    // Insert a bounded number of tenants per statement so the embedded database's memory stays small.
    const tenantsPerStatement = Math.max(1, Math.floor(50_000 / Math.max(findingsPerTenant, 1)))
    for (let offset = 0; offset < tenants; offset += tenantsPerStatement) {
      const count = Math.min(tenantsPerStatement, tenants - offset)
      await insertBenchFindings(tx, {
        firstTenant: firstTenant + offset,
        firstFinding: firstFinding + offset * findingsPerTenant,
        tenants: count,
        findingsPerTenant,
      })
    }
    return Array.from({ length: tenants }, (_, index) => firstTenant + index)
  })
}

async function insertBenchFindings(
  tx: TransactionSql,
  range: { firstTenant: number; firstFinding: number; tenants: number; findingsPerTenant: number },
): Promise<void> {
  if (range.tenants === 0 || range.findingsPerTenant === 0) return
  const fingerprints = Math.max(1, Math.ceil(range.findingsPerTenant * 0.8))
  await tx`
    with series as (
      select t, i, timestamptz '2025-06-02 09:00:00+00' as base
      from generate_series(0, ${range.tenants - 1}) t, generate_series(0, ${range.findingsPerTenant - 1}) i
    )
    insert into findings (id, tenant_id, fingerprint, severity, status, first_seen_at, last_seen_at, times_seen,
                          sla_due_at, resolved_at, resolved_reason, duplicate_of_id, created_at, updated_at)
    select ${range.firstFinding}::bigint + t * ${range.findingsPerTenant} + i,
      ${range.firstTenant}::bigint + t,
      'bench:' || (i % ${fingerprints}),
      (array['critical', 'high', 'medium', 'low', 'info'])[1 + i % 5],
      (array['open', 'acknowledged', 'fixed', 'closed', 'new', 'triaged', 'in_progress', 'resolved', 'risk_accepted'])[1 + (i * 7) % 9],
      case when i % 10 = 0 then null else base - interval '1 hour' * (24 * (i % 97) + 5) end,
      case when i % 11 = 0 then null
           when i % 13 = 0 then base - interval '1 hour' * (24 * (i % 97) + 29)
           else base - interval '1 hour' * (24 * (i % 97) + 5) + interval '1 hour' * (i % 17) end,
      case when i % 6 = 0 then null else i % 4 end,
      null,
      case when i % 8 = 0 then base - interval '1 hour' * (i % 48) end,
      null,
      null,
      base - interval '1 hour' * (24 * (i % 120) + 7),
      base - interval '1 hour' * (i % 72)
    from series`
}
