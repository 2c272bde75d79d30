import { createHash } from 'node:crypto'
import type { Sql } from '../db/database.js'

/**
 * The audit log's hash chain (SPEC §12 "Tamper-evident audit log").
 *
 * Entry n (sequence 1, 2, 3, …) carries `previous_hash` = the hash of entry n-1 (64 zeros for the first)
 * and `hash` = SHA-256 (hex) of the UTF-8 bytes of `previous_hash` followed by the entry's canonical JSON.
 * The canonical JSON is that of exactly these fields, keys sorted recursively, no whitespace:
 *
 *   {action, actorEmail, actorUserId, context, id, occurredAt, operationRunId, sequence}
 *
 * with `occurredAt` as an ISO-8601 string in UTC with milliseconds (`Date#toISOString`). Every field is a
 * column of `audit_log`, so the verifier recomputes the hash from the stored row alone; the projection and
 * the verifier both go through `auditEntryHash`. `audit_chain_head` (one row) holds the last sequence and
 * hash: deleting the newest entries leaves it pointing past the end of the table.
 */

/** What the first entry chains from. */
export const GENESIS_HASH = '0'.repeat(64)

/** How many rows the verifier reads at a time. */
const PAGE_SIZE = 1_000

/** The hashed fields of an entry: each one a column of `audit_log`. */
export interface ChainedAuditFields {
  sequence: number
  id: string
  action: string
  /** An ISO-8601 string, or a Date; hashed as `toISOString()` (UTC, milliseconds). */
  occurredAt: string | Date
  actorUserId: string | null
  actorEmail: string | null
  operationRunId: string | null
  context: unknown
}

/** JSON with object keys sorted recursively (by UTF-16 code units, as `Array#sort`) and no whitespace. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const text = JSON.stringify(value)
    // undefined, functions and symbols have no JSON; inside an object they are left out (as JSON.stringify does).
    return text === undefined ? 'null' : text
  }
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return canonicalJson((value as { toJSON(): unknown }).toJSON())
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item === undefined ? null : item)).join(',')}]`
  const record = value as Record<string, unknown>
  const keys = Object.keys(record)
    .filter((key) => record[key] !== undefined && typeof record[key] !== 'function' && typeof record[key] !== 'symbol')
    .sort()
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key])}`).join(',')}}`
}

/** The time as hashed: UTC, milliseconds. Throws on an invalid time. */
export function canonicalTime(value: string | Date): string {
  return (value instanceof Date ? value : new Date(value)).toISOString()
}

/** The canonical JSON of an entry's hashed fields. */
export function canonicalAuditEntry(entry: ChainedAuditFields): string {
  return canonicalJson({
    sequence: entry.sequence,
    id: entry.id,
    action: entry.action,
    occurredAt: canonicalTime(entry.occurredAt),
    actorUserId: entry.actorUserId,
    actorEmail: entry.actorEmail,
    operationRunId: entry.operationRunId,
    context: entry.context,
  })
}

/** SHA-256 (hex) over the previous entry's hash and this entry's canonical JSON. */
export function auditEntryHash(previousHash: string, entry: ChainedAuditFields): string {
  return createHash('sha256').update(previousHash, 'utf8').update(canonicalAuditEntry(entry), 'utf8').digest('hex')
}

export interface AuditChainVerification {
  /** True when every entry's hash recomputes, each chains from the one before, and the head is the last. */
  ok: boolean
  /** How many entries the audit log holds. */
  entries: number
  /** The head's hash (what the next entry chains from; 64 zeros for an empty log), null when the head row is gone. */
  headHash: string | null
  /** The sequence of the first entry that is missing, altered or out of the chain; null when `ok`. */
  firstBrokenSequence: number | null
  /** What is wrong with that entry, in words; null when `ok`. */
  problem: string | null
}

interface ChainRow {
  sequence: string
  id: string
  action: string
  occurred_at: Date
  actor_user_id: string | null
  actor_email: string | null
  operation_run_id: string | null
  context: unknown
  hash: string | null
  previous_hash: string | null
  finer_than_hashed: boolean
}

