import { OpenAPIHono } from '@hono/zod-openapi'
import { mergePath } from 'hono/utils/url'
import type { CredentialCache } from '../auth/credential-cache.js'
import { LoginRefusalMemory } from '../auth/login-refusal-memory.js'
import type { ScryptParams } from '../auth/password-hash.js'
import type { WebhookHostPolicy } from '../commands/alert-destinations-hosts.js'
import type { Sql } from '../db/database.js'
import type { EventLog } from '../store/event-log.js'
import { bearerAuthentication, type AppEnv } from './authentication.js'
import { docsRoutes } from './openapi/docs-routes.js'
import { openApiDocument, type OpenApiDocument } from './openapi/openapi-document.js'
import { adminRoutes } from './routes/admin-routes.js'
import { alertInboxRoutes, alertRoutes } from './routes/alert-routes.js'
import { auditRoutes } from './routes/audit-routes.js'
import { authRoutes } from './routes/auth-routes.js'
import { eventRoutes } from './routes/event-routes.js'
import { haltRoutes } from './routes/halt-routes.js'
import { operatorRoutes } from './routes/operator-routes.js'
import { settingsRoutes } from './routes/settings-routes.js'
import type { RunbookCatalog } from '../runbooks/catalog.js'
import { runRoutes } from './routes/run-routes.js'
import { runbookRoutes } from './routes/runbook-routes.js'

/** Where the API is mounted; the OpenAPI document names its paths from here. */
export const API_BASE_PATH = '/api'

export interface ApiDeps {
  sql: Sql
  log: EventLog
  catalog: RunbookCatalog
  tokenTtlSeconds: number
  /** This process's token → operator cache (src/auth/credential-cache.ts). */
  credentials: CredentialCache
  /** A run's `maxConcurrency` when its start names none: the deployment's worker capacity. */
  defaultMaxConcurrency: number
  /** OPS_BEFORE_IMAGE_DAYS: how long a run can be reverted (SPEC §11). */
  beforeImageDays?: number
  /** Tests: scrypt cost of passwords set through the API. */
  hashParams?: ScryptParams
  /** The login refusals in force, shared with the console login (`createApp` gives one to both); else its own. */
  loginRefusals?: LoginRefusalMemory
  /** The console's public URL (alert payloads link to it): the projection rebuild projects alerts. */
  consoleBaseUrl?: string
  /** OPS_WEBHOOK_ALLOWED_HOSTS (SPEC §12); null or absent: any host. */
  webhookHostPolicy?: WebhookHostPolicy | null
}

/**
 * Every /api route, each one registered with its OpenAPI description (src/http/routes/README.md), and the
 * document built from them at GET /api/openapi.json and GET /api/docs.
 */
export function apiRoutes(deps: ApiDeps): OpenAPIHono<AppEnv> {
  const api = new OpenAPIHono<AppEnv>()
  // No body limit here: a body is read, within MAX_BODY_BYTES, only when its route's handler asks for it
  // (request-body.ts), after the authentication and the route's capability checks.
  let document: OpenApiDocument | null = null
  // Mounted before the bearer authentication below: the document is public.
  api.route('/', docsRoutes(() => document!, mergePath(API_BASE_PATH, '/openapi.json')))
  api.route('/auth', authRoutes({ ...deps, loginRefusals: deps.loginRefusals ?? new LoginRefusalMemory() }))
  // Signed by a console alert destination's secret instead of a bearer token.
  api.route('/', alertInboxRoutes(deps))
  const authenticated = new OpenAPIHono<AppEnv>()
  authenticated.use(bearerAuthentication(deps.sql, deps.credentials))
  authenticated.route('/', runbookRoutes(deps))
  authenticated.route('/runs', runRoutes(deps))
  authenticated.route('/audit', auditRoutes(deps))
  authenticated.route('/events', eventRoutes(deps))
  authenticated.route('/halt', haltRoutes(deps))
  authenticated.route('/settings', settingsRoutes(deps))
  authenticated.route('/admin', adminRoutes({ sql: deps.sql, log: deps.log, consoleBaseUrl: deps.consoleBaseUrl ?? '' }))
  authenticated.route('/', operatorRoutes({ ...deps, knownCapabilities: deps.catalog.knownCapabilities }))
  authenticated.route('/', alertRoutes({ ...deps, hostPolicy: deps.webhookHostPolicy ?? null }))
  api.route('/', authenticated)
  // Built once every route is registered; a schema the generator cannot describe fails the start, not a request.
  document = openApiDocument(api, API_BASE_PATH)
  return api
}
