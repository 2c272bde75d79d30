import { describe, expect, it } from 'vitest'
import { loadConfig } from '../src/config.js'
import { startupBanner, type StartedFacts } from '../src/startup-banner.js'

const service: StartedFacts = { port: 8080, db: { kind: 'postgres' }, demoSeeded: false, bootstrapAdminCreated: false, demoCredentials: null }
const env = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/banner',
  NATS_URL: 'nats://127.0.0.1:4222',
  OPS_BOOTSTRAP_ADMIN_EMAIL: 'admin@example.test',
  OPS_BOOTSTRAP_ADMIN_PASSWORD: 'a long enough password',
}
const bannerOf = (role: string) => startupBanner(loadConfig({ ...env, ROLE: role }), service).join('\n')

describe('the start-up banner', () => {
  it.each(['api', 'all'])('ROLE=%s points to the console and the token endpoint it serves', (role) => {
    expect(bannerOf(role)).toContain('operator console: http://localhost:8080/system')
    expect(bannerOf(role)).toContain('curl -s -X POST http://localhost:8080/api/auth/tokens')
  })

  it.each(['worker', 'projector'])('ROLE=%s points to neither (it serves /health and /metrics only)', (role) => {
    expect(bannerOf(role)).toContain(`runbook control plane (${role}) listening on http://localhost:8080`)
    expect(bannerOf(role)).not.toContain('/system')
    expect(bannerOf(role)).not.toContain('/api/auth/tokens')
    expect(bannerOf(role)).not.toContain('no operator configured')
  })
})
