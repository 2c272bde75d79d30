import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { createServer, type AddressInfo } from 'node:net'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openToOthers } from './support/file-modes.js'

/**
 * `npm start` as a new user runs it: no configuration at all, a fresh data folder. The process must seed
 * the demo, print its URL and a demo operator's credentials, and serve the API with them.
 */
describe('npm start on a fresh machine (embedded default)', () => {
  let child: ChildProcessWithoutNullStreams
  let dataDir: string
  let output = ''
  let url = ''
  let email = ''
  let password = ''

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'rcp-start-'))
    const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn' }
    for (const name of ['DATABASE_URL', 'NATS_URL', 'EVENTSTORE_URL', 'OPS_BOOTSTRAP_ADMIN_EMAIL', 'OPS_BOOTSTRAP_ADMIN_PASSWORD', 'OPS_DEMO_SEED']) {
      delete env[name]
    }
    // Started as a careless unit or a bare container might: umask 000, inherited by the child (issue 7).
    const umask = process.umask(0)
    try {
      child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env })
    } finally {
      process.umask(umask)
    }
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
    const deadline = Date.now() + 90_000
    while (!/demo operator created: (\S+) \/ (\S+)/.test(output)) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`service did not start:\n${output}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    url = /listening on (http:\/\/\S+)/.exec(output)![1]!
    ;[, email, password] = /demo operator created: (\S+) \/ (\S+)/.exec(output)! as unknown as [string, string, string]
  })

  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM')
      await new Promise((resolve) => child.once('exit', resolve))
    }
    rmSync(dataDir, { recursive: true, force: true })
  })

  it('prints the URL and how to get a token, and keeps the demo credentials in the data folder', () => {
    expect(output).toContain('demo data seeded')
    expect(output).toContain('/api/auth/tokens')
    const saved = readFileSync(join(dataDir, 'demo-operator.txt'), 'utf8')
    expect(saved).toContain(email)
    expect(saved).toContain(password)
  })

  it('keeps every file of the data folder its user\'s only, started with umask 000 (issue 7)', () => {
    expect(openToOthers(dataDir)).toEqual([])
    expect(statSync(dataDir).mode & 0o777).toBe(0o700)
    expect(statSync(join(dataDir, 'demo-operator.txt')).mode & 0o777).toBe(0o600)
  })

  it('serves the API with the printed credentials: universe, preflight, and a run that completes', async () => {
    expect((await fetch(`${url}/health`)).status).toBe(200)
    const tokenResponse = await fetch(`${url}/api/auth/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password }),
    })
    expect(tokenResponse.status).toBe(201)
    const { token } = (await tokenResponse.json()) as { token: string }
    const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }
    const tenants = (await (await fetch(`${url}/api/tenants?limit=1000`, { headers: auth })).json()) as { items: unknown[] }
    expect(tenants.items.length).toBeGreaterThanOrEqual(20)

    const started = await fetch(`${url}/api/runbooks/findings.lifecycle.backfill/runs`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({
        scope: 'all_tenants',
        confirmation: 'findings.lifecycle.backfill',
        reason: { code: 'DATA_REPAIR', text: 'first run of the demo backfill' },
      }),
    })
    expect(started.status).toBe(202)
    const { runId } = (await started.json()) as { runId: string }
    let run: { status: string; outcome: string; summaryCounts: { failed: number } } | undefined
    const deadline = Date.now() + 60_000
    do {
      await new Promise((resolve) => setTimeout(resolve, 200))
      run = (await (await fetch(`${url}/api/runs/${runId}`, { headers: auth })).json()) as typeof run
    } while (run?.status !== 'completed' && Date.now() < deadline)
    expect(run).toMatchObject({ status: 'completed', outcome: 'partially_succeeded', summaryCounts: { failed: 1 } })
  })

  it('restarts on the same data folder without seeding twice', async () => {
    child.kill('SIGTERM')
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
    expect(code).toBe(0)
    output = ''
    const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn' }
    delete env.DATABASE_URL
    delete env.OPS_BOOTSTRAP_ADMIN_EMAIL
    child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env })
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
    const deadline = Date.now() + 90_000
    while (!output.includes('listening on')) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`service did not restart:\n${output}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(output).not.toContain('demo data seeded')
    expect(output).toContain('demo-operator.txt')
  })

  it('says in a sentence that its port is taken, naming PORT, without a stack trace', async () => {
    const taken = createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    const port = (taken.address() as AddressInfo).port
    const otherDataDir = mkdtempSync(join(tmpdir(), 'rcp-port-taken-'))
    try {
      const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: otherDataDir, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' }
      delete env.DATABASE_URL
      const { code, said } = await failedStart(env)
      expect(code).toBe(1)
      expect(said).toContain(`failed to start: port ${port} on 127.0.0.1 is already in use: stop what listens there, or set PORT to another`)
      expect(said).not.toMatch(/\n\s+at /)
    } finally {
      taken.close()
      rmSync(otherDataDir, { recursive: true, force: true })
    }
  }, 90_000)

  it('says where a start-up failure happened (its class and stack frames), never what it quoted', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: 'postgres://u:s3cret-start-pw@127.0.0.1:1/x', PORT: '0', HOST: '127.0.0.1' }
    const { code, said } = await failedStart(env)
    expect(code).toBe(1)
    expect(said).toContain('failed to start:')
    expect(said).toMatch(/\n\s+at .*database\.ts/)
    expect(said).not.toContain('s3cret-start-pw')
  }, 60_000)
})

/** Runs the service to its end (a start that fails), with what it printed on both streams. */
async function failedStart(env: NodeJS.ProcessEnv): Promise<{ code: number | null; said: string }> {
  const failing = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env })
  let said = ''
  failing.stdout.on('data', (chunk: Buffer) => (said += chunk.toString()))
  failing.stderr.on('data', (chunk: Buffer) => (said += chunk.toString()))
  const code = await new Promise<number | null>((resolve) => failing.once('exit', resolve))
  return { code, said }
}
