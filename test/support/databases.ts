import postgres from 'postgres'
import { connectPostgres, startEmbedded, type Database } from '../../src/db/database.js'

/** Set by `.ci/run`: the PostgreSQL server the integration suites use. Unset → those suites are not collected. */
export const TEST_POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? ''
/** Set by `.ci/run`: the NATS JetStream server the integration suites use. */
export const TEST_NATS_URL = process.env.TEST_NATS_URL ?? ''

let counter = 0

/** A brand-new, empty database on the test PostgreSQL server, dropped by `close()`. */
export async function freshPostgresDatabase(): Promise<Database> {
  if (!TEST_POSTGRES_URL) throw new Error('TEST_POSTGRES_URL is not set')
  const name = `t_${process.pid}_${Date.now().toString(36)}_${counter++}`
  const admin = postgres(TEST_POSTGRES_URL, { max: 1, onnotice: () => {} })
  await admin.unsafe(`create database ${name}`)
  await admin.end()
  const url = new URL(TEST_POSTGRES_URL)
  url.pathname = `/${name}`
  const db = await connectPostgres(url.toString())
  return {
    ...db,
    async close() {
      await db.close()
      const dropper = postgres(TEST_POSTGRES_URL, { max: 1, onnotice: () => {} })
      await dropper.unsafe(`drop database if exists ${name} with (force)`)
      await dropper.end()
    },
  }
}

/** A brand-new in-memory embedded PostgreSQL. */
export function freshEmbeddedDatabase(): Promise<Database> {
  return startEmbedded(null)
}

/** The database flavours a contract suite runs against in this environment. */
export function databaseFlavours(): Array<{ name: string; open: () => Promise<Database> }> {
  const flavours = [{ name: 'embedded (PGlite)', open: freshEmbeddedDatabase }]
  if (TEST_POSTGRES_URL) flavours.push({ name: 'PostgreSQL', open: freshPostgresDatabase })
  return flavours
}
