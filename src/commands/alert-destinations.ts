import { randomBytes } from 'node:crypto'
import { ulid } from 'ulid'
import { CONSOLE_INBOX_PATH } from '../alerts/alert-schema.js'
import { capabilities } from '../auth/capabilities.js'
import type { Sql, TransactionSql } from '../db/database.js'
import { alertDestinationStream, type AlertDestinationKind, type DomainEvent, type Initiator } from '../events/index.js'
import { platformWorkspaceId } from '../runbooks/tenant-universe.js'
import { WrongExpectedRevisionError } from '../store/event-store.js'
import type { EventLog } from '../store/event-log.js'
import { initiatorOf, requireCapabilities, type Actor } from './actor.js'
import {
  checkedWebhookDestination,
  decideAlertDestination,
  evolveAlertDestination,
  initialAlertDestinationState,
  withoutCredentials,
  type AlertDestinationCommand,
  type AlertDestinationState,
} from './alert-destinations-decider.js'
import type { WebhookHostPolicy } from './alert-destinations-hosts.js'
import { ConflictError, NotFoundError } from './errors.js'

/**
 * SPEC §12 "Alert delivery": alert destinations of the platform workspace. Load the destination's stream,
 * decide (alert-destinations-decider.ts), then write `alert_destinations` (where the secret lives, and
 * only there) and append the event in one transaction when the events live in the same database.
 */
export interface AlertDestinationDeps {
  sql: Sql
  log: EventLog
  /** OPS_WEBHOOK_ALLOWED_HOSTS; null: any host. */
  hostPolicy: WebhookHostPolicy | null
}

/** A destination as it is shown: never its secret, only whether it has one. */
export interface AlertDestinationView {
  id: string
  kind: AlertDestinationKind
  url: string
  secretSet: boolean
  createdAt: string
}

/** The console's own destination (its inbox): one per deployment, added by the service. */
export const CONSOLE_DESTINATION_ID = 'platform-console'

export async function listAlertDestinations(deps: Pick<AlertDestinationDeps, 'sql'>, actor: Actor): Promise<AlertDestinationView[]> {
  requireCapabilities(actor, [capabilities.operatorsManage])
  return readAlertDestinations(deps.sql)
}

/** Without a capability check: for the console page, whose route checked it. */
export async function readAlertDestinations(sql: Sql): Promise<AlertDestinationView[]> {
  const rows = await sql<DestinationRow[]>`
    select id, kind, target, secret is not null as secret_set, created_at from alert_destinations
    where enabled and removed_at is null order by created_at, id`
  return rows.map(viewOf)
}

export async function addWebhookDestination(
  deps: AlertDestinationDeps,
  actor: Actor,
  input: { url: string; secret: string },
): Promise<AlertDestinationView> {
  requireCapabilities(actor, [capabilities.operatorsManage])
  const workspaceId = await platformWorkspaceId(deps.sql)
  if (workspaceId === null) throw new ConflictError('the platform has no platform tenant, so no platform workspace to send alerts for')
  // The rules (the decider's, the same for the API and the console) first: what is stored is the URL as
  // parsed and normalised, never the raw input.
  const { target } = checkedWebhookDestination(input, deps.hostPolicy)
  const id = ulid()
  const command: AlertDestinationCommand = {
    type: 'AddAlertDestination',
    id,
    kind: 'webhook',
    url: input.url,
    secret: input.secret,
    workspaceId,
    hostPolicy: deps.hostPolicy,
    at: new Date().toISOString(),
  }
  await decideAndRecord(deps, initiatorOf(actor), command, null, (tx) => insertDestination(tx, { id, workspaceId, kind: 'webhook', target, secret: input.secret, at: command.at }))
  return (await findDestination(deps.sql, id))!
}

/**
 * Removes a destination: it receives nothing more (its deliveries not yet sent are failed,
 * `DESTINATION_REMOVED`) and its secret is erased. Its row stays, so that its past deliveries still name it.
 */
export async function removeAlertDestination(deps: AlertDestinationDeps, actor: Actor, id: string): Promise<AlertDestinationView> {
  requireCapabilities(actor, [capabilities.operatorsManage])
  const before = await findDestination(deps.sql, id)
  if (!before) throw new NotFoundError('alert destination', id)
  const command: AlertDestinationCommand = { type: 'RemoveAlertDestination', id, at: new Date().toISOString() }
  // A destination of a release before these events (or written by hand) has a row and no stream: it is there.
  const [row] = await deps.sql<Array<{ workspace_id: string }>>`
    select workspace_id::text from alert_destinations where id = ${id} and enabled and removed_at is null`
  const legacy = row ? { status: 'active' as const, id, kind: before.kind, url: before.url, workspaceId: Number(row.workspace_id) } : null
  await decideAndRecord(deps, initiatorOf(actor), command, legacy, async (tx) => {
    await tx`update alert_destinations set enabled = false, removed_at = ${command.at}, secret = null where id = ${id}`
    await tx`
      update alert_deliveries set status = 'failed', last_error = 'DESTINATION_REMOVED', next_attempt_at = null, claimed_by = null, claimed_until = null
      where destination_id = ${id} and status = 'recorded'`
  })
  return { ...before, secretSet: false }
}

