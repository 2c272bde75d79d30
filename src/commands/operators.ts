import { ulid } from 'ulid'
import { capabilities } from '../auth/capabilities.js'
import {
  countEnabledHolders,
  findOperatorRecord,
  insertOperatorRecord,
  listOperatorRecords,
  OperatorEmailTakenError,
  revokeCredentials,
  setPasswordHash,
  updateOperatorRecord,
  verifyOperatorPassword,
  type OperatorRecord,
} from '../auth/operator-store.js'
import { defaultScryptParams, hashPassword, type ScryptParams } from '../auth/password-hash.js'
import type { Sql, TransactionSql } from '../db/database.js'
import { streams, type DomainEvent } from '../events/index.js'
import type { EventLog } from '../store/event-log.js'
import { initiatorOf, requireCapabilities, type Actor } from './actor.js'
import { ConflictError, NotFoundError, ValidationError } from './errors.js'
import {
  decideCreateOperator,
  decideSetPassword,
  decideUpdateOperator,
  evolveOperator,
  type OperatorChanges,
  type OperatorState,
} from './operator/operator-decider.js'

/**
 * SPEC §10 operator administration: load, decide (src/commands/operator/operator-decider.ts), then write
 * the operators table (the credential store) and append the events in one transaction when the events
 * live in the same database. Credentials of a disabled operator, or one whose password was set, are
 * revoked in that transaction: their next request is refused in every process.
 */
export interface OperatorCommandDeps {
  sql: Sql
  log: EventLog
  /** Every capability an operator can hold: the base ones and each runbook's. */
  knownCapabilities: readonly string[]
  hashParams?: ScryptParams
}

export async function listOperators(deps: OperatorCommandDeps, actor: Actor): Promise<OperatorRecord[]> {
  requireCapabilities(actor, [capabilities.operatorsManage])
  return listOperatorRecords(deps.sql)
}

/** The actor's own record (SPEC §10 `GET /api/me`). */
export async function me(deps: Pick<OperatorCommandDeps, 'sql'>, actor: Actor): Promise<OperatorRecord> {
  const record = await findOperatorRecord(deps.sql, actor.operatorId)
  if (!record) throw new NotFoundError('operator', actor.operatorId)
  return record
}

export async function createOperator(
  deps: OperatorCommandDeps,
  actor: Actor,
  input: { email: string; name: string; password: string; capabilities: string[]; isBreakGlass?: boolean | undefined },
): Promise<OperatorRecord> {
  requireCapabilities(actor, [capabilities.operatorsManage])
  const id = ulid()
  const events = decideCreateOperator({
    id,
    ...input,
    isBreakGlass: input.isBreakGlass ?? false,
    knownCapabilities: deps.knownCapabilities,
    at: new Date().toISOString(),
  })
  const created = events[0]!
  if (created.type !== 'OperatorCreated') throw new Error('OperatorCreated expected')
  // Hashed before the transaction: on the embedded database a transaction holds the only connection.
  const passwordHash = await hashPassword(input.password, deps.hashParams ?? defaultScryptParams)
  try {
    await writeAndRecord(deps, actor, id, events, async (tx) => {
      await insertOperatorRecord(tx, { id, ...created.data, passwordHash })
    })
  } catch (error) {
    if (error instanceof OperatorEmailTakenError) throw new ConflictError(`an operator with email ${created.data.email} already exists`)
    throw error
  }
  return (await findOperatorRecord(deps.sql, id))!
}

export async function updateOperator(deps: OperatorCommandDeps, actor: Actor, id: string, changes: OperatorChanges): Promise<OperatorRecord> {
  requireCapabilities(actor, [capabilities.operatorsManage])
  const state = await loadOperator(deps.sql, id)
  const events = decideUpdateOperator(state, {
    changes,
    actorId: actor.operatorId,
    knownCapabilities: deps.knownCapabilities,
    otherEnabledManagers: await countEnabledHolders(deps.sql, capabilities.operatorsManage, id),
    at: new Date().toISOString(),
  })
  if (events.length > 0) {
    const next = events.reduce(evolveOperator, state)
    await writeAndRecord(deps, actor, id, events, async (tx) => {
      await updateOperatorRecord(tx, id, { name: next.name, capabilities: [...next.capabilities], isBreakGlass: next.isBreakGlass, disabled: next.disabled })
      if (next.disabled && !state.disabled) await revokeCredentials(tx, id)
    })
  }
  return (await findOperatorRecord(deps.sql, id))!
}

/** An administrator sets an operator's password; every token and session of theirs ends. */
export async function setOperatorPassword(deps: OperatorCommandDeps, actor: Actor, id: string, input: { password: string }): Promise<OperatorRecord> {
  requireCapabilities(actor, [capabilities.operatorsManage])
  const state = await loadOperator(deps.sql, id)
  await changePassword(deps, actor, state, input.password, 'admin')
  return (await findOperatorRecord(deps.sql, id))!
}

/**
 * An operator changes their own password, proving the current one (422 naming `currentPassword` when it
 * is wrong). Every token and session of theirs ends, the one used included: they log in again.
 */
export async function changeOwnPassword(
  deps: OperatorCommandDeps,
  actor: Actor,
  input: { currentPassword: string; password: string },
): Promise<void> {
  const state = await loadOperator(deps.sql, actor.operatorId)
  if (!(await verifyOperatorPassword(deps.sql, actor.operatorId, input.currentPassword))) {
    throw new ValidationError([{ field: 'currentPassword', message: 'is not your current password' }])
  }
  await changePassword(deps, actor, state, input.password, 'self')
}

async function changePassword(deps: OperatorCommandDeps, actor: Actor, state: OperatorState, password: string, by: 'self' | 'admin') {
  const events = decideSetPassword(state, { password, by, at: new Date().toISOString() })
  const passwordHash = await hashPassword(password, deps.hashParams ?? defaultScryptParams)
  await writeAndRecord(deps, actor, state.id, events, async (tx) => {
    await setPasswordHash(tx, state.id, passwordHash)
    await revokeCredentials(tx, state.id)
  })
}

async function loadOperator(sql: Sql, id: string): Promise<OperatorState> {
  const record = await findOperatorRecord(sql, id)
  if (!record) throw new NotFoundError('operator', id)
  return record
}

/**
 * The table write and the events together: in one transaction when the events live in this database;
 * otherwise the table first, then the events (an EventStoreDB deployment may see a change without its
 * event if the process dies in between — never an event without its change).
 */
async function writeAndRecord(
  deps: OperatorCommandDeps,
  actor: Actor,
  operatorId: string,
  events: DomainEvent[],
  write: (tx: TransactionSql) => Promise<void>,
): Promise<void> {
  const streamId = streams.operator(operatorId)
  const context = { correlationId: streamId, causationId: null, initiator: initiatorOf(actor) }
  const { revision } = await deps.log.read(streamId)
  const expected = revision ?? 'any'
  if (deps.log.appendsInTransactions) {
    await deps.sql.begin(async (tx) => {
      await write(tx)
      await deps.log.appendInTransaction(tx, streamId, events, expected, context)
    })
    ;(deps.log.store as { notifyAppended?: () => void }).notifyAppended?.()
    return
  }
  await deps.sql.begin(write)
  await deps.log.append(streamId, events, expected, context)
}
