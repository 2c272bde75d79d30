import { existsSync } from 'node:fs'
import type { Config } from './config.js'
import { demoCredentialsFile, type Service } from './composition.js'

/** What the banner tells of a started service. */
export type StartedFacts = Pick<Service, 'port' | 'demoSeeded' | 'bootstrapAdminCreated' | 'demoCredentials'> & { db: Pick<Service['db'], 'kind'> }

/**
 * What a process says when it is up: where it listens, what it runs on, and how an operator gets in. The
 * console and the token endpoint are the API role's: a worker or projector process points to neither.
 */
export function startupBanner(config: Config, service: StartedFacts): string[] {
  const url = `http://localhost:${service.port}`
  const lines = [
    `runbook control plane (${config.ROLE}) listening on ${url}`,
    `  database: ${service.db.kind === 'embedded' ? `embedded PostgreSQL in ${config.DATA_DIR}` : 'PostgreSQL'}; ` +
      `event store: ${config.EVENTSTORE_URL ? 'EventStoreDB' : 'in the database'}; queue: ${config.NATS_URL ? 'NATS JetStream' : 'in-process'}`,
  ]
  if (service.demoSeeded) lines.push('  demo data seeded (tenants and findings)')
  const servesApi = config.ROLE === 'all' || config.ROLE === 'api'
  if (servesApi) lines.push(`  operator console: ${url}/system (log in with the operator below)`)
  if (service.bootstrapAdminCreated && config.OPS_BOOTSTRAP_ADMIN_EMAIL) lines.push(`  bootstrap operator created: ${config.OPS_BOOTSTRAP_ADMIN_EMAIL}`)
  const demo = service.demoCredentials
  if (demo) {
    lines.push(
      `  demo operator created: ${demo.email} / ${demo.password}   (also saved in ${demo.file})`,
      `  get a token:  curl -s -X POST ${url}/api/auth/tokens -H 'content-type: application/json' \\`,
      `                  -d '{"email":"${demo.email}","password":"${demo.password}"}'`,
    )
  } else if (servesApi && config.OPS_BOOTSTRAP_ADMIN_EMAIL) {
    lines.push(
      `  get a token:  curl -s -X POST ${url}/api/auth/tokens -H 'content-type: application/json' \\`,
      `                  -d '{"email":"${config.OPS_BOOTSTRAP_ADMIN_EMAIL}","password":"<OPS_BOOTSTRAP_ADMIN_PASSWORD>"}'`,
    )
  } else if (servesApi && config.demoSeed && existsSync(demoCredentialsFile(config))) {
    lines.push(`  demo operator credentials: see ${demoCredentialsFile(config)}`)
  } else if (servesApi) {
    lines.push('  no operator configured: set OPS_BOOTSTRAP_ADMIN_EMAIL and OPS_BOOTSTRAP_ADMIN_PASSWORD to create the first one')
  }
  return lines
}