/**
 * The console's own destination (SPEC §5: a platform workspace's alerts reach the console): a signed
 * webhook to the service's inbox, added once by the service (an audited event, initiator the API) with a
 * random secret. Idempotent; leaves a destination an operator removed removed. False when the platform has
 * no platform tenant (alerts have no workspace to go to).
 */
export async function ensureConsoleAlertDestination(deps: Pick<AlertDestinationDeps, 'sql' | 'log'>): Promise<boolean> {
  const workspaceId = await platformWorkspaceId(deps.sql)
  if (workspaceId === null) return false
  const initiator: Initiator = { kind: 'system', component: 'api' }
  for (let attempt = 1; ; attempt++) {
    const { state } = await loadDestination(deps.log, CONSOLE_DESTINATION_ID)
    if (state.status === 'removed') return true
    const secret = randomBytes(32).toString('base64url')
    if (state.status === 'active') {
      // A secret erased by hand (or never set): a new one; the inbox checks against the row.
      await deps.sql`update alert_destinations set secret = ${secret} where id = ${CONSOLE_DESTINATION_ID} and secret is null and removed_at is null`
      return true
    }
    const at = new Date().toISOString()
    const command: AlertDestinationCommand = {
      type: 'AddAlertDestination',
      id: CONSOLE_DESTINATION_ID,
      kind: 'console',
      url: CONSOLE_INBOX_PATH,
      secret,
      workspaceId,
      hostPolicy: null,
      at,
    }
    try {
      await decideAndRecord(deps, initiator, command, null, (tx) =>
        insertDestination(tx, { id: CONSOLE_DESTINATION_ID, workspaceId, kind: 'console', target: CONSOLE_INBOX_PATH, secret, at }),
      )
      return true
    } catch (error) {
      // Processes starting together: one adds it, the others find it added (decideAndRecord decided again
      // after losing the race, and the decider refused to add it twice); the next pass sees it active.
      if (!(error instanceof ConflictError) || attempt >= 3) throw error
    }
  }
}

async function loadDestination(log: EventLog, id: string): Promise<{ state: AlertDestinationState; revision: number | null }> {
  const { events, revision } = await log.read(alertDestinationStream(id))
  return { state: events.reduce(evolveAlertDestination, initialAlertDestinationState()), revision }
}

/** Attempts of one load-decide-append before a stream that keeps changing under it is given up on. */
const MAX_ATTEMPTS = 5

/**
 * Load, decide, then the table write and the event together: in one transaction when the events live in
 * this database; otherwise the table first, then the event (as operator administration does). A writer
 * that lost the race for the stream (WrongExpectedRevisionError) loads and decides again, as
 * handle-command.ts does: the second of two removals then finds the destination removed (404), not a 500.
 */
async function decideAndRecord(
  deps: Pick<AlertDestinationDeps, 'sql' | 'log'>,
  initiator: Initiator,
  command: AlertDestinationCommand,
  /** The state when the stream is empty (a row older than the events), or null. */
  withoutStream: AlertDestinationState | null,
  write: (tx: TransactionSql) => Promise<unknown>,
): Promise<DomainEvent[]> {
  const streamId = alertDestinationStream(command.id)
  for (let attempt = 1; ; attempt++) {
    const loaded = await loadDestination(deps.log, command.id)
    const { revision } = loaded
    const state = revision === null && withoutStream ? withoutStream : loaded.state
    const events = decideAlertDestination(command, state)
    const expected = revision ?? ('no_stream' as const)
    const context = { correlationId: streamId, causationId: null, initiator }
    try {
      if (deps.log.appendsInTransactions) {
        await deps.sql.begin(async (tx) => {
          await write(tx)
          await deps.log.appendInTransaction(tx, streamId, events, expected, context)
        })
        ;(deps.log.store as { notifyAppended?: () => void }).notifyAppended?.()
      } else {
        await deps.sql.begin(write)
        await deps.log.append(streamId, events, expected, context)
      }
      return events
    } catch (error) {
      if (!(error instanceof WrongExpectedRevisionError) || attempt >= MAX_ATTEMPTS) throw error
    }
  }
}

async function insertDestination(
  tx: TransactionSql,
  row: { id: string; workspaceId: number; kind: AlertDestinationKind; target: string; secret: string; at: string },
): Promise<void> {
  // On conflict: the console's row of an earlier release (no event, no secret) becomes the inbox.
  await tx`
    insert into alert_destinations (id, workspace_id, kind, target, enabled, secret, created_at)
    values (${row.id}, ${row.workspaceId}, ${row.kind}, ${row.target}, true, ${row.secret}, ${row.at})
    on conflict (id) do update set kind = excluded.kind, target = excluded.target, enabled = true, removed_at = null,
      secret = coalesce(alert_destinations.secret, excluded.secret)`
}

interface DestinationRow {
  id: string
  kind: AlertDestinationKind
  target: string
  secret_set: boolean
  created_at: Date
}

function viewOf(row: DestinationRow): AlertDestinationView {
  return { id: row.id, kind: row.kind, url: withoutCredentials(row.target), secretSet: row.secret_set, createdAt: row.created_at.toISOString() }
}

async function findDestination(sql: Sql, id: string): Promise<AlertDestinationView | null> {
  const [row] = await sql<DestinationRow[]>`
    select id, kind, target, secret is not null as secret_set, created_at from alert_destinations where id = ${id}`
  return row ? viewOf(row) : null
}
