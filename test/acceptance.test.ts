import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connect } from 'nats'
import { freshPostgresDatabase, TEST_NATS_URL, TEST_POSTGRES_URL } from './support/databases.js'
import type { Database } from '../src/db/database.js'
import { runAcceptanceJourney } from './support/acceptance-journey.js'

/**
 * Issue 2's "done when", as a new user tries it: the service started as SPEC §8 says (`npm start`'s entry
 * point) against an empty PostgreSQL database and NATS, with only the bootstrap operator configured; the
 * platform's data arrives in its tables; everything else goes through the HTTP API.
 */
describe.runIf(TEST_POSTGRES_URL && TEST_NATS_URL)('acceptance: the service on PostgreSQL + NATS, driven over HTTP', () => {
  let db: Database
  let child: ChildProcessWithoutNullStreams
  let output = ''
  let url = ''
  const stream = `ACCEPT_${process.pid}_${Date.now().toString(36)}`

  beforeAll(async () => {
    db = await freshPostgresDatabase()
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DATABASE_URL: db.url,
      NATS_URL: TEST_NATS_URL,
      NATS_STREAM: stream,
      OPS_BOOTSTRAP_ADMIN_EMAIL: 'ops@example.com',
      OPS_BOOTSTRAP_ADMIN_PASSWORD: 'correct-horse-battery',
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
    }
    delete env.OPS_DEMO_SEED
    delete env.EVENTSTORE_URL
    child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env })
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
    const deadline = Date.now() + 60_000
    while (!/listening on (http:\/\/\S+)/.test(output)) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`service did not start:\n${output}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    url = /listening on (http:\/\/\S+)/.exec(output)![1]!
  })

  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM')
      await new Promise((resolve) => child.once('exit', resolve))
    }
    await db?.close()
    const nc = await connect({ servers: TEST_NATS_URL })
    await (await nc.jetstreamManager()).streams.delete(stream).catch(() => false)
    await nc.close()
  })

  it('starts on empty PostgreSQL with only the bootstrap operator: nothing seeded, the bootstrap operator created', async () => {
    expect(output).toContain('bootstrap operator created: ops@example.com')
    expect(output).not.toContain('demo data seeded')
    expect((await fetch(`${url}/health`)).status).toBe(200)
    const [count] = await db.sql<Array<{ n: number }>>`select count(*)::int as n from tenants`
    expect(count!.n).toBe(0)
  })

  it('takes a token, lists the universe, survives 16 identical starts, repairs exactly per SPEC §2, isolates the invalid tenant', async () => {
    const checks = await runAcceptanceJourney(url, db.url, 'ops@example.com', 'correct-horse-battery')
    expect(checks.filter((c) => !c.ok).map((c) => c.what)).toEqual([])
    expect(checks.length).toBeGreaterThanOrEqual(10)
  })
})
