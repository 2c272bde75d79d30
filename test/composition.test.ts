import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { composeService } from '../src/composition.js'
import { ConfigError, loadConfig } from '../src/config.js'
import { InProcessJobQueue } from '../src/queue/in-process-job-queue.js'

describe('composeService: a start that cannot listen', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'rcp-compose-'))
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }))

  it('stops what it started and gives the embedded database back, so the next start on its folder succeeds', async () => {
    const taken = createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    const port = (taken.address() as AddressInfo).port
    const env = { DATA_DIR: dataDir, HOST: '127.0.0.1', LOG_LEVEL: 'silent', OPS_DEMO_SEED: 'false' }
    try {
      await expect(composeService(loadConfig({ ...env, PORT: String(port) }), pino({ level: 'silent' }))).rejects.toBeInstanceOf(ConfigError)
    } finally {
      taken.close()
    }
    const service = await composeService(loadConfig({ ...env, PORT: '0' }), pino({ level: 'silent' }))
    try {
      expect(service.port).toBeGreaterThan(0)
      expect(await service.healthy()).toBe(true)
    } finally {
      await service.close()
    }
  }, 120_000)
})

describe('composeService: a start that fails after its roles began', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'rcp-compose-'))
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }))

  it('stops the roles it started and gives the embedded database back when the worker cannot start', async () => {
    const env = { DATA_DIR: dataDir, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'silent', OPS_DEMO_SEED: 'false' }
    const refusing = new InProcessJobQueue()
    refusing.consume = () => Promise.reject(new Error('the queue refuses consumers'))
    const failed = composeService(loadConfig(env), pino({ level: 'silent' }), { queue: refusing })
    await expect(failed).rejects.toThrow('the queue refuses consumers')
    // The embedded database's folder is held by one process at a time: a second start on it succeeds only if
    // the failed start closed its database (and stopped the projector and leaders reading through it).
    const service = await composeService(loadConfig(env), pino({ level: 'silent' }))
    try {
      expect(await service.healthy()).toBe(true)
    } finally {
      await service.close()
      await refusing.close()
    }
  }, 120_000)
})
