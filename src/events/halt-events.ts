import { z } from 'zod'
import { runReasonSchema } from './run-events.js'

/** SPEC §9 "Halt": the deployment-wide kill switch, on its own stream; the actor is the event's initiator. */
export const haltEngagedV1 = z
  .object({ reason: runReasonSchema, engagedAt: z.iso.datetime({ offset: true }) })
  .strict()

export const haltLiftedV1 = z
  .object({ reason: runReasonSchema, liftedAt: z.iso.datetime({ offset: true }) })
  .strict()
