import type { Sql } from '../db/database.js'
import { readModelProjectorName } from '../projections/read-model-projections.js'
import type { EventStore } from '../store/event-store.js'

export interface ProjectionLag {
  projection: string
  /** Events in the event store after the projection's checkpoint. */
  events: number
  /** How long the oldest of them has waited (0 when caught up): how far the read side is behind the head. */
  seconds: number
  /** True when `events` stopped counting at the cap (an event store outside the database). */
  capped: boolean
}

/** Beyond this many events an event store outside the database (EventStoreDB) is not read further. */
export const EXTERNAL_LAG_CAP = 1_000

/**
 * The read-model projector's lag behind the event store's head, from its checkpoint (`projection_checkpoints`)
 * and the events after it: in SQL when the events live in the same database (a count over the primary key),
 * otherwise read from the store, at most `EXTERNAL_LAG_CAP` of them.
 */
export async function readProjectionLag(deps: { sql: Sql; store: EventStore; storeInDatabase: boolean }): Promise<ProjectionLag> {
  const projection = readModelProjectorName
  const [checkpoint] = await deps.sql<Array<{ position: string | null }>>`
    select position from projection_checkpoints where name = ${projection}`
  const position = checkpoint?.position ?? null
  if (deps.storeInDatabase) {
    // Positions of this store are "<transaction id>:<global position>"; order is the global position's.
    const after = position === null ? '0' : (position.split(':')[1] ?? '0')
    const [row] = await deps.sql<Array<{ events: string; seconds: number | null }>>`
      select (select count(*) from event_store_events where global_position > ${after}::bigint)::text as events,
             (select greatest(extract(epoch from now() - recorded_at), 0)::float8
                from event_store_events where global_position > ${after}::bigint order by global_position limit 1) as seconds`
    return { projection, events: Number(row?.events ?? 0), seconds: row?.seconds ?? 0, capped: false }
  }
  const behind = await deps.store.readAll({ after: position, maxCount: EXTERNAL_LAG_CAP })
  const oldest = behind[0]
  return {
    projection,
    events: behind.length,
    seconds: oldest ? Math.max((Date.now() - oldest.recordedAt.getTime()) / 1000, 0) : 0,
    capped: behind.length >= EXTERNAL_LAG_CAP,
  }
}
