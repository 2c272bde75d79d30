import type { z } from 'zod'
import { eventMetadataSchema, type EventMetadata } from './metadata.js'
import { findUnsafeText } from './safe-text.js'
import {
  approvalPolicySetV1,
  runApprovedV1,
  runRejectedV1,
  runCancelledV1,
  runCompletedV1,
  runCompletedV2,
  runIdentityClaimedV1,
  runLimitsChangedV1,
  runPausedV1,
  runRequestedV1,
  runRequestedV2,
  runRequestedV3,
  runRequestedV4,
  runRequestedV5,
  runPlannedV1,
  runRevertedV1,
  runRevertedV2,
  runResumedV1,
  runRetriedV1,
  runRetriedV2,
  runVerifiedV1,
  runStartedV1,
  tenantJobsRedispatchedV1,
  tenantProcessedV1,
  tenantProcessedV2,
} from './run-events.js'
import { haltEngagedV1, haltLiftedV1 } from './halt-events.js'
import { alertDestinationAddedV1, alertDestinationRemovedV1 } from './alert-destination-events.js'
import { readModelsRebuiltV1 } from './read-model-events.js'
import {
  capabilitiesIntroducedV1,
  operatorCapabilitiesChangedV1,
  operatorCreatedV1,
  operatorDisabledV1,
  operatorEnabledV1,
  operatorPasswordChangedV1,
  operatorUpdatedV1,
} from './operator-admin-events.js'
import { loginFailedV1, loginRateLimitedV1, loginSucceededV1, preflightRecordedV1, preflightRecordedV2 } from './operator-events.js'

/**
 * Every event type the service writes, with the schema of each version. A new version of a type adds an
 * entry here and an upcaster from the previous version in `upcasters`; it never edits an old schema:
 * stored events are immutable.
 */
export const eventSchemas = {
  RunRequested: { 1: runRequestedV1, 2: runRequestedV2, 3: runRequestedV3, 4: runRequestedV4, 5: runRequestedV5 },
  RunPlanned: { 1: runPlannedV1 },
  RunStarted: { 1: runStartedV1 },
  TenantProcessed: { 1: tenantProcessedV1, 2: tenantProcessedV2 },
  TenantJobsRedispatched: { 1: tenantJobsRedispatchedV1 },
  RunPaused: { 1: runPausedV1 },
  RunResumed: { 1: runResumedV1 },
  RunCancelled: { 1: runCancelledV1 },
  RunLimitsChanged: { 1: runLimitsChangedV1 },
  RunRetried: { 1: runRetriedV1, 2: runRetriedV2 },
  RunReverted: { 1: runRevertedV1, 2: runRevertedV2 },
  RunApproved: { 1: runApprovedV1 },
  RunRejected: { 1: runRejectedV1 },
  ApprovalPolicySet: { 1: approvalPolicySetV1 },
  RunCompleted: { 1: runCompletedV1, 2: runCompletedV2 },
  RunVerified: { 1: runVerifiedV1 },
  HaltEngaged: { 1: haltEngagedV1 },
  HaltLifted: { 1: haltLiftedV1 },
  AlertDestinationAdded: { 1: alertDestinationAddedV1 },
  AlertDestinationRemoved: { 1: alertDestinationRemovedV1 },
  ReadModelsRebuilt: { 1: readModelsRebuiltV1 },
  OperatorCreated: { 1: operatorCreatedV1 },
  OperatorUpdated: { 1: operatorUpdatedV1 },
  OperatorCapabilitiesChanged: { 1: operatorCapabilitiesChangedV1 },
  OperatorDisabled: { 1: operatorDisabledV1 },
  OperatorEnabled: { 1: operatorEnabledV1 },
  OperatorPasswordChanged: { 1: operatorPasswordChangedV1 },
  CapabilitiesIntroduced: { 1: capabilitiesIntroducedV1 },
  RunIdentityClaimed: { 1: runIdentityClaimedV1 },
  PreflightRecorded: { 1: preflightRecordedV1, 2: preflightRecordedV2 },
  LoginSucceeded: { 1: loginSucceededV1 },
  LoginFailed: { 1: loginFailedV1 },
  LoginRateLimited: { 1: loginRateLimitedV1 },
} as const

type Schemas = typeof eventSchemas
export type EventType = keyof Schemas
type Versions<T extends EventType> = keyof Schemas[T] & number
/** The highest of a type's versions (types have at most five versions here; extend when one gets a sixth). */
type LatestVersion<T extends EventType> = 5 extends Versions<T> ? 5 : 4 extends Versions<T> ? 4 : 3 extends Versions<T> ? 3 : 2 extends Versions<T> ? 2 : 1

/** The current shape of each event type, as application code sees it. */
export type EventData<T extends EventType> = z.infer<Schemas[T][LatestVersion<T> & keyof Schemas[T]] & z.ZodType>

/**
 * Upcasters: `upcasters[type][v]` turns the data of version v into version v + 1. Pure, and fixed once
 * written (like the schemas): a stored event reads the same forever.
 */
