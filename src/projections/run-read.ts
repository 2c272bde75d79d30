import type { Sql } from '../db/database.js'
import { streams } from '../events/streams.js'
import type { EventLog } from '../store/event-log.js'
import { waitForRun, type RunDetail } from './queries.js'
import { runResourceAt } from './replayed-run.js'

/**
 * A run the event store has but the read model does not (yet): waited for, briefly and boundedly, as a client
 * that just started it expects (SPEC §7), and past the wait — the projector stopped or far behind — folded
 * from its own stream, as `GET /api/runs/{id}/state` answers it (`projected` false). A run the service
 * accepted is never "unknown". Null only when its stream is empty (no such run). The whole stream is read
 * only past the wait.
 */
export async function runNotYetProjected(
  deps: { sql: Sql; log: EventLog },
  id: string,
  timeoutMs: number,
): Promise<{ run: RunDetail | null; projected: boolean } | null> {
  if ((await deps.log.read(streams.run(id), { maxCount: 1 })).events.length === 0) return null
  const projected = await waitForRun(deps.sql, id, { timeoutMs })
  return projected ? { run: projected, projected: true } : { run: runResourceAt((await deps.log.read(streams.run(id))).events), projected: false }
}