/**
 * Recomputes the chain from the stored rows, a page at a time in sequence order, in one repeatable-read
 * transaction (the projector may append meanwhile: the rows and the head are read as of one moment).
 * Names the first broken entry: an altered column (its hash does not recompute), a deleted entry (a gap
 * in the sequences, named by the missing sequence), an entry inserted by hand (its previous hash or its
 * hash does not fit, or it lies past the head, or it has no sequence), the newest entries deleted (the
 * head points past the last entry) and an edited head.
 */
export async function verifyAuditChain(sql: Sql, options: { pageSize?: number } = {}): Promise<AuditChainVerification> {
  const pageSize = options.pageSize ?? PAGE_SIZE
  return (await sql.begin('isolation level repeatable read read only', async (tx) => {
    const heads = await tx<Array<{ sequence: string; hash: string }>>`select sequence, hash from audit_chain_head`
    const head = heads.length === 1 ? { sequence: Number(heads[0]!.sequence), hash: heads[0]!.hash } : null
    const [counted] = await tx<Array<{ unsequenced: number }>>`
      select count(*)::int as unsequenced from audit_log where sequence is null`
    const unsequenced = counted?.unsequenced ?? 0

    let entries = unsequenced
    let broken: { sequence: number; problem: string } | null = null
    const breakAt = (sequence: number, problem: string) => {
      if (!broken) broken = { sequence, problem }
    }
    let expected = 1
    let previousHash = GENESIS_HASH
    let last: { sequence: number; hash: string | null } | null = null
    for (;;) {
      const after: number = last?.sequence ?? 0
      const rows: ChainRow[] = await tx<ChainRow[]>`
        select sequence, id, action, occurred_at, actor_user_id, actor_email, operation_run_id, context, hash, previous_hash,
          date_trunc('milliseconds', occurred_at) <> occurred_at as finer_than_hashed
        from audit_log where sequence > ${after} order by sequence limit ${pageSize}`
      for (const row of rows) {
        entries += 1
        const sequence: number = Number(row.sequence)
        if (sequence !== expected) breakAt(expected, sequence > expected ? `entry ${expected} is missing` : `entry ${sequence} is out of order`)
        if (row.previous_hash !== previousHash) breakAt(sequence, `entry ${sequence} does not chain from the entry before it`)
        const recomputed = auditEntryHash(row.previous_hash ?? '', {
          sequence,
          id: row.id,
          action: row.action,
          occurredAt: row.occurred_at,
          actorUserId: row.actor_user_id,
          actorEmail: row.actor_email,
          operationRunId: row.operation_run_id,
          context: row.context,
        })
        // The hash holds the time to the millisecond, as every entry is written: a finer time was set by hand.
        if (row.hash !== recomputed || row.finer_than_hashed) breakAt(sequence, `entry ${sequence} was altered: its hash does not match its contents`)
        // Go on from what the row says, so that one broken entry is reported once, not as every later one.
        previousHash = row.hash ?? ''
        expected = sequence + 1
        last = { sequence, hash: row.hash }
      }
      if (rows.length < pageSize) break
    }

    const lastSequence = last?.sequence ?? 0
    const lastHash = last?.hash ?? GENESIS_HASH
    if (!head) breakAt(lastSequence, 'the chain head is missing')
    else if (head.sequence > lastSequence) breakAt(lastSequence + 1, `entry ${lastSequence + 1} is missing: the head is at ${head.sequence}`)
    else if (head.sequence < lastSequence) breakAt(head.sequence + 1, `entry ${head.sequence + 1} lies past the head (${head.sequence})`)
    else if (head.hash !== lastHash) breakAt(head.sequence, `the head's hash does not match entry ${head.sequence}`)
    if (unsequenced > 0) breakAt(lastSequence + 1, `${unsequenced} entries have no sequence (inserted by hand)`)

    const found = broken as { sequence: number; problem: string } | null
    return {
      ok: found === null,
      entries,
      headHash: head?.hash ?? null,
      firstBrokenSequence: found?.sequence ?? null,
      problem: found?.problem ?? null,
    }
  })) as AuditChainVerification
}
