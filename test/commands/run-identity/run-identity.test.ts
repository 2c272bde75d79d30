import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { ActiveRunExistsError } from '../../../src/commands/errors.js'
import {
  claimIsActive,
  decideRunIdentity,
  runIdentityHash,
  UNCONFIRMED_CLAIM_GRACE_MS,
  type ClaimCommand,
  type ClaimedRunStatus,
} from '../../../src/commands/run-identity/run-identity.js'
import type { EventData } from '../../../src/events/index.js'
import { thrown } from '../run/run-fixtures.js'

const identity = { workspaceId: 21, runbookKey: 'findings.lifecycle.backfill', scope: 'single_tenant' as const, targetTenantId: 101, parameters: {} }

describe('runIdentityHash', () => {
  it('is a stable sha-256 hex of (workspace, runbook key, scope, tenant)', () => {
    const hash = runIdentityHash(identity)
    expect(hash).toMatch(/^[0-9a-f]{64}$/)
    expect(runIdentityHash({ ...identity })).toBe(hash)
    // the property order of the input does not matter
    const { targetTenantId, scope, runbookKey, workspaceId, parameters } = identity
    expect(runIdentityHash({ parameters, targetTenantId, scope, runbookKey, workspaceId })).toBe(hash)
  })

  it('differs when any part differs', () => {
    const variants = [
      identity,
      { ...identity, workspaceId: 22 },
      { ...identity, runbookKey: 'findings.other' },
      { ...identity, scope: 'all_tenants' as const, targetTenantId: null },
      { ...identity, scope: 'all_tenants' as const },
      { ...identity, targetTenantId: 102 },
      { ...identity, targetTenantId: null },
      // parts that would collide if they were simply concatenated
      { ...identity, workspaceId: 2, targetTenantId: 1101 },
      { ...identity, workspaceId: 210, targetTenantId: 1 },
      { ...identity, parameters: { slaDays: { critical: 1, high: 7, medium: 30, low: 90 } } },
      { ...identity, parameters: { slaDays: { critical: 2, high: 7, medium: 30, low: 90 } } },
    ]
    const hashes = variants.map((variant) => runIdentityHash(variant))
    expect(new Set(hashes).size).toBe(variants.length)
  })

  it('hashes parameters canonically: the same values in another key order are the same identity', () => {
    const one = { ...identity, parameters: { slaDays: { critical: 1, high: 7 }, note: 'x' } }
    const reordered = { ...identity, parameters: { note: 'x', slaDays: { high: 7, critical: 1 } } }
    expect(runIdentityHash(reordered)).toBe(runIdentityHash(one))
  })

  it('hashes a run without parameters exactly as the previous release did (a run started before the upgrade keeps its identity)', () => {
    // sha-256 of the JSON array [workspace, runbook key, scope, target tenant]: the release-before-parameters identity.
    const previousRelease = createHash('sha256').update(JSON.stringify([21, 'findings.lifecycle.backfill', 'single_tenant', 101])).digest('hex')
    expect(runIdentityHash(identity)).toBe(previousRelease)
  })
})

const CLAIMED_AT = '2025-01-06T09:00:00.000Z'
const claim: EventData<'RunIdentityClaimed'> = { runIdentityHash: 'b'.repeat(64), runId: 'run-A', claimedAt: CLAIMED_AT }
const after = (ms: number) => new Date(Date.parse(CLAIMED_AT) + ms)

describe('claimIsActive', () => {
  it('an identity is held while its run is queued or running, however old the claim', () => {
    for (const status of ['queued', 'running'] as const) {
      expect(claimIsActive(claim, status, after(0))).toBe(true)
      expect(claimIsActive(claim, status, after(7 * 24 * 3_600_000))).toBe(true)
    }
  })

  it('is released when the run completed, however fresh the claim', () => {
    expect(claimIsActive(claim, 'completed', after(0))).toBe(false)
  })

  it('an unconfirmed claim (no run stream yet) holds for a 30 s grace only', () => {
    expect(UNCONFIRMED_CLAIM_GRACE_MS).toBe(30_000)
    expect(claimIsActive(claim, 'none', after(0))).toBe(true)
    expect(claimIsActive(claim, 'none', after(29_999))).toBe(true)
    expect(claimIsActive(claim, 'none', after(30_000))).toBe(false)
    expect(claimIsActive(claim, 'none', after(31_000))).toBe(false)
  })
})

describe('decideRunIdentity', () => {
  const command = (claimedRunStatus: ClaimedRunStatus, atMs: number): ClaimCommand => ({
    type: 'ClaimRunIdentity',
    runIdentityHash: claim.runIdentityHash,
    runId: 'run-B',
    at: after(atMs).toISOString(),
    claimedRunStatus,
  })
  const claimed = (atMs: number) => [
    { type: 'RunIdentityClaimed', data: { runIdentityHash: claim.runIdentityHash, runId: 'run-B', claimedAt: after(atMs).toISOString() } },
  ]

  it('claims a fresh identity', () => {
    expect(decideRunIdentity(command('none', 5), { lastClaim: null })).toEqual(claimed(5))
  })

  it('refuses while the claimed run is active, carrying that run id', () => {
    for (const [status, atMs] of [['queued', 60_000], ['running', 60_000], ['none', 10_000]] as const) {
      const error = thrown(() => decideRunIdentity(command(status, atMs), { lastClaim: claim }))
      expect(error).toBeInstanceOf(ActiveRunExistsError)
      expect((error as ActiveRunExistsError).runId).toBe('run-A')
    }
  })

  it('claims again once the previous run completed or its unconfirmed claim went stale', () => {
    expect(decideRunIdentity(command('completed', 1_000), { lastClaim: claim })).toEqual(claimed(1_000))
    expect(decideRunIdentity(command('none', 31_000), { lastClaim: claim })).toEqual(claimed(31_000))
  })
})
