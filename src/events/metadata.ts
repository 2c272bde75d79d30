import { z } from 'zod'

/** Who caused an event: an operator acting through a channel, or a component of the service itself. */
export const operatorInitiatorSchema = z.object({
  kind: z.literal('operator'),
  platformUserId: z.string().min(1),
  email: z.string().min(1),
  name: z.string(),
  isBreakGlass: z.boolean(),
  ip: z.string().nullable(),
  userAgent: z.string().nullable(),
})
export const systemInitiatorSchema = z.object({
  kind: z.literal('system'),
  component: z.enum(['dispatcher', 'tenant-worker', 'reconciler', 'auth', 'api', 'verifier', 'planner', 'rebuild-projections']),
})
/** A login attempt has no authenticated operator yet: it names the email that was tried. */
export const anonymousInitiatorSchema = z.object({
  kind: z.literal('anonymous'),
  email: z.string(),
  ip: z.string().nullable(),
  userAgent: z.string().nullable(),
})
export const initiatorSchema = z.discriminatedUnion('kind', [
  operatorInitiatorSchema,
  systemInitiatorSchema,
  anonymousInitiatorSchema,
])
export type Initiator = z.infer<typeof initiatorSchema>
export type OperatorInitiator = z.infer<typeof operatorInitiatorSchema>

export const eventMetadataSchema = z.object({
  eventId: z.uuid(),
  /** The run (or the preflight / login) this event belongs to. */
  correlationId: z.string().min(1),
  /** The event or request that caused this one; null for the first event of a causal chain. */
  causationId: z.string().min(1).nullable(),
  initiator: initiatorSchema,
  occurredAt: z.iso.datetime({ offset: true }),
})
export type EventMetadata = z.infer<typeof eventMetadataSchema>
