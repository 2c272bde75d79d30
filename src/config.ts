import { z } from 'zod'
import { EMAIL_SHAPE } from './auth/email.js'
import { InvalidAllowedHostError, parseAllowedHosts, type WebhookHostPolicy } from './commands/alert-destinations-hosts.js'

const booleanFlag = z
  .enum(['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off'])
  .transform((v) => ['1', 'true', 'yes', 'on'].includes(v))

const configSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().default('0.0.0.0'),
  ROLE: z.enum(['all', 'api', 'worker', 'projector']).default('all'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// connection string')
    .optional(),
  DATA_DIR: z.string().min(1).default('./data'),
  EVENTSTORE_URL: z
    .string()
    .regex(/^(esdb|kurrentdb|kurrent|kdb)(\+discover)?:\/\//, 'must be an esdb:// or kurrentdb:// connection string')
    .optional(),
  NATS_URL: z.string().regex(/^(nats|tls):\/\//, 'must be a nats:// connection string').optional(),
  /** One JetStream stream per deployment: two deployments sharing one would take each other's jobs. */
  NATS_STREAM: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, - or _').default('RUNBOOK_JOBS'),
  OPS_DEMO_SEED: booleanFlag.optional(),
  // Lenient on purpose (admin@localhost is a fine address on a closed network); a short password is
  // accepted with a warning at start rather than refused, so an operator is never locked out of a first run.
  OPS_BOOTSTRAP_ADMIN_EMAIL: z.string().regex(EMAIL_SHAPE, 'must be an email address').optional(),
  OPS_BOOTSTRAP_ADMIN_PASSWORD: z.string().min(1).optional(),
  /** Public base URL of the console, used in alert links. */
  PUBLIC_URL: z.url().optional(),
  /** Reverse proxies in front of the service whose X-Forwarded-For is trusted (0: use the socket address). */
  TRUST_PROXY_HOPS: z.coerce.number().int().min(0).max(10).default(0),
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
  /**
   * Tenant repairs all worker processes of the deployment run at once: a run's default `maxConcurrency`
   * (SPEC §9). Unset: one process's WORKER_CONCURRENCY.
   */
  WORKER_CAPACITY: z.coerce.number().int().min(1).max(1000).optional(),
  TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).default(8 * 3600),
  RECONCILER_STALE_AFTER_MS: z.coerce.number().int().min(100).default(120_000),
  RECONCILER_INTERVAL_MS: z.coerce.number().int().min(100).default(15_000),
  /**
   * How long a tenant job may go without news from its worker before the queue hands it to another: the
   * worker repairing it sends a heartbeat every third of it, so only a dead or cut-off worker's jobs wait
   * this long (ISSUE 8: seconds, not a minute).
   */
  JOB_ACK_WAIT_MS: z.coerce.number().int().min(1_000).max(600_000).default(10_000),
  /** Graceful shutdown's bound: stop taking jobs, finish or hand back those in flight, flush, exit. */
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
  /** SPEC §11: how long a run's before-images are kept (it can be reverted until then); purged after. */
  OPS_BEFORE_IMAGE_DAYS: z.coerce.number().int().min(1).max(3650).default(30),
  /** SPEC §12: when set, GET /metrics needs it as a bearer token (from anywhere); unset, loopback clients only. */
  METRICS_TOKEN: z.string().min(1).optional(),
  /** SPEC §12: host names and CIDR ranges webhooks may point at (comma-separated); unset: any host. */
  OPS_WEBHOOK_ALLOWED_HOSTS: z
    .string()
    .superRefine((value, ctx) => {
      try {
        parseAllowedHosts(value)
      } catch (error) {
        if (!(error instanceof InvalidAllowedHostError)) throw error
        ctx.addIssue({ code: 'custom', message: error.message })
      }
    })
    .optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  NODE_ENV: z.string().optional(),
})

export type Config = z.infer<typeof configSchema> & {
  /** Seed the demo data: on by default only for the embedded database (SPEC §8). */
  demoSeed: boolean
  publicUrl: string
  /** OPS_WEBHOOK_ALLOWED_HOSTS parsed; null: any host. */
  webhookHostPolicy: WebhookHostPolicy | null
}

export class ConfigError extends Error {}

/** Validates the environment; a bad value stops the process with a message naming the variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''))
  const parsed = configSchema.safeParse(present)
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`)
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`)
  }
  const config = parsed.data
  if (Boolean(config.OPS_BOOTSTRAP_ADMIN_EMAIL) !== Boolean(config.OPS_BOOTSTRAP_ADMIN_PASSWORD)) {
    throw new ConfigError(
      'invalid configuration:\n  OPS_BOOTSTRAP_ADMIN_EMAIL and OPS_BOOTSTRAP_ADMIN_PASSWORD must be set together',
    )
  }
  if (config.ROLE !== 'all' && (!config.DATABASE_URL || !config.NATS_URL)) {
    // The embedded database and the in-process queue live inside one process: roles cannot be split over them.
    throw new ConfigError(
      `invalid configuration:\n  ROLE: '${config.ROLE}' runs one role in its own process, which needs DATABASE_URL and NATS_URL (shared by all roles)`,
    )
  }
  return {
    ...config,
    demoSeed: config.OPS_DEMO_SEED ?? !config.DATABASE_URL,
    publicUrl: config.PUBLIC_URL ?? `http://localhost:${config.PORT}`,
    webhookHostPolicy: config.OPS_WEBHOOK_ALLOWED_HOSTS ? parseAllowedHosts(config.OPS_WEBHOOK_ALLOWED_HOSTS) : null,
  }
}
