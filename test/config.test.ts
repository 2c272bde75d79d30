import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../src/config.js'

/** The error `loadConfig` throws for this environment; fails the test when it does not throw a ConfigError. */
function configError(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfig(env)
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return error as ConfigError
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`)
}

describe('loadConfig', () => {
  it('applies the defaults of SPEC §8 to an empty environment', () => {
    const config = loadConfig({})
    expect(config).toMatchObject({
      PORT: 8080,
      ROLE: 'all',
      DATA_DIR: './data',
      WORKER_CONCURRENCY: 4,
      TOKEN_TTL_SECONDS: 8 * 3600,
      RECONCILER_STALE_AFTER_MS: 120_000,
      RECONCILER_INTERVAL_MS: 15_000,
      LOG_LEVEL: 'info',
      demoSeed: true,
      publicUrl: 'http://localhost:8080',
    })
    expect(config.DATABASE_URL).toBeUndefined()
    expect(config.EVENTSTORE_URL).toBeUndefined()
    expect(config.NATS_URL).toBeUndefined()
    expect(config.OPS_BOOTSTRAP_ADMIN_EMAIL).toBeUndefined()
  })

  it('treats empty variables as unset', () => {
    const config = loadConfig({ PORT: '', DATABASE_URL: '', NATS_URL: '', OPS_DEMO_SEED: '' })
    expect(config.PORT).toBe(8080)
    expect(config.DATABASE_URL).toBeUndefined()
    expect(config.demoSeed).toBe(true)
  })

  it('parses the values it is given', () => {
    const config = loadConfig({
      PORT: '0',
      DATABASE_URL: 'postgresql://ops:secret@db:5432/ops',
      EVENTSTORE_URL: 'kurrentdb://kurrent:2113?tls=false',
      NATS_URL: 'nats://nats:4222',
      OPS_BOOTSTRAP_ADMIN_EMAIL: 'admin@example.com',
      OPS_BOOTSTRAP_ADMIN_PASSWORD: 'a long enough password',
      PUBLIC_URL: 'https://ops.example.com',
      ROLE: 'worker',
    })
    expect(config).toMatchObject({
      PORT: 0,
      DATABASE_URL: 'postgresql://ops:secret@db:5432/ops',
      EVENTSTORE_URL: 'kurrentdb://kurrent:2113?tls=false',
      NATS_URL: 'nats://nats:4222',
      OPS_BOOTSTRAP_ADMIN_EMAIL: 'admin@example.com',
      ROLE: 'worker',
      publicUrl: 'https://ops.example.com',
    })
  })

  describe('demo seed', () => {
    it('is on by default only for the embedded database', () => {
      expect(loadConfig({}).demoSeed).toBe(true)
      expect(loadConfig({ DATABASE_URL: 'postgres://localhost/ops' }).demoSeed).toBe(false)
    })

    it('follows OPS_DEMO_SEED when it is set', () => {
      expect(loadConfig({ OPS_DEMO_SEED: 'false' }).demoSeed).toBe(false)
      expect(loadConfig({ OPS_DEMO_SEED: '0' }).demoSeed).toBe(false)
      expect(loadConfig({ OPS_DEMO_SEED: 'true', DATABASE_URL: 'postgres://localhost/ops' }).demoSeed).toBe(true)
      expect(loadConfig({ OPS_DEMO_SEED: 'on', DATABASE_URL: 'postgres://localhost/ops' }).demoSeed).toBe(true)
    })

    it('refuses a value that is not a flag', () => {
      expect(configError({ OPS_DEMO_SEED: 'maybe' }).message).toContain('OPS_DEMO_SEED')
    })
  })

  describe('a bad value is a ConfigError naming the variable', () => {
    it.each([
      ['PORT', 'http'],
      ['PORT', '-1'],
      ['PORT', '65536'],
      ['PORT', '80.5'],
      ['DATABASE_URL', 'mysql://localhost/ops'],
      ['DATABASE_URL', 'localhost:5432'],
      ['NATS_URL', 'http://nats:4222'],
      ['NATS_URL', 'nats-server'],
      ['EVENTSTORE_URL', 'http://kurrent:2113'],
      ['ROLE', 'everything'],
      ['WORKER_CONCURRENCY', '0'],
      ['OPS_BOOTSTRAP_ADMIN_EMAIL', 'not-an-email'],
      ['PUBLIC_URL', 'not a url'],
      ['LOG_LEVEL', 'loud'],
    ])('%s=%s', (name, value) => {
      const env: NodeJS.ProcessEnv = { [name]: value }
      // The bootstrap pair is checked as a pair only once each value is valid on its own.
      if (name === 'OPS_BOOTSTRAP_ADMIN_EMAIL') env.OPS_BOOTSTRAP_ADMIN_PASSWORD = 'a long enough password'
      const message = configError(env).message
      expect(message).toContain(name)
    })

    it('does not echo a secret-bearing value back', () => {
      const message = configError({ DATABASE_URL: 'mysql://ops:hunter2-secret@db/ops' }).message
      expect(message).toContain('DATABASE_URL')
      expect(message).not.toContain('hunter2-secret')
    })

    it('accepts a short bootstrap password (warned about at start, never a lock-out) and a local address', () => {
      const config = loadConfig({ OPS_BOOTSTRAP_ADMIN_EMAIL: 'admin@localhost', OPS_BOOTSTRAP_ADMIN_PASSWORD: 'tiny-pw1' })
      expect(config.OPS_BOOTSTRAP_ADMIN_EMAIL).toBe('admin@localhost')
      expect(config.OPS_BOOTSTRAP_ADMIN_PASSWORD).toBe('tiny-pw1')
    })

    it('names the email when it is not an address, without echoing it', () => {
      const message = configError({ OPS_BOOTSTRAP_ADMIN_EMAIL: 'not-an-address', OPS_BOOTSTRAP_ADMIN_PASSWORD: 'whatever-pw' }).message
      expect(message).toContain('OPS_BOOTSTRAP_ADMIN_EMAIL')
      expect(message).not.toContain('whatever-pw')
    })
  })

  describe('roles', () => {
    it('a single role needs a shared database and queue; all roles in one process need neither', () => {
      expect(configError({ ROLE: 'worker' }).message).toMatch(/ROLE.*DATABASE_URL and NATS_URL/)
      expect(configError({ ROLE: 'api', DATABASE_URL: 'postgres://db/x' }).message).toContain('ROLE')
      expect(loadConfig({ ROLE: 'projector', DATABASE_URL: 'postgres://db/x', NATS_URL: 'nats://q:4222' }).ROLE).toBe('projector')
      expect(loadConfig({}).ROLE).toBe('all')
    })
  })

  describe('the bootstrap pair', () => {
    it('half of it is a ConfigError naming both variables', () => {
      for (const env of [
        { OPS_BOOTSTRAP_ADMIN_EMAIL: 'admin@example.com' },
        { OPS_BOOTSTRAP_ADMIN_PASSWORD: 'a long enough password' },
      ]) {
        const message = configError(env).message
        expect(message).toContain('OPS_BOOTSTRAP_ADMIN_EMAIL')
        expect(message).toContain('OPS_BOOTSTRAP_ADMIN_PASSWORD')
      }
    })

    it('both, or neither, are accepted', () => {
      expect(loadConfig({}).OPS_BOOTSTRAP_ADMIN_PASSWORD).toBeUndefined()
      const config = loadConfig({ OPS_BOOTSTRAP_ADMIN_EMAIL: 'admin@example.com', OPS_BOOTSTRAP_ADMIN_PASSWORD: 'a long enough password' })
      expect(config.OPS_BOOTSTRAP_ADMIN_PASSWORD).toBe('a long enough password')
    })
  })

  describe('OPS_WEBHOOK_ALLOWED_HOSTS (SPEC §12)', () => {
    it('is unset by default: any host', () => {
      expect(loadConfig({}).webhookHostPolicy).toBeNull()
    })

    it('parses host names and CIDR ranges', () => {
      const policy = loadConfig({ OPS_WEBHOOK_ALLOWED_HOSTS: 'hooks.example.com, 10.0.0.0/8' }).webhookHostPolicy
      expect(policy?.entries).toEqual(['hooks.example.com', '10.0.0.0/8'])
    })

    it('refuses an entry that is neither, naming the variable', () => {
      expect(configError({ OPS_WEBHOOK_ALLOWED_HOSTS: 'hooks.example.com,10.0.0.0/40' }).message).toContain('OPS_WEBHOOK_ALLOWED_HOSTS')
      expect(configError({ OPS_WEBHOOK_ALLOWED_HOSTS: 'not a host' }).message).toContain('OPS_WEBHOOK_ALLOWED_HOSTS')
    })
  })
})
