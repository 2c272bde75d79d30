/**
 * Databases the bench creates on the shared PostgreSQL: each name carries this process's tag, each is
 * registered for cleanup at creation, and only those are ever dropped.
 */
import postgres from 'postgres'
import { applyMigrations } from '../../src/db/migrations.js'
import { platformSchema } from '../../src/db/schema.js'
import { beforeImageSchema } from '../../src/db/before-images.js'
import { seedBenchTenants } from '../../src/db/demo-seed.js'
import type { Sql } from '../../src/db/database.js'
import { adminUrl, benchTag } from './env.js'
import { isInterrupted, register, type Registration } from './cleanup.js'

export function databaseUrl(name: string): string {
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return url.toString()
}

async function admin<T>(work: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {} })
  try {
    return await work(sql)
  } finally {
    await sql.end({ timeout: 5 })
  }
}

const created = new Map<string, Registration>()
let counter = 0

/** A new database named `<tag>_<suffix>`, empty or a copy of `template` (nobody may be connected to it). */
export async function createDatabase(suffix: string, template?: string): Promise<string> {
  const name = `${benchTag}_${++counter}_${suffix}`.toLowerCase()
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`bad database name ${name}`)
  if (created.has(name)) throw new Error(`database ${name} exists already`)
  // Registered before it exists: a failure half-way still drops it (only names carrying our tag).
  created.set(name, register(`database ${name}`, () => dropOwn(name)))
  await admin((sql) => sql.unsafe(`create database ${name}${template ? ` template ${template}` : ''}`))
  // Interrupted while it was being created: its cleanup may have run before it existed.
  if (isInterrupted()) await dropOwn(name)
  return name
}

async function dropOwn(name: string): Promise<void> {
  if (!name.startsWith(`${benchTag}_`)) throw new Error(`refusing to drop ${name}: not created by this bench`)
  // A template being copied cannot be dropped until the copy is made: a few tries.
  for (let attempt = 1; ; attempt++) {
    try {
      await admin((sql) => sql.unsafe(`drop database if exists ${name} with (force)`))
      return
    } catch (error) {
      if (attempt >= 5) throw error
      await new Promise((resolve) => setTimeout(resolve, 1000 * attempt))
    }
  }
}

/**
 * Drops a database this bench created (no-op for any other name), once its clients have gone (at most a few
 * seconds): the drop ends any left by force, and a client library whose closing connection is ended under it
 * may throw from an event nobody listens to (pg's, in Emmett's store, crashed the bench so).
 */
export async function dropDatabase(name: string): Promise<void> {
  const registration = created.get(name)
  if (!registration) return
  created.delete(name)
  await admin(async (sql) => {
    for (let waited = 0; waited < 5_000; waited += 50) {
      const [row] = await sql<Array<{ clients: number }>>`
        select count(*)::int as clients from pg_stat_activity where datname = ${name} and pid <> pg_backend_pid()`
      if (row!.clients === 0) return
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  })
  await registration.run()
}

/** A client of one of our databases (the caller ends it). */
export function connect(name: string, max = 10): Sql {
  return postgres(databaseUrl(name), { max, onnotice: () => {} })
}

export interface Shape {
  tenants: number
  findings: number
}

export const shapeLabel = (shape: Shape): string => `${shape.tenants}x${shape.findings}`

/**
 * The platform's tables as the service finds them in production (SPEC §1, §8: it creates its own tables
 * at start and uses these as they are), the platform tenant and `tenants` bench tenants of `findings`
 * messy findings each, analyzed. Works on PostgreSQL and on the embedded database alike.
 */
export async function seedPlatform(sql: Sql, shape: Shape): Promise<void> {
  await applyMigrations(sql, [platformSchema, beforeImageSchema])
  await sql`insert into tenants (id, workspace_id, name, is_platform) values (1, 1, 'Platform', true)`
  await seedBenchTenants(sql, { tenants: shape.tenants, findingsPerTenant: shape.findings })
  await sql`analyze`
}

/** A seeded database to copy from (CREATE DATABASE … TEMPLATE); the caller drops it when done. */
export async function seedTemplate(shape: Shape, suffix = `tpl_${shapeLabel(shape)}`): Promise<string> {
  const name = await createDatabase(suffix)
  const sql = connect(name, 2)
  try {
    await seedPlatform(sql, shape)
  } finally {
    await sql.end({ timeout: 5 })
  }
  return name
}
