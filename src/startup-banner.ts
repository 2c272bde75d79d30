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
  // The rest is the API role's (seeding and operators included): a worker or projector says no more.
  if (config.ROLE !== 'all' && config.ROLE !== 'api') return lines
  if (service.demoSeeded) lines.push('  demo data seeded (tenants and findings)')
  lines.push(`  operator console: ${url}/system (log in with the operator below)`)
  if (service.bootstrapAdminCreated && config.OPS_BOOTSTRAP_ADMIN_EMAIL) lines.push(`  bootstrap operator created: ${config.OPS_BOOTSTRAP_ADMIN_EMAIL}`)
  const tokenCurl = (email: string, password: string) => [
    `  get a token:  curl -s -X POST ${url}/api/auth/tokens -H 'content-type: application/json' \\`,
    `                  -d '{"email":"${email}","password":"${password}"}'`,
  ]
  const demo = service.demoCredentials
  if (demo) lines.push(`  demo operator created: ${demo.email} / ${demo.password}   (also saved in ${demo.file})`, ...tokenCurl(demo.email, demo.password))
  else if (config.OPS_BOOTSTRAP_ADMIN_EMAIL) lines.push(...tokenCurl(config.OPS_BOOTSTRAP_ADMIN_EMAIL, '<OPS_BOOTSTRAP_ADMIN_PASSWORD>'))
  else if (config.demoSeed && existsSync(demoCredentialsFile(config))) lines.push(`  demo operator credentials: see ${demoCredentialsFile(config)}`)
  else lines.push('  no operator configured: set OPS_BOOTSTRAP_ADMIN_EMAIL and OPS_BOOTSTRAP_ADMIN_PASSWORD to create the first one')
  return lines
}
