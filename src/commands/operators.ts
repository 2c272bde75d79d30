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
import { normalizeEmail } from '../auth/email.js'
import { defaultScryptParams, hashPassword, type ScryptParams } from '../auth/password-hash.js'
import type { Sql, TransactionSql } from '../db/database.js'
import { advisoryLockKeys } from '../db/advisory-locks.js'
import { streams, type DomainEvent, type Initiator } from '../events/index.js'
import { WrongExpectedRevisionError, type ExpectedRevision } from '../store/event-store.js'
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
import {
  decideCapabilityIntroduction,
  evolveCapabilityIntroduction,
  initialCapabilityIntroductionState,
} from './operator/capability-introduction.js'

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
    await writeAndRecord(deps, initiatorOf(actor), id, events, async (tx) => {
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
  const at = new Date().toISOString()
  const decide = (otherEnabledManagers: number) =>
    decideUpdateOperator(state, { changes, actorId: actor.operatorId, knownCapabilities: deps.knownCapabilities, otherEnabledManagers, at })
  const events = decide(await countEnabledHolders(deps.sql, capabilities.operatorsManage, id))
  if (events.length > 0) {
    const next = events.reduce(evolveOperator, state)
    await writeAndRecord(deps, initiatorOf(actor), id, events, async (tx) => {
      // Two administrators taking the capability from each other at once would each have counted the other:
      // decided again on a count taken under a lock that lets one change of operators through at a time.
      await tx`select pg_advisory_xact_lock(${advisoryLockKeys.operatorChanges})`
      decide(await countEnabledHolders(tx, capabilities.operatorsManage, id))
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
  await writeAndRecord(deps, initiatorOf(actor), state.id, events, async (tx) => {
    await setPasswordHash(tx, state.id, passwordHash)
    await revokeCredentials(tx, state.id)
  })
}

/**
 * Run on start by the API role, once the bootstrap admin exists: capabilities this release knows and the
 * deployment has not introduced yet (a runbook a new release adds) are introduced, and granted to the
 * bootstrap admin — the first operator — by the service, as an audited operator change (SPEC §10: the
 * bootstrap admin holds every capability; nobody may grant themselves one). Returns what was introduced.
 */
export async function introduceCapabilities(deps: OperatorCommandDeps): Promise<string[]> {
  const initiator: Initiator = { kind: 'system', component: 'auth' }
  const streamId = streams.capabilities()
  // Several processes may start at once: the expected revisions let one of them do it, the others re-read.
  for (let attempt = 1; ; attempt++) {
    const { events, revision } = await deps.log.read(streamId)
    const state = events.reduce(evolveCapabilityIntroduction, initialCapabilityIntroductionState)
    const [bootstrapAdmin] = await listOperatorRecords(deps.sql)
    const at = new Date().toISOString()
    const decision = decideCapabilityIntroduction(state, { known: deps.knownCapabilities, bootstrapAdmin: bootstrapAdmin ?? null, at })
    const introduced = decision.events.flatMap((event) => (event.type === 'CapabilitiesIntroduced' ? event.data.capabilities : []))
    if (introduced.length === 0) return []
    const introduction = { streamId, events: decision.events, expected: revision ?? ('no_stream' as const) }
    const granted = decision.bootstrapAdminCapabilities
    try {
      if (bootstrapAdmin && granted) {
        const changed: DomainEvent[] = [
          { type: 'OperatorCapabilitiesChanged', data: { operatorId: bootstrapAdmin.id, capabilities: granted, previous: [...bootstrapAdmin.capabilities], at } },
        ]
        // The grant and the introduction in one transaction: of processes racing, one grants, once.
        await writeAndRecord(deps, initiator, bootstrapAdmin.id, changed, async (tx) => {
          // Decided on a read outside this transaction: an administrator's change since then wins, and the
          // introduction is decided again on a fresh read.
          const current = await findOperatorRecord(tx, bootstrapAdmin.id, { forUpdate: true })
          if (!current || !sameOperator(current, bootstrapAdmin)) throw new WrongExpectedRevisionError(streams.operator(bootstrapAdmin.id), 'any', 0)
          await updateOperatorRecord(tx, bootstrapAdmin.id, { ...current, capabilities: granted })
        }, introduction)
      } else {
        await deps.log.append(streamId, decision.events, introduction.expected, { correlationId: streamId, causationId: null, initiator })
      }
      return introduced
    } catch (error) {
      if (!(error instanceof WrongExpectedRevisionError) || attempt >= 5) throw error
    }
  }
}

/**
 * SPEC §10: the first operator, made from the bootstrap credentials when no operator existed
 * (`ensureBootstrapAdmin`), is recorded like every other creation: `OperatorCreated` on its stream, by the
 * system, so the audit log shows it (`platform.operators.created`). Appended once, whichever of several
 * processes starting together gets there first, and only on a stream that has no event yet (the creation's
 * event lost to a crash, or an earlier release's creation, is recorded at a later start).
 */
export async function recordBootstrapOperator(deps: Pick<OperatorCommandDeps, 'sql' | 'log'>, email: string): Promise<void> {
  const record = (await listOperatorRecords(deps.sql)).find((operator) => operator.email === normalizeEmail(email))
  if (!record) return
  const streamId = streams.operator(record.id)
  const created: DomainEvent = {
    type: 'OperatorCreated',
    data: { operatorId: record.id, email: record.email, name: record.name, capabilities: [...record.capabilities], isBreakGlass: record.isBreakGlass, createdAt: record.createdAt },
  }
  try {
    await deps.log.append(streamId, [created], 'no_stream', { correlationId: streamId, causationId: null, initiator: { kind: 'system', component: 'auth' } })
  } catch (error) {
    if (!(error instanceof WrongExpectedRevisionError)) throw error
  }
}

function sameOperator(a: OperatorRecord, b: OperatorRecord): boolean {
  return a.name === b.name && a.isBreakGlass === b.isBreakGlass && a.disabled === b.disabled && a.capabilities.join('\n') === b.capabilities.join('\n')
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
  initiator: Initiator,
  operatorId: string,
  events: DomainEvent[],
  write: (tx: TransactionSql) => Promise<void>,
  /** Events of another stream that go with the change (appended last: their expected revision decides). */
  also?: { streamId: string; events: DomainEvent[]; expected: ExpectedRevision },
): Promise<void> {
  const streamId = streams.operator(operatorId)
  const context = { correlationId: streamId, causationId: null, initiator }
  const alsoContext = also ? { correlationId: also.streamId, causationId: null, initiator } : null
  const { revision } = await deps.log.read(streamId)
  const expected = revision ?? 'any'
  if (deps.log.appendsInTransactions) {
    await deps.sql.begin(async (tx) => {
      await write(tx)
      await deps.log.appendInTransaction(tx, streamId, events, expected, context)
      if (also) await deps.log.appendInTransaction(tx, also.streamId, also.events, also.expected, alsoContext!)
    })
    ;(deps.log.store as { notifyAppended?: () => void }).notifyAppended?.()
    return
  }
  await deps.sql.begin(write)
  await deps.log.append(streamId, events, expected, context)
  if (also) await deps.log.append(also.streamId, also.events, also.expected, alsoContext!)
}