export const upcasters: { [T in EventType]?: Record<number, (data: any) => unknown> } = {
  RunRequested: {
    // Runs requested before limits existed ran with every worker slot and no error budget; 1000 is the
    // ceiling a limit may have, i.e. no limit beyond the workers themselves.
    1: (data) => ({ ...data, limits: { maxConcurrency: 1000, maxFailures: null }, retryOf: null, approvalRequired: false }),
    // Before runbooks had parameters every run ran with none: the empty set is exactly what it did.
    2: (data) => ({ ...data, parameters: {}, pinnedPreflightId: null }),
    // Canaries and reverts came with version 4: an earlier run had neither.
    3: (data) => ({ ...data, canary: null, revertOf: null }),
    // Version 5 only lets the preflight wait for a background plan: an earlier run always had it.
    4: (data) => data,
  },
  // Version 2 records the control's reason; an earlier event was appended without it (the retry or revert
  // run's own RunRequested has it).
  RunRetried: { 1: (data) => ({ ...data, reason: null }) },
  RunReverted: { 1: (data) => ({ ...data, reason: null }) },
  PreflightRecorded: {
    // Likewise: a preview recorded before parameters existed counted with none; it did not look for
    // tenants that would fail, so it names none.
    1: (data) => ({ ...data, parameters: {}, wouldFailTenants: [] }),
  },
  TenantProcessed: {
    // The repair's times were not recorded before version 2.
    1: (data) => ({ ...data, startedAt: null, completedAt: null }),
  },
  RunCompleted: {
    // Version 2 only added the outcomes `cancelled` and `rejected`: a version 1 event reads as it is.
    1: (data) => data,
  },
}

export type DomainEvent = { [T in EventType]: { type: T; data: EventData<T> } }[EventType]
export type EventOf<T extends EventType> = Extract<DomainEvent, { type: T }>

export const currentVersion: { [T in EventType]: number } = Object.fromEntries(
  Object.entries(eventSchemas).map(([type, versions]) => [type, Math.max(...Object.keys(versions).map(Number))]),
) as { [T in EventType]: number }

export class InvalidEventError extends Error {
  constructor(
    readonly eventType: string,
    readonly version: number,
    readonly issues: string,
  ) {
    super(`invalid ${eventType} v${version}: ${issues}`)
    this.name = 'InvalidEventError'
  }
}

export function isEventType(type: string): type is EventType {
  return Object.prototype.hasOwnProperty.call(eventSchemas, type)
}

function schemaFor(type: string, version: number): z.ZodType {
  if (!isEventType(type)) throw new InvalidEventError(type, version, 'unknown event type')
  const schema = (eventSchemas[type] as Record<number, z.ZodType>)[version]
  if (!schema) throw new InvalidEventError(type, version, 'unknown schema version')
  return schema
}

function formatIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')
}

/** Validates an event before it is written; returns the payload as it will be stored. */
export function encodeEvent(event: DomainEvent, metadata: EventMetadata) {
  const version = currentVersion[event.type]
  const parsed = schemaFor(event.type, version).safeParse(event.data)
  if (!parsed.success) throw new InvalidEventError(event.type, version, formatIssues(parsed.error))
  const meta = eventMetadataSchema.safeParse(metadata)
  if (!meta.success) throw new InvalidEventError(event.type, version, `metadata ${formatIssues(meta.error)}`)
  const unsafe = findUnsafeText({ data: parsed.data, metadata: meta.data })
  if (unsafe.length > 0) {
    throw new InvalidEventError(event.type, version, `text PostgreSQL cannot store (NUL or lone surrogate) at ${unsafe.join(', ')}`)
  }
  return { type: event.type, version, data: parsed.data as unknown, metadata: meta.data }
}

/** Validates an event read from the store (never trust what is on disk) and upcasts it to the current shape. */
export function decodeEvent(type: string, version: number, data: unknown, metadata: unknown): {
  event: DomainEvent
  metadata: EventMetadata
} {
  const parsed = schemaFor(type, version).safeParse(data)
  if (!parsed.success) throw new InvalidEventError(type, version, formatIssues(parsed.error))
  const meta = eventMetadataSchema.safeParse(metadata)
  if (!meta.success) throw new InvalidEventError(type, version, `metadata ${formatIssues(meta.error)}`)
  return { event: { type, data: upcast(type as EventType, version, parsed.data) } as DomainEvent, metadata: meta.data }
}

/** Brings data of `version` to the current version, one step at a time, checking each step's result. */
export function upcast(type: EventType, version: number, data: unknown): unknown {
  let current = data
  for (let v = version; v < currentVersion[type]; v++) {
    const step = upcasters[type]?.[v]
    if (!step) throw new InvalidEventError(type, v, `no upcaster from version ${v}`)
    const next = schemaFor(type, v + 1).safeParse(step(current))
    if (!next.success) throw new InvalidEventError(type, v + 1, `upcast from v${v}: ${formatIssues(next.error)}`)
    current = next.data
  }
  return current
}
