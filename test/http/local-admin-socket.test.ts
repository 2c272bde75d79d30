import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { composeService, type Service } from '../../src/composition.js'
import { loadConfig } from '../../src/config.js'
import { askServiceToRebuild, LOCAL_ADMIN_SOCKET, serveLocalAdmin } from '../../src/http/local-admin-socket.js'
import type { RebuildReport } from '../../src/projections/read-model-rebuild.js'

/**
 * SPEC §12: `npm run rebuild-projections` rebuilds the read models while the service keeps answering, on the
 * embedded default too, whose data directory only the service may open: the command asks the service, on
 * the socket the service listens on in that directory.
 */

const report: RebuildReport = { events: 3, position: '3', tables: [], same: true, durationMs: 1 }
const silent = pino({ level: 'silent' })

describe('the local admin socket', () => {
  const dirs: string[] = []
  const newDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'rcp-admin-'))
    dirs.push(dir)
    return dir
  }
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  })

  it('answers a rebuild with its report, one at a time; owner only; gone once closed; nothing listening is null', async () => {
    const dir = newDir()
    expect(await askServiceToRebuild(dir)).toBeNull()
    let finish!: () => void
    const held = new Promise<void>((resolve) => (finish = resolve))
    let rebuilds = 0
    const admin = await serveLocalAdmin(dir, async () => {
      rebuilds++
      await held
      return report
    }, silent)
    expect(admin).not.toBeNull()
    try {
      expect(statSync(join(dir, LOCAL_ADMIN_SOCKET)).mode & 0o777).toBe(0o600)
      const first = askServiceToRebuild(dir)
      await expect.poll(() => rebuilds).toBe(1)
      expect(await askServiceToRebuild(dir)).toEqual({ ok: false, error: 'this service is already rebuilding the read models' })
      finish()
      expect(await first).toEqual({ ok: true, report })
      expect(rebuilds).toBe(1)
    } finally {
      await admin!.close()
    }
    expect(existsSync(join(dir, LOCAL_ADMIN_SOCKET))).toBe(false)
    expect(await askServiceToRebuild(dir)).toBeNull()
  })

  it('replaces what a crashed owner left at the socket path, and says what a failed rebuild met', async () => {
    const dir = newDir()
    writeFileSync(join(dir, LOCAL_ADMIN_SOCKET), 'left by a crash')
    const admin = await serveLocalAdmin(dir, () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })), silent)
    try {
      const answer = await askServiceToRebuild(dir)
      expect(answer?.ok).toBe(false)
      expect(answer?.ok === false && answer.error.length).toBeGreaterThan(0)
      // In words, never the failure's own text (an address, a connection string).
      expect(JSON.stringify(answer)).not.toContain('127.0.0.1:5432')
    } finally {
      await admin!.close()
    }
  })

  it('offers no socket where there can be none (a path too long) or it cannot be opened, without failing', async () => {
    const dir = join(newDir(), 'x'.repeat(120))
    expect(await serveLocalAdmin(dir, async () => report, silent)).toBeNull()
    expect(await askServiceToRebuild(dir)).toBeNull()
    const blocked = newDir()
    mkdirSync(join(blocked, LOCAL_ADMIN_SOCKET))
    expect(await serveLocalAdmin(blocked, async () => report, silent)).toBeNull()
  })
})

describe('npm run rebuild-projections beside the running embedded service', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'rcp-rebuild-'))
  let service: Service
  let token: string

  beforeAll(async () => {
    const env = {
      DATA_DIR: dataDir,
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'silent',
      OPS_DEMO_SEED: 'true',
      OPS_BOOTSTRAP_ADMIN_EMAIL: 'admin@ops.test',
      OPS_BOOTSTRAP_ADMIN_PASSWORD: 'correct horse battery staple',
    }
    service = await composeService(loadConfig(env), silent)
    const issued = await fetch(`http://127.0.0.1:${service.port}/api/auth/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: env.OPS_BOOTSTRAP_ADMIN_EMAIL, password: env.OPS_BOOTSTRAP_ADMIN_PASSWORD }),
    })
    token = ((await issued.json()) as { token: string }).token
  }, 120_000)
  afterAll(async () => {
    await service?.close()
    rmSync(dataDir, { recursive: true, force: true })
  })

  it('asks the service, which rebuilds and switches while it keeps answering; the command prints the checksums; audited', async () => {
    const get = (path: string) => fetch(`http://127.0.0.1:${service.port}${path}`, { headers: { authorization: `Bearer ${token}` } })
    const rebuilding = promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/rebuild-projections.ts'], {
      env: { ...process.env, DATA_DIR: dataDir, DATABASE_URL: '', LOG_LEVEL: 'warn' },
    })
    let done = false
    void rebuilding.finally(() => (done = true)).catch(() => {})
    const statuses: number[] = []
    while (!done) {
      statuses.push((await get('/api/runs')).status)
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
    const { stdout } = await rebuilding
    expect(stdout).toContain(`the service running on ${dataDir} rebuilt the read models`)
    expect(stdout).toContain('checksums match: the rebuilt rows equal the old ones')
    expect(statuses.length).toBeGreaterThan(0)
    expect(statuses.filter((status) => status !== 200)).toEqual([])
    await expect
      .poll(async () => ((await (await get('/api/audit?action=platform.ops.read_models.rebuilt')).json()) as { items: unknown[] }).items.length, { timeout: 10_000 })
      .toBe(1)
  }, 120_000)
})
