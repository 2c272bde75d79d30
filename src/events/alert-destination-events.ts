import { z } from 'zod'

/**
 * SPEC §12 "Alert delivery": one stream per alert destination (`alertDestination-<id>`). Never the secret:
 * it lives in `alert_destinations` only; the events say which destination was added or removed, where it
 * points (without any credentials of its URL), by whom (the initiator) and when.
 */
const destinationId = z.string().min(1).max(64)
const at = z.iso.datetime({ offset: true })

/** `webhook`: an operator's receiver; `console`: the console's own inbox (an endpoint of the service). */
export const alertDestinationKindSchema = z.enum(['webhook', 'console'])
export type AlertDestinationKind = z.infer<typeof alertDestinationKindSchema>

export const alertDestinationAddedV1 = z
  .object({
    destinationId,
    workspaceId: z.number().int(),
    kind: alertDestinationKindSchema,
    /** Absolute for a webhook, the service's own path for the console inbox; user info removed. */
    url: z.string().min(1).max(2048),
    addedAt: at,
  })
  .strict()

export const alertDestinationRemovedV1 = z.object({ destinationId, removedAt: at }).strict()

/** The stream of one destination (kept here, beside its events, rather than in the shared streams list). */
export function alertDestinationStream(destinationId: string): string {
  return `alertDestination-${destinationId}`
}
