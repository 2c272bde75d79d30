/**
 * Bench only: prepares an embedded data folder (DATA_DIR) with the bench tenants, the way the service
 * opens its embedded database (src/composition.ts `openDatabase`: PGlite under DATA_DIR), then exits. The
 * service is then started on that folder exactly as `npm start` runs it, so that its peak RSS is the
 * service's alone (seeding runs in this separate process).
 *   DATA_DIR, BENCH_SEED_TENANTS, BENCH_SEED_FINDINGS
 */
import { openDatabase } from '../src/composition.js'
import { loadConfig } from '../src/config.js'
import { seedPlatform } from './lib/pg.js'

const config = loadConfig({ DATA_DIR: process.env.DATA_DIR, LOG_LEVEL: 'warn' })
if (config.DATABASE_URL) throw new Error('embedded-seed: DATABASE_URL must not be set')
const db = await openDatabase(config)
try {
  await seedPlatform(db.sql, { tenants: Number(process.env.BENCH_SEED_TENANTS), findings: Number(process.env.BENCH_SEED_FINDINGS) })
} finally {
  await db.close()
}
console.log('seeded')
